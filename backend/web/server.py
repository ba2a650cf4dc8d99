"""Serve the Flask app with gunicorn: N worker processes x M threads, models loaded after fork."""

from __future__ import annotations

import os
import shutil
import tempfile

from gunicorn.app.base import BaseApplication

from ..config import Settings


def _torch_threads(threads: int):
    def post_fork(server, worker) -> None:
        # TORCH_THREADS, else an equal share of the cores per worker: more threads than cores thrash.
        from ..ner.device import use_threads

        use_threads(threads, share=server.cfg.workers)
        # A request's texts are tokenized in one call; the tokenizer's own thread pool only woke
        # beside ONNX Runtime's: without it the int8 engine made 719 texts/s, with it 685 (32 GMB
        # sentences a request, Intel AMX, 2 cores).
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    return post_fork


def _child_exit(server, worker) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


class GunicornServer(BaseApplication):
    """gunicorn configured from Settings. The app (and any model) is created in each worker after
    the fork, never in the master: CUDA cannot be initialised before a fork. With `upstream`, the
    front (`front.Front`): one process that answers webhooks and forwards the rest there."""

    def __init__(self, settings: Settings, upstream: str | None = None) -> None:
        self.settings = settings
        self.upstream = upstream
        super().__init__()

    def load_config(self) -> None:
        s = self.settings
        options = {
            "bind": f"{s.host}:{s.port}",
            # The front: one process (webhooks only write to Redis), a thread for every request
            # the pool behind it may hold, so that a webhook never waits for one.
            "workers": 1 if self.upstream else s.workers,
            "threads": s.front_threads if self.upstream else s.threads,
            "worker_class": "gthread",
            "timeout": 120,  # a 10k-task batch on a CPU takes a while; LS itself waits 100 s
            "graceful_timeout": 30,
            "accesslog": "-",
            # gunicorn's default format logs the basic-auth user name (%(u)s), which is where a
            # mistyped password lands: never log it. %(M)s: milliseconds taken.
            "access_log_format": '%(h)s - - %(t)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"',
            "post_fork": (lambda server, worker: None) if self.upstream else _torch_threads(s.torch_threads),
            "child_exit": _child_exit,
        }
        if "control_socket_disable" in self.cfg.settings:
            # gunicorn >= 25.1 opens a management socket (~/.gunicorn/gunicorn.ctl, one path for
            # every instance on the machine) that can resize or stop the server: we never use it.
            options["control_socket_disable"] = True
        for key, value in options.items():
            self.cfg.set(key, value)

    def load(self):
        from .app import create_app, start_serving

        if self.upstream:
            from .front import Front

            return Front(create_app(self.settings), self.upstream, self.settings.max_request_bytes)  # loads no model
        return start_serving(create_app(self.settings))


def serve(settings: Settings, upstream: str | None = None) -> None:
    """Run until stopped (the front of `upstream`, when given). Metrics from all workers are pooled
    through a shared folder; one this call made itself is removed when the server stops."""
    own_folder = None
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        own_folder = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="ner-metrics-")
    master = os.getpid()
    try:
        GunicornServer(settings, upstream).run()
    finally:
        # gunicorn's workers leave through here too (SystemExit after the fork): only the master,
        # after its last worker, may remove the folder.
        if own_folder and os.getpid() == master:
            shutil.rmtree(own_folder, ignore_errors=True)
