"""Training in fp32 against bf16 autocast on this CPU, side by side: `ner-backend train` on the same
GMB sentences with `PRECISION=fp32` and `PRECISION=bf16`, seeds interleaved, each model scored in
fp32 on the same unseen sentences (so that only the training's precision differs).

    .venv/bin/python bench/train_precision.py ../shared/data/gmb/ner_dataset.csv --seeds 0 1 2

Prints one JSON line per run, then a table of medians with the CPU's flags. `PRECISION=auto` trains
in bf16 where `cpu_has_fast_bf16()` is true (bf16 autocast measured faster than fp32 here, by
`device.bf16_speedup`), in fp32 elsewhere.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from backend.ner.device import describe_bf16
from backend.ner.evaluation import evaluate_model
from backend.ner.predictor import Predictor
from backend.ner.readers import read_gmb
from backend.ops.processes import scratch_folder

HERE = Path(__file__).resolve().parent
FLAGS = ("amx_bf16", "avx512_bf16", "avx512_vnni", "avx512f", "avx2")


def train(train_csv: Path, out: Path, precision: str, seed: int, epochs: int) -> float:
    """Seconds `ner-backend train` took with `PRECISION=precision`."""
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "backend.cli", "train", "--data", str(train_csv), "--epochs", str(epochs),
                    "--seed", str(seed), "--out", str(out)], check=True, env={**os.environ, "PRECISION": precision},
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.monotonic() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("gmb", help="ner_dataset.csv")
    ap.add_argument("--train", type=int, default=2000, help="training sentences (GMB 1..N)")
    ap.add_argument("--epochs", type=int, default=3, help="epochs (the 2,000-sentence recipe: 3)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = ap.parse_args()
    test = read_gmb(Path(args.gmb))[39000:40000]
    with scratch_folder("precision") as work:
        subprocess.run([sys.executable, str(HERE / "gmb_slice.py"), args.gmb, str(work / "train.csv"), "--first", "1",
                        "--last", str(args.train)], check=True)
        rows: dict[str, list[dict]] = {"fp32": [], "bf16": []}
        for seed in args.seeds:
            for precision in rows:  # interleaved: a machine that slows down slows both
                out = work / f"{precision}-{seed}"
                seconds = train(work / "train.csv", out, precision, seed, args.epochs)
                f1 = evaluate_model(Predictor.from_folder(out, precision="fp32", onnx_file=None), test)["f1"]
                rows[precision].append({"precision": precision, "seed": seed, "train_s": round(seconds, 1), "f1": f1})
                print(json.dumps(rows[precision][-1]), flush=True)
        cpu = Path("/proc/cpuinfo").read_text()
        flags = " ".join(f for f in FLAGS if f in cpu)
        print(f"\n{os.cpu_count()} CPU cores ({platform.machine()}, {flags}; {describe_bf16()}); "
              f"train: GMB 1-{args.train}, {args.epochs} epochs; test: 39001-40000 scored in fp32; seeds {args.seeds}\n")
        print("| training precision | training, median | test micro-F1, median (per seed) |")
        print("|---|---:|---:|")
        for precision, runs in rows.items():
            per_seed = " / ".join(f"{r['f1']:.4f}" for r in runs)
            print(f"| {precision} | {statistics.median(r['train_s'] for r in runs):.1f} s | "
                  f"{statistics.median(r['f1'] for r in runs):.4f} ({per_seed}) |")
        fp32, bf16 = rows["fp32"], rows["bf16"]
        print(f"\nbf16 / fp32: training time {statistics.median(b['train_s'] / f['train_s'] for b, f in zip(bf16, fp32)):.2f}x, "
              f"F1 {statistics.median(b['f1'] - f['f1'] for b, f in zip(bf16, fp32)):+.4f} (medians of the per-seed pairs)")


if __name__ == "__main__":
    main()
