"""`simulate`: replay a gold corpus as annotators would, and measure what they get."""

from __future__ import annotations

import argparse
import json
import logging
import time

from ..config import Settings
from ..ner.readers import FORMATS, read_corpus
from .common import CliError, int_list


def register(sub) -> None:
    sm = sub.add_parser("simulate", help="replay a gold corpus as annotators would; measure what they get")
    sm.add_argument("--pool", required=True, help="gold corpus the simulated annotators label, task by task")
    sm.add_argument("--test", required=True, help="gold corpus every round's served model is scored on")
    sm.add_argument("--format", choices=FORMATS, help="format of both files (default: inferred per file)")
    sm.add_argument("--limit-pool", type=int, help="use only the pool's first N sentences")
    sm.add_argument("--limit-test", type=int, help="use only the test set's first N sentences")
    sm.add_argument("--rounds", default="50,100,200,500,1000",
                    help="annotated tasks after each round, increasing (default 50,100,200,500,1000)")
    sm.add_argument("--strategy", default="random", help="task order, or several comma-separated (default random)")
    sm.add_argument("--seed", default="0", help="seed, or several comma-separated (default 0)")
    sm.add_argument("--json", action="store_true", help="print one JSON object per round on stdout")
    sm.add_argument("--floors", action="store_true", help="also give each round's test edits saved from every "
                    "served floor, under both span scores (in-process only)")
    sm.add_argument("--plot", help="draw F1 and effort saved against annotations to this SVG file")
    sm.add_argument("--service", metavar="URL",
                    help="run through a running backend (webhooks, its workers, hot-swap, /predict) instead of in-process")
    sm.add_argument("--second-annotator", type=float, metavar="NOISE",
                    help="every task annotated again by a careless annotator who drops each entity with "
                         "probability NOISE, and gives it another type with probability NOISE")
    sm.add_argument("--merge", default="newest", help="with --second-annotator: what a task trains on: newest "
                    "(whichever was submitted last, as the service does), agreement (the spans both marked) or both")
    sm.add_argument("--project", type=int, help="with --service: the (new) project id to use (default: from the clock)")
    sm.set_defaults(run=cmd_simulate)


def cmd_simulate(args: argparse.Namespace, settings: Settings) -> int:
    from simulator.inprocess import STRATEGIES, SimulationError, mean_by_strategy, simulate, stderr_progress

    from ..plots import series_svg

    logging.getLogger("worker.training").setLevel(logging.WARNING)  # a bar per round says enough
    rounds, seeds = int_list(args.rounds, "--rounds"), int_list(args.seed, "--seed")
    strategies = [x.strip() for x in args.strategy.split(",") if x.strip()]
    unknown = [x for x in strategies if x not in STRATEGIES]
    if unknown or not strategies:
        raise CliError(f"unknown strategy {', '.join(unknown) or '(none)'}: choose from {', '.join(STRATEGIES)}")
    pool = read_corpus(args.pool, args.format, args.limit_pool)
    test = read_corpus(args.test, args.format, args.limit_test)
    second = _second_annotator(args, pool)
    rows = []

    def runs(strategy: str, seed: int):
        if not args.service:
            return simulate(pool, test, rounds, strategy, seed, settings, progress=stderr_progress, second=second,
                            floors=args.floors)
        from simulator.service import simulate_via_service

        project = (args.project or int(time.time()) % 10**9) + len(rows)  # one fresh project per run
        return simulate_via_service(args.service, project, pool, test, rounds, strategy, seed, stderr_progress)

    try:
        for strategy in strategies:
            for seed in seeds:
                for row in runs(strategy, seed):
                    rows.append(row)
                    if args.json:
                        print(json.dumps(row.to_dict()), flush=True)
    except SimulationError as exc:
        raise CliError(str(exc)) from None
    if not args.json:
        print(f"{'strategy':<12}{'seed':>5}{'tasks':>7}{'F1':>8}{'P':>8}{'R':>8}{'edits/task':>12}{'saved':>8}{'train s':>9}")
        for r in rows:
            saved = f"{r.effort_saved:.3f}" if r.effort_saved is not None else "-"
            print(f"{r.strategy:<12}{r.seed:>5}{r.annotations:>7}{r.f1:>8.4f}{r.precision:>8.4f}{r.recall:>8.4f}"
                  f"{r.edits_per_task:>12.3f}{saved:>8}{r.train_seconds:>9.1f}")
    if args.plot:
        panels = [("test micro-F1", mean_by_strategy(rows, "f1")),
                  ("effort saved", mean_by_strategy(rows, "effort_saved"))]
        with open(args.plot, "w", encoding="utf-8") as fh:
            fh.write(series_svg(panels, f"simulated annotators: {len(pool)}-sentence pool, {len(test)} test sentences"))
    return 0


def _second_annotator(args: argparse.Namespace, pool: list):
    """The noisy second annotator `--second-annotator` and `--merge` ask for (None: one annotator)."""
    from simulator.annotators import MERGES, SecondAnnotator

    if args.merge not in MERGES:
        raise CliError(f"unknown --merge {args.merge!r}: choose from {', '.join(MERGES)}")
    if args.second_annotator is None:
        return None
    if args.service or not 0.0 <= args.second_annotator <= 0.5:
        raise CliError("--second-annotator takes a noise from 0 to 0.5, in-process only (not with --service)")
    types = sorted({t[2:] for s in pool for t in s.tags if t != "O"})
    return SecondAnnotator(args.second_annotator, args.merge, types)
