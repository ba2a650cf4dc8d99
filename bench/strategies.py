"""Tables and a plot of active-learning strategies from `ner-backend simulate --json` output:
median and spread over seeds of test F1 and effort saved against annotated tasks, and how many
tasks each strategy needs to reach what `random` has at its largest round.

    .venv/bin/python bench/strategies.py /tmp/sim/*.jsonl --plot docs/active-learning.svg
    .venv/bin/python bench/strategies.py a.jsonl b.jsonl=unadapted   # b's rows shown as strategy "unadapted"
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from statistics import fmean, median

from backend.plots import series_svg


def load(paths: list[str]) -> list[dict]:
    """Every row of the files; a file given as `path=name` has its rows' strategy renamed `name`."""
    rows = []
    for given in paths:
        path, _, name = given.partition("=")
        for line in Path(path).read_text().splitlines():
            if line.strip():
                rows.append({**json.loads(line), **({"strategy": name} if name else {})})
    return rows


def grouped(rows: list[dict], key: str) -> dict[str, dict[int, list[float]]]:
    """{strategy: {annotations: [value per seed]}}."""
    out: dict[str, dict[int, list[float]]] = {}
    for r in rows:
        if r.get(key) is not None:
            out.setdefault(r["strategy"], {}).setdefault(r["annotations"], []).append(r[key])
    return out


def cell(values: list[float] | None) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{median(values):.3f} ({min(values):.3f}-{max(values):.3f}, {len(values)})"


def table(rows: list[dict], key: str, strategies: list[str]) -> str:
    data = grouped(rows, key)
    sizes = sorted({n for s in data.values() for n in s})
    lines = ["| tasks | " + " | ".join(strategies) + " |", "|---:|" + "---:|" * len(strategies)]
    for n in sizes:
        lines.append(f"| {n:,} | " + " | ".join(cell(data.get(s, {}).get(n)) for s in strategies) + " |")
    return "\n".join(lines)


def tasks_to_reach(rows: list[dict], strategies: list[str]) -> str:
    """For each strategy, the first round whose mean F1 reaches random's mean at its largest round."""
    f1 = grouped(rows, "f1")
    if "random" not in f1:
        return "(no random order was run: no target to reach)"
    last = max(f1["random"])
    target = fmean(f1["random"][last])
    lines = [f"random's mean test F1 at {last:,} tasks: {target:.4f}", ""]
    for s in strategies:
        reached = [n for n in sorted(f1.get(s, {})) if fmean(f1[s][n]) >= target]
        seeds = max(len(v) for v in f1.get(s, {1: [0]}).values())
        lines.append(f"- {s} ({seeds} seed{'s' if seeds > 1 else ''}): "
                     + (f"reaches it at {reached[0]:,} tasks" if reached else "does not reach it in the rounds run"))
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+")
    ap.add_argument("--plot", help="write an SVG of mean F1 and effort saved per strategy")
    ap.add_argument("--title", default="active-learning strategies: GMB pool of 5,000, 1,000 test sentences")
    args = ap.parse_args()
    rows = load(args.files)
    order = ["sequential", "random", "coldstart", "uncertainty", "mnlp", "entropy", "diverse"]
    named = list(dict.fromkeys(r["strategy"] for r in rows))
    strategies = [s for s in order if s in named] + [s for s in named if s not in order]
    print("Test micro-F1 of the spans served, median (min-max, seeds):\n")
    print(table(rows, "f1", strategies))
    print("\nEffort saved on the test set by the spans served, median (min-max, seeds):\n")
    print(table(rows, "effort_saved", strategies))
    if any(r.get("threshold") is not None for r in rows):
        print("\nWhere a span-score threshold was served: test F1 and effort saved had every span been served\n")
        print(table(rows, "f1_all", strategies))
        print()
        print(table(rows, "effort_saved_all", strategies))
        print("\nThe span-score threshold served (rounds without one are left out):\n")
        print(table(rows, "threshold", strategies))
    print("\nWords per task of the tasks chosen in each round:\n")
    print(table(rows, "words_per_task", strategies))
    print("\nEntities per task of the tasks chosen in each round:\n")
    print(table(rows, "entities_per_task", strategies))
    print()
    print(tasks_to_reach(rows, strategies))
    if args.plot:
        means = {k: {s: [(n, fmean(v)) for n, v in sorted(d.items())] for s, d in grouped(rows, k).items()}
                 for k in ("f1", "effort_saved")}
        svg = series_svg([("test micro-F1 (mean over seeds)", means["f1"]),
                          ("effort saved (mean over seeds)", means["effort_saved"])],
                         args.title, y_min=0.4)
        Path(args.plot).write_text(svg, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
