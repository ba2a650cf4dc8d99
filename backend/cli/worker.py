"""`worker`: the RQ worker that trains projects, pushes predictions and orders tasks (worker.main)."""

from __future__ import annotations

import argparse

from ..config import Settings


def register(sub) -> None:
    w = sub.add_parser("worker", help="run an RQ worker that trains projects from the webhook queue")
    w.add_argument("--burst", action="store_true", help="exit once the queue is empty")
    w.add_argument("--name", help="worker name (default: RQ's random one)")
    w.set_defaults(run=cmd_worker)


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from worker.main import run

    run(settings, args.name, args.burst)
    return 0
