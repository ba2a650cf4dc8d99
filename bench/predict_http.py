"""/predict over HTTP vs the raw engine vs a one-call-per-task transformers pipeline, same model.

    python bench/predict_http.py ../shared/data/gmb/ner_dataset.csv --model DIR [--texts 256]

Prints tasks/s for batches of 32 GMB sentences over HTTP (gunicorn, 1 worker), single-task
latency p50/p95, the engine's raw batched throughput in-process, and the pipeline baseline.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.ner.predictor import Predictor  # noqa: E402
from backend.ner.readers import read_corpus  # noqa: E402
from tests.servers import Service, call  # noqa: E402
from tests.test_service import ls_predict_body  # noqa: E402


def http_batches(url: str, texts: list[str], size: int) -> float:
    started = time.perf_counter()
    for i in range(0, len(texts), size):
        status, body, _ = call("POST", url + "/predict", ls_predict_body([{"text": t} for t in texts[i : i + size]]))
        assert status == 200 and len(body["results"]) == len(texts[i : i + size])
    return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("gmb_csv")
    ap.add_argument("--model", required=True)
    ap.add_argument("--texts", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    texts = [" ".join(s.words) for s in read_corpus(args.gmb_csv, "gmb", limit=args.texts)]

    svc = Service({"BOOTSTRAP_MODEL": args.model, "LABEL_MAP": "geo=LOC,gpe=LOC,tim=TIME"}, workers=1)
    try:
        http_batches(svc.url, texts[:64], 32)  # warm-up
        http = statistics.median(http_batches(svc.url, texts, 32) for _ in range(args.repeats))
        latencies = []
        for t in texts[:100]:
            started = time.perf_counter()
            call("POST", svc.url + "/predict", ls_predict_body([{"text": t}]))
            latencies.append(time.perf_counter() - started)
    finally:
        svc.stop()

    engine = Predictor.from_folder(args.model)
    engine.predict(texts[:64])
    raw = statistics.median(
        _timed(lambda: [engine.predict(texts[i : i + 32]) for i in range(0, len(texts), 32)])
        for _ in range(args.repeats)
    )

    from transformers import pipeline

    pipe = pipeline("token-classification", model=args.model, aggregation_strategy="simple", device=-1)
    pipe(texts[:8])
    base = statistics.median(_timed(lambda: [pipe(t) for t in texts]) for _ in range(args.repeats))

    q = statistics.quantiles(latencies, n=20)
    n = len(texts)
    print(f"{n} GMB sentences, batches of 32, {args.repeats} repeats (medians)")
    print(f"| /predict over HTTP, batches of 32 | {n / http:.0f} tasks/s |")
    print(f"| engine in-process, batches of 32 | {n / raw:.0f} tasks/s |")
    print(f"| pipeline, one call per task | {n / base:.0f} tasks/s |")
    print(f"| HTTP vs pipeline | {base / http:.2f}x |")
    print(f"| HTTP + decoding overhead over raw engine | {100 * (http - raw) / raw:.0f}% |")
    print(f"| single task over HTTP | p50 {1000 * statistics.median(latencies):.0f} ms, p95 {1000 * q[18]:.0f} ms |")


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
