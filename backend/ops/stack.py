"""`ner-backend up`: Redis, the backend (the front and the prediction pool behind it) and one training
worker, supervised in the foreground."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..config import Settings
from .processes import (
    Child,
    StackError,
    command,
    descendants,
    free_port,
    kill_all,
    kill_tree,
    redis_password,
    start_redis,
    wait_for_health,
    wait_for_redis,
)

log = logging.getLogger(__name__)
EMBEDDED_REDIS_PORT = 6390  # not 6379: a Label Studio on the same machine probes 6379 and uses it
WORKER = "worker"  # the training worker's part


# Serving and training on one machine: serving yields the CPU to a running training. Next to a
# saturating one-task /predict load, a 300-annotation training took 1.69x its time alone at equal
# niceness and 1.26x with serving at 5, while /predict's p50 stayed 55 ms (docs/benchmarks.md).
ONE_NODE_ENV = {"SERVE_NICE": "5"}


def _stop(children: list[Child]) -> None:
    """Stop in reverse order of start (worker, front, backend, then Redis, which flushes its AOF);
    a worker in the middle of a job at once, with the job. Further Ctrl-C or SIGTERM are ignored
    meanwhile: a half-done shutdown would orphan parts."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # what runs below the parts now, killed once their wait is over: a work horse that outlived its
    # worker would be orphaned (the suite's stray guard once found a `worker` process still running
    # after the tests of `up` and run.sh had stopped them)
    below = [pid for child in children if child.proc.poll() is None for pid in descendants(child.proc.pid)]
    for child in reversed(children):
        if child.proc.poll() is None:
            child.proc.terminate()
    for child in reversed(children):
        if child.name == WORKER and child.proc.poll() is None and descendants(child.proc.pid):
            # a job runs in its work horse, and RQ's warm shutdown would wait for its end: 42 s for
            # a training on the README's 12 tasks (2-core Zen 4), minutes on hundreds, past the 30 s
            # below. Cut short now, as it would be then: the next start's rescue trains the project
            # again (`ProjectJobs.rescue`, once its lease has lapsed; 8 s after that restart)
            log.warning("the worker was running a job: stopped now; a training runs again at the next start")
            kill_tree(child.proc)
            continue
        try:
            child.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            # with every process below it: a worker's work horse (a forked job, e.g. the encoder's
            # adaptation) outlived a SIGKILL of the worker alone and kept training, orphaned
            log.warning("%s did not stop in 30 s; killing it and its processes", child.name)
            kill_tree(child.proc)
    kill_all(below)  # their wait is over: nothing of the parts may outlive `up`


def up(settings: Settings, redis_port: int = EMBEDDED_REDIS_PORT, label_studio_port: int | None = None) -> int:
    """Run until Ctrl-C (or SIGTERM) or until one part dies; then stop every part. A REDIS_URL
    in the environment means an external Redis; otherwise an embedded one runs on `redis_port`.
    With `label_studio_port`, a local Label Studio with a ready demo project runs too."""
    data_dir = Path(settings.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, DATA_DIR=str(data_dir), MODEL_DIR=settings.model_dir, PYTHONUNBUFFERED="1")
    # one folder for the front's and the pool's metrics (made here unless given, and removed after)
    own_metrics = None if "PROMETHEUS_MULTIPROC_DIR" in env else tempfile.mkdtemp(prefix="ner-metrics-")
    env.setdefault("PROMETHEUS_MULTIPROC_DIR", own_metrics)
    children: list[Child] = []
    ls = _LocalLabelStudio(data_dir, label_studio_port, env) if label_studio_port else None

    def terminate(signum, frame):  # SIGTERM behaves like Ctrl-C
        raise KeyboardInterrupt

    # Our own handlers for both: a job started in the background (`nohup ... &`) inherits SIGINT
    # ignored, and Python then never raises KeyboardInterrupt, so `up` would not stop on Ctrl-C.
    signal.signal(signal.SIGINT, terminate)
    signal.signal(signal.SIGTERM, terminate)
    try:
        if "REDIS_URL" not in os.environ:
            password = redis_password(data_dir)
            env["REDIS_URL"] = f"redis://:{password}@127.0.0.1:{redis_port}/0"
            children.append(start_redis(data_dir, redis_port, password))
            wait_for_redis(env["REDIS_URL"], children[-1].proc)
        if ls is not None:
            children.append(ls.start())
        # Own process groups: a terminal's Ctrl-C reaches only this supervisor, which stops the parts
        # in order. The same session as this supervisor: where the kernel groups CPU time by session
        # (autogroup), separate sessions would each get an equal share whatever their niceness.
        # The prediction pool on a loopback port of its own, behind the front on the public port:
        # the front answers webhooks in its own process at full priority, whatever /predict's load.
        pool_url = f"http://127.0.0.1:{free_port()}"
        pool_env = {**ONE_NODE_ENV, **env, "HOST": "127.0.0.1", "PORT": pool_url.rsplit(":", 1)[1]}
        pool = Child("backend", subprocess.Popen(command("serve"), env=pool_env, process_group=0))
        children.append(pool)
        front = Child("front", subprocess.Popen(command("front", "--upstream", pool_url), env=env, process_group=0))
        children.append(front)
        children.append(Child(WORKER, subprocess.Popen(command("worker"), env=env, process_group=0)))
        url = f"http://{settings.host}:{settings.port}"
        wait_for_health(pool_url, pool.proc, "the backend")
        wait_for_health(url, front.proc, "the front")
        _banner(url, env["REDIS_URL"], settings)
        if ls is not None:
            ls.ready(url)
        while True:
            for child in children:
                if child.proc.poll() is not None:
                    raise StackError(f"{child.name} exited with status {child.proc.returncode}")
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nstopping ...", file=sys.stderr)
        return 0
    except (StackError, subprocess.CalledProcessError) as exc:
        print(f"ner-backend up: error: {exc}", file=sys.stderr)
        return 1
    finally:
        _stop(children)
        if own_metrics:
            shutil.rmtree(own_metrics, ignore_errors=True)


def _banner(url: str, redis_url: str, settings: Settings) -> None:
    where = redis_url.split("@")[-1]
    print(
        f"\nner-backend is up: {url}  (status page {url}/)\n"
        f"  Label Studio: Settings -> Model -> Connect model -> URL {url}\n"
        f"  (LS 1.23 refuses loopback addresses unless told otherwise: see the README)\n"
        f"  Redis {where}; models in {settings.model_dir}\n"
        "  Ctrl-C stops everything.\n",
        file=sys.stderr, flush=True,
    )


class _LocalLabelStudio:
    """Label Studio for the demo: venv under DATA_DIR/labelstudio (or LS_VENV), credentials made
    once, and the backend given its URL and token so that "Start training" can re-sync."""

    def __init__(self, data_dir: Path, port: int, env: dict[str, str]) -> None:
        from . import lsdemo

        self.lsdemo = lsdemo
        self.folder = (data_dir / "labelstudio").resolve()
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.creds = lsdemo.credentials(self.folder)
        env.setdefault("LABEL_STUDIO_URL", self.url)
        env.setdefault("LABEL_STUDIO_API_KEY", self.creds["token"])

    def start(self) -> Child:
        venv = self.lsdemo.ensure_venv(Path(os.environ.get("LS_VENV") or self.folder / "venv"))
        log_file = open(self.folder / "labelstudio.log", "ab")
        self.proc = subprocess.Popen(
            self.lsdemo.command(venv, self.port), cwd=self.folder,
            env=self.lsdemo.ls_environment(self.folder, self.creds["password"], self.creds["token"]),
            stdout=log_file, stderr=subprocess.STDOUT,
            start_new_session=True)
        return Child("label-studio", self.proc)

    def ready(self, backend_url: str) -> None:
        wait_for_health(self.url, self.proc, "Label Studio", timeout=300)  # first start migrates: ~40 s
        texts = json.loads((Path(__file__).resolve().parents[2] / "examples" / "demo_tasks.json").read_text())
        project = self.lsdemo.ready_project(self.url, self.creds["token"], backend_url, texts)
        # The password goes to no console or log: it stays in the owner-only credentials file.
        print(f"Label Studio is up: {self.url}/projects/{project}  login {self.lsdemo.USERNAME}, password in "
              f"{self.folder / 'credentials.json'}\n", file=sys.stderr, flush=True)
