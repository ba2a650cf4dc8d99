"""The service: `serve` (the prediction pool), `front` (webhooks, the rest forwarded) and `up` (all of it)."""

from __future__ import annotations

import argparse
import os
from dataclasses import replace

from ..config import Settings


def register(sub) -> None:
    sv = sub.add_parser("serve", help="run the Label Studio ML backend (gunicorn)")
    _bind_args(sv)
    sv.add_argument("--workers", type=int, help="worker processes (default WORKERS, else 1)")
    sv.add_argument("--threads", type=int, help="threads per worker (default THREADS, else 4)")
    sv.set_defaults(run=cmd_serve)

    f = sub.add_parser("front", help="answer /webhook in this process and forward every other request to a "
                                      "prediction pool (`serve`): what `up` runs on the public port")
    f.add_argument("--upstream", required=True, help="the prediction pool's URL, http://HOST:PORT")
    _bind_args(f)
    f.set_defaults(run=cmd_front)

    u = sub.add_parser("up", help="run Redis (embedded unless REDIS_URL is set), the backend and a worker")
    u.add_argument("--port", type=int, help="backend port (default PORT, else 9090)")
    u.add_argument("--redis-port", type=int, default=6390, help="port of the embedded Redis (default 6390)")
    u.add_argument("--label-studio", action="store_true",
                   help="also run a local Label Studio with a ready demo project (installed on first use)")
    u.add_argument("--label-studio-port", type=int, default=8080)
    u.set_defaults(run=cmd_up)


def _bind_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", help="bind address (default HOST, else 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default PORT, else 9090)")


def _gunicorn(args: argparse.Namespace, settings: Settings, options: tuple[str, ...], upstream: str | None = None) -> int:
    """gunicorn on `settings`, the command line's `options` given winning over the environment."""
    from ..web.server import serve

    serve(replace(settings, **{k: getattr(args, k) for k in options if getattr(args, k)}), upstream=upstream)
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    if settings.serve_nice:
        os.nice(settings.serve_nice)  # before the fork: every gunicorn worker inherits it
    return _gunicorn(args, settings, ("host", "port", "workers", "threads"))


def cmd_front(args: argparse.Namespace, settings: Settings) -> int:
    """Webhooks in a process of their own, at the niceness it was started with; the rest forwarded."""
    return _gunicorn(args, settings, ("host", "port"), upstream=args.upstream)


def cmd_up(args: argparse.Namespace, settings: Settings) -> int:
    from ..ops.stack import up

    if args.port:
        os.environ["PORT"] = str(args.port)  # the backend child reads it
        settings = replace(settings, port=args.port)
    return up(settings, args.redis_port, args.label_studio_port if args.label_studio else None)
