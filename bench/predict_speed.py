"""Batched vs one-at-a-time prediction on GMB sentences: texts/s, medians over repeats, and the ratio.

    python bench/predict_speed.py ../shared/data/gmb/ner_dataset.csv [--model DIR] [--texts 512]

Without --model it times MiniLM with a fresh head: the forward pass costs the same either way.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from backend.ner.basemodel import init_model, load_tokenizer
from backend.ner.device import pick_device
from backend.ner.labels import LabelSet
from backend.ner.model import NerModel
from backend.ner.predictor import Predictor
from backend.ner.readers import read_corpus

QUICK_DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "gmb_eval.csv"  # the shipped sample


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("gmb_csv", nargs="?", default=str(QUICK_DATA), help="default: the shipped GMB sample")
    ap.add_argument("--model", help="a model folder from `ner-backend train`")
    ap.add_argument("--texts", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--quick", action="store_true", help="32 texts, one repeat: seconds, to prove the bench runs")
    args = ap.parse_args()
    if args.quick:
        args.texts, args.repeats = 32, 1

    sentences = read_corpus(args.gmb_csv, "gmb", limit=args.texts)
    texts = [" ".join(s.words) for s in sentences]
    options = dict(precision=args.precision, batch_size=args.batch_size)
    if args.model:
        predictor = Predictor.from_folder(args.model, **options)
    else:
        labels = LabelSet.from_types(["geo", "gpe", "org", "per", "tim"])
        model = init_model(None, labels).to(pick_device())
        predictor = Predictor(NerModel(model, load_tokenizer(None), labels), **options)
    predictor.predict(texts[:64])  # warm-up: allocator, kernels, tokenizer caches

    batched, single = [], []
    for _ in range(args.repeats):  # interleaved, so machine noise hits both alike
        batched.append(timed(lambda: predictor.predict(texts)))
        single.append(timed(lambda: [predictor.predict([t]) for t in texts]))
    b, s = statistics.median(batched), statistics.median(single)
    words = sum(len(t.split()) for t in texts) / len(texts)
    print(f"device {predictor.device}, precision {predictor.precision}, {len(texts)} GMB sentences "
          f"(~{words:.0f} words), batch {args.batch_size}, {args.repeats} repeats")
    print(f"| batched | {len(texts) / b:.0f} texts/s | median {b:.2f} s |")
    print(f"| one at a time | {len(texts) / s:.0f} texts/s | median {s:.2f} s |")
    print(f"| ratio | {s / b:.2f}x | |")


if __name__ == "__main__":
    main()
