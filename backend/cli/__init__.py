"""The `ner-backend` command: train, evaluate, predict, serve, run a training worker, or all of it (up).

One module per group of commands, each adding its parsers (`register`) with the function that runs
them; this module parses, sets the OpenMP waiting policy, and turns errors a user can fix into one line."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from ..config import Settings
from ..ner.checkpoint import ModelFolderError
from ..ner.labels import LabelError
from ..ner.readers import CorpusError
from . import models, service, simulate, versions, worker
from .common import CliError

GROUPS = (models, service, worker, simulate, versions)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ner-backend", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.register(sub)
    return parser


# OpenMP threads that find no work spin before they sleep (libgomp reads how long once, when torch
# loads, so this is set before any command imports torch; a value in the environment wins).
# Spinning next to another busy process takes the cores its threads need: a 300-annotation training
# beside a saturating /predict load took 5.2x its time alone with 20,000 spins and 1.3x with
# PASSIVE (no spinning). Alone, PASSIVE costs the training 10 % and batched /predict 15 %, so the
# server spins briefly and everything else sleeps at once (docs/benchmarks.md, "The loop").
OMP_WAITING = {"serve": {"GOMP_SPINCOUNT": "20000"}}
OMP_WAITING_DEFAULT = {"OMP_WAIT_POLICY": "PASSIVE"}


def _omp_waiting(command: str) -> None:
    if command == "up" or "OMP_WAIT_POLICY" in os.environ or "GOMP_SPINCOUNT" in os.environ:
        return  # up's parts choose their own
    os.environ.update(OMP_WAITING.get(command, OMP_WAITING_DEFAULT))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _omp_waiting(args.command)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings.from_env()
        return args.run(args, settings)
    except (CliError, CorpusError, LabelError, ModelFolderError, ValueError, OSError) as exc:
        print(f"ner-backend {args.command}: error: {exc}", file=sys.stderr)
        return 1
