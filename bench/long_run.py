"""Months of one project, compressed: ROUNDS trainings, each after EVERY more annotations, through
the real webhook handler, Redis store, RQ queue, training job, registry and retention; the model
store and Redis's memory are sampled as they go.

    .venv/bin/python bench/long_run.py ../shared/data/gmb/ner_dataset.csv --rounds 1000 --every 10

What is compressed: the encoder is a tiny random BERT (the packaged MiniLM's tokenizer, 1 layer of
32) trained 1 epoch, so that 1,000 trainings take minutes rather than days; every training is
promoted (MAX_F1_DROP=1, the store's worst case); RETIRE_GRACE_S is 0, as months of real time
would make it. Folder counts carry over to any encoder; bytes scale with it (a MiniLM version is
about 110 MB with its int8 file). Annotations cycle through the corpus's first POOL sentences as
new tasks and then as updates of the same tasks, as annotators revise.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import uuid
from pathlib import Path

SAMPLE = Path(__file__).resolve().parents[1] / "tests" / "data" / "gmb_train.csv"  # --quick


def tiny_encoder(folder: Path) -> str:
    """A 1-layer, 32-wide BERT with MiniLM's vocabulary and tokenizer, saved as a base-model folder."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    from backend.ner.basemodel import resolve_base_model

    minilm = resolve_base_model(None)
    config = BertConfig.from_pretrained(minilm)
    config.update({"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64})
    BertModel(config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(minilm).save_pretrained(folder)
    return str(folder)


def store_figures(model_dir: Path, project: str) -> dict:
    folder = model_dir / "projects" / project
    versions = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")] if folder.exists() else []
    size = sum(f.stat().st_size for f in model_dir.rglob("*") if f.is_file())
    return {"versions_on_disk": len(versions), "store_mb": round(size / 2**20, 1)}


PER_ANNOTATION = (b"annotation", b"task-others", b"outcomes")  # keys that grow with the annotations themselves


def redis_figures(r) -> dict:
    """used_memory, split into what grows with the annotations (the data LS sent, and what was
    predicted for each), RQ's job records (kept 7 days, 30 if failed) and everything else."""
    sizes = {"per_annotation_kb": 0, "rq_jobs_kb": 0, "else_kb": 0}
    for key in r.scan_iter(count=1000):
        size = (r.memory_usage(key) or 0) / 1024
        kind = "rq_jobs_kb" if key.startswith(b"rq:") else \
            "per_annotation_kb" if any(part in key for part in PER_ANNOTATION) else "else_kb"
        sizes[kind] += size
    return {"redis_used_mb": round(r.info("memory")["used_memory"] / 2**20, 2), "keys": r.dbsize(),
            **{k: round(v) for k, v in sizes.items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus", nargs="?", default=str(SAMPLE), help="default: the shipped GMB sample")
    ap.add_argument("--rounds", type=int, default=1000, help="trainings")
    ap.add_argument("--every", type=int, default=10, help="annotations between trainings")
    ap.add_argument("--pool", type=int, default=500, help="distinct tasks annotated (then revised)")
    ap.add_argument("--sample", type=int, default=50, help="print a line every this many rounds")
    ap.add_argument("--quick", action="store_true", help="12 rounds of 10 over the shipped sample: proves it runs")
    args = ap.parse_args()
    if args.quick:
        args.corpus, args.rounds, args.pool, args.sample = str(SAMPLE), 12, 60, 4

    work = Path(tempfile.mkdtemp(prefix="ner-long-run-"))
    from backend.ops.processes import free_port, start_redis, wait_for_redis

    port = free_port()
    redis_url = f"redis://127.0.0.1:{port}/0"
    redis_proc = start_redis(work / "redis", port).proc
    wait_for_redis(redis_url, redis_proc)
    os.environ.update({
        "REDIS_URL": redis_url, "MODEL_DIR": str(work / "models"), "BASE_MODEL": tiny_encoder(work / "tiny"),
        "QUEUE_NAME": f"long-{uuid.uuid4().hex[:8]}", "MIN_ANNOTATIONS": str(args.every),
        "TRAIN_EVERY": str(args.every), "TRAIN_EPOCHS": "1", "MAX_F1_DROP": "1", "RETIRE_GRACE_S": "0",
        "TRAIN_THREADS": "2", "BOOTSTRAP_MODEL": "",
    })
    import redis
    from rq import Queue, SimpleWorker

    from backend.config import Settings
    from backend.labelstudio.webhooks import CREATED, UPDATED, gold_event
    from backend.ner.readers import read_corpus, text_and_regions
    from backend.web.app import create_app

    settings = Settings.from_env()
    sentences = read_corpus(args.corpus, limit=args.pool)
    client = create_app(settings).test_client()
    r = redis.Redis.from_url(redis_url)
    worker = SimpleWorker([Queue(settings.queue_name, connection=r)], connection=r)  # jobs run in this process
    project, sent, started, rows = "77", 0, time.monotonic(), []
    try:
        for round_no in range(1, args.rounds + 1):
            for _ in range(args.every):
                k = sent % len(sentences)
                revision = sent // len(sentences)  # 0: a new task; then the annotators' revisions of it
                _, regions = text_and_regions(sentences[k])
                body = gold_event(int(project), 1 + k, sentences[k], regions[: len(regions) - revision % 2],
                                  action=UPDATED if revision else CREATED)  # a revision drops or restores a span
                answer = client.post("/webhook", json=body)
                assert answer.status_code == 200, answer.get_json()
                sent += 1
            worker.work(burst=True, logging_level="WARNING")
            if round_no % args.sample == 0 or round_no == args.rounds:
                history = client.get(f"/projects/{project}/trainings").get_json()["trainings"]
                row = {"round": round_no, "annotations": sent, "trainings_kept": len(history),
                       "promoted": sum(h["status"] == "promoted" for h in history),
                       **store_figures(Path(settings.model_dir), project), **redis_figures(r),
                       "minutes": round((time.monotonic() - started) / 60, 1)}
                rows.append(row)
                print(json.dumps(row), flush=True)
    finally:
        redis_proc.terminate()
    print("\n| trainings | annotations sent | versions on disk | store MB | Redis used MB | per-annotation KB "
          "| RQ jobs KB | all else KB | training records kept |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['round']} | {row['annotations']} | {row['versions_on_disk']} | {row['store_mb']} | "
              f"{row['redis_used_mb']} | {row['per_annotation_kb']} | {row['rq_jobs_kb']} | {row['else_kb']} | "
              f"{row['trainings_kept']} |")
    print(f"(work folder {work})")


if __name__ == "__main__":
    main()
