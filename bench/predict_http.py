"""/predict over HTTP vs the raw engine vs a one-call-per-task transformers pipeline, same model.

    python bench/predict_http.py ../shared/data/gmb/ner_dataset.csv --model DIR [--texts 256]

Prints tasks/s for batches of 32 GMB sentences over HTTP (gunicorn, 1 worker), single-task
latency p50/p95, the engine's raw batched throughput in-process, and the pipeline baseline,
the three timed in turn each round so the machine's noise hits them alike.
"""

from __future__ import annotations

import argparse
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from backend.labelstudio.bodies import predict_body
from backend.ner.fastpath import load_served
from backend.ner.readers import read_corpus
from backend.ops.lsdemo import DEMO_CONFIG
from backend.ops.processes import Service, call, free_port, scratch_folder, start_redis, wait_for_redis

QUICK_DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "gmb_eval.csv"  # the shipped sample


def http_batches(url: str, texts: list[str], size: int) -> float:
    started = time.perf_counter()
    for i in range(0, len(texts), size):
        body = predict_body([{"text": t} for t in texts[i : i + size]], config=DEMO_CONFIG)
        status, body, _ = call("POST", url + "/predict", body)
        assert status == 200 and len(body["results"]) == len(texts[i : i + size])
    return time.perf_counter() - started


def model_arguments(doc: str, texts: int) -> argparse.Namespace:
    """The arguments of a bench timing one model folder on GMB sentences, parsed (--model or --quick)."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("gmb_csv", nargs="?", default=str(QUICK_DATA), help="default: the shipped GMB sample")
    ap.add_argument("--model", help="a model folder (required unless --quick)")
    ap.add_argument("--texts", type=int, default=texts)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--quick", action="store_true",
                    help="32 texts, one repeat, an untrained model when --model is not given: proves the bench runs")
    args = ap.parse_args()
    if not (args.model or args.quick):
        ap.error("--model is required (or --quick)")
    return args


def apply_quick(args: argparse.Namespace, work: Path) -> None:
    """--quick's sizes, and an untrained model made in `work` when no --model was given."""
    if args.quick:
        args.texts, args.repeats = 32, 1
        args.model = args.model or untrained_folder(work)


def main() -> None:
    args = model_arguments(__doc__, texts=256)
    with scratch_folder("predict-http") as work:
        apply_quick(args, work)
        texts = [" ".join(s.words) for s in read_corpus(args.gmb_csv, "gmb", limit=args.texts)]

        engine = load_served(args.model, "auto")  # as the service will load it
        print(f"served in {engine.precision}: {engine.precision_reason}")
        from transformers import pipeline

        pipe = pipeline("token-classification", model=args.model, aggregation_strategy="simple", device=-1)
        # The service as deployed: with its own Redis (without one, every request pays for the
        # failed registry lookups).
        redis_port = free_port()
        redis = start_redis(work / "redis", redis_port)
        redis_url = f"redis://127.0.0.1:{redis_port}/0"
        wait_for_redis(redis_url, redis.proc)
        env = {"BOOTSTRAP_MODEL": args.model, "LABEL_MAP": "geo=LOC,gpe=LOC,tim=TIME", "REDIS_URL": redis_url}
        svc = Service(env, workers=1)
        try:
            http_batches(svc.url, texts[:64], 32)  # warm-up, all three
            engine.predict(texts[:64])
            pipe(texts[:8])
            rounds = []  # interleaved, so the machine's noise hits all three alike
            for _ in range(args.repeats):
                rounds.append((
                    http_batches(svc.url, texts, 32),
                    _timed(lambda: [engine.predict(texts[i : i + 32]) for i in range(0, len(texts), 32)]),
                    _timed(lambda: [pipe(t) for t in texts]),
                ))
            latencies = {clients: single_task_latencies(svc.url, texts[:100], clients) for clients in (1, 4)}
        finally:
            svc.stop()
            redis.proc.terminate()
            redis.proc.wait(timeout=10)

    http, raw, base = (statistics.median(r[i] for r in rounds) for i in range(3))
    vs_pipeline = statistics.median(b / h for h, _, b in rounds)
    overhead = statistics.median((h - r) / r for h, r, _ in rounds)
    n = len(texts)
    print(f"{n} GMB sentences, batches of 32, {args.repeats} interleaved repeats (medians)")
    print(f"| /predict over HTTP, batches of 32 | {n / http:.0f} tasks/s |")
    print(f"| engine in-process, batches of 32 | {n / raw:.0f} tasks/s |")
    print(f"| pipeline, one call per task | {n / base:.0f} tasks/s |")
    print(f"| HTTP vs pipeline (median of per-round ratios) | {vs_pipeline:.2f}x |")
    print(f"| HTTP + decoding overhead over raw engine | {100 * overhead:.0f}% |")
    for clients, values in latencies.items():
        q = statistics.quantiles(values, n=20)
        print(f"| one task per request, {clients} client{'s' if clients > 1 else ''} | "
              f"p50 {1000 * statistics.median(values):.1f} ms, p95 {1000 * q[18]:.1f} ms |")
    print("per round (http, engine, pipeline) s:", [tuple(round(x, 2) for x in r) for r in rounds])


def untrained_folder(work: Path) -> str:
    """A model folder with a fresh head on the packaged encoder (for --quick: speed, not accuracy)."""
    from backend.ner.basemodel import init_model, load_tokenizer
    from backend.ner.checkpoint import save_model
    from backend.ner.labels import LabelSet
    from backend.ner.model import NerModel

    labels = LabelSet.from_types(["geo", "gpe", "org", "per", "tim"])
    out = work / "untrained"
    return str(save_model(NerModel(init_model(None, labels), load_tokenizer(None), labels), {"note": "bench --quick"}, out))


def single_task_latencies(url: str, texts: list[str], clients: int) -> list[float]:
    """Seconds per request for one task each (what LS sends when an annotator opens a task), with
    `clients` sending at once, each its share of `texts` (interactive requests, as LS marks them)."""
    def one(text: str) -> float:
        started = time.perf_counter()
        status, _, _ = call("POST", url + "/predict", predict_body([{"text": text}], config=DEMO_CONFIG, context={"result": []}))
        assert status == 200
        return time.perf_counter() - started

    with ThreadPoolExecutor(clients) as pool:
        return list(pool.map(one, texts * clients))


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
