"""Months of one project at real speed, compressed only in data size: annotations made in a real
Label Studio 1.23 reach the backend as LS's own webhooks, a real `ner-backend worker` trains after
every 10 (the defaults), promotes, pushes predictions into LS, and retention, pruning and the
figures' sums run as in service. Samples what grows with use at chosen trainings.

    .venv/bin/python bench/soak.py ../shared/data/gmb/ner_dataset.csv --tasks 1200 --rounds 100

What is compressed: the encoder is a tiny random BERT (the packaged MiniLM's tokenizer, 1 layer of
32), so that a training takes seconds rather than minutes; the project holds --tasks sentences.
Every setting is the default but two time constants, each set shorter than the time between two
trainings (never 0, which would switch the mechanism off): RETIRE_GRACE_S (a version is removed
one grace after it was replaced) and PUSH_INTERVAL_S (every promotion then gets its own push;
with the default 600 s, 100 pushes would take 17 hours).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

SAMPLE = Path(__file__).resolve().parents[1] / "tests" / "data" / "gmb_train.csv"  # --quick
GRACE_S, PUSH_INTERVAL_S = 5, 5
FINISHED_PUSH = ("done", "failed", "stale", "coalesced")


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
    return {"folders": len(versions), "store_mb": round(size / 2**20, 1)}


PER_ANNOTATION = (b"annotation", b"task-others", b"outcomes")  # keys that grow with the annotations themselves


def redis_figures(r) -> dict:
    """used_memory, and the keys' sizes split into what grows with the annotations (the data LS
    sent, and what was predicted for each), RQ's job records (kept a day) and everything else."""
    sizes = {"per_annotation_kb": 0.0, "rq_jobs_kb": 0.0, "else_kb": 0.0}
    for key in r.scan_iter(count=1000):
        size = (r.memory_usage(key) or 0) / 1024
        kind = "rq_jobs_kb" if key.startswith(b"rq:") else \
            "per_annotation_kb" if any(part in key for part in PER_ANNOTATION) else "else_kb"
        sizes[kind] += size
    return {"redis_mb": round(r.info("memory")["used_memory"] / 2**20, 2), **{k: round(v) for k, v in sizes.items()}}


def metrics_ms(url: str, scrapes: int = 5) -> float:
    from backend.ops.processes import call

    times = []
    for _ in range(scrapes):
        started = time.perf_counter()
        status, _, _ = call("GET", url + "/metrics")
        assert status == 200
        times.append(time.perf_counter() - started)
    return round(statistics.median(times) * 1000, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus", nargs="?", default=str(SAMPLE), help="default: the shipped GMB sample")
    ap.add_argument("--tasks", type=int, default=1200, help="tasks in the LS project")
    ap.add_argument("--rounds", type=int, default=100, help="trainings (10 annotations each)")
    ap.add_argument("--samples", default="10,25,50,75,100", help="trainings after which figures are taken")
    ap.add_argument("--quick", action="store_true", help="6 trainings over the shipped sample: proves it runs")
    args = ap.parse_args()
    if args.quick:
        args.corpus, args.tasks, args.rounds, args.samples = str(SAMPLE), 80, 6, "2,4,6"
    samples = {int(x) for x in args.samples.split(",")} | {args.rounds}

    import redis
    from label_studio_sdk.client import LabelStudio as SDK

    from backend.ner.readers import read_corpus, text_and_regions
    from backend.ops.lsdemo import DEMO_CONFIG, LocalLabelStudio
    from backend.ops.processes import Service, Worker, call, free_port, scratch_folder, start_redis, wait_for_redis

    with scratch_folder("soak") as work:
        sentences = read_corpus(args.corpus, limit=args.tasks)
        assert len(sentences) >= 10 * args.rounds, "fewer tasks than the rounds annotate"
        port = free_port()
        redis_url = f"redis://127.0.0.1:{port}/0"
        redis_proc = start_redis(work / "redis", port).proc
        wait_for_redis(redis_url, redis_proc)
        ls = LocalLabelStudio(work)
        env = {"REDIS_URL": redis_url, "MODEL_DIR": str(work / "models"), "BASE_MODEL": tiny_encoder(work / "tiny"),
               "BOOTSTRAP_MODEL": "", "RETIRE_GRACE_S": str(GRACE_S), "PUSH_INTERVAL_S": str(PUSH_INTERVAL_S),
               "LABEL_STUDIO_URL": ls.url, "LABEL_STUDIO_API_KEY": ls.token}
        service = Service(env, workers=1, log_path=work / "backend.log")
        worker = Worker(env, work / "worker.log")
        r = redis.Redis.from_url(redis_url)
        rows, started = [], time.monotonic()
        try:
            client = SDK(base_url=ls.url, api_key=ls.token)
            project = client.projects.create(title="soak", label_config=DEMO_CONFIG).id
            client.projects.import_tasks(id=project, request=[{"text": text_and_regions(s)[0]} for s in sentences])
            tasks = sorted(t.id for t in client.tasks.list(project=project))
            client.ml.create(project=project, url=service.url, title="ner-backend", is_interactive=False)

            def records() -> list[dict]:
                return call("GET", f"{service.url}/projects/{project}/trainings")[1]["trainings"]

            def settled(n: int) -> list[dict] | None:
                done = records()
                if len(done) < n or any(t["status"] == "running" for t in done):
                    return None
                push = (done[-1].get("push") or {}).get("status")
                return done if done[-1]["status"] != "promoted" or push in FINISHED_PUSH else None

            for round_no in range(1, args.rounds + 1):
                for k in range(10 * (round_no - 1), 10 * round_no):  # LS sends each as a webhook
                    client.annotations.create(id=tasks[k], result=text_and_regions(sentences[k])[1])
                deadline = time.monotonic() + 600
                while not (history := settled(round_no)):
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"training {round_no} did not finish; see {work}")
                    time.sleep(0.5)
                if round_no in samples:
                    held = client._client_wrapper.httpx_client.request(f"api/projects/{project}/model-versions/",
                                                                       method="GET").json()
                    row = {"trainings": round_no, "promoted": sum(t["status"] == "promoted" for t in history),
                           "pushes": sum((t.get("push") or {}).get("status") == "done" for t in history),
                           "written": sum((t.get("push") or {}).get("pushed", 0) for t in history),
                           "ls_rows": sum(held.values()), "ls_versions": len([v for v in held.values() if v]),
                           **store_figures(work / "models", str(project)), **redis_figures(r),
                           "metrics_ms": metrics_ms(service.url), "minutes": round((time.monotonic() - started) / 60, 1)}
                    rows.append(row)
                    print(json.dumps(row), flush=True)
        finally:
            worker.stop()
            service.stop()
            ls.stop()
            redis_proc.terminate()
    print("\n| trainings | promoted | pushes | predictions written | LS prediction rows (versions) | version folders "
          "| store MB | Redis used MB | per-annotation KB | RQ jobs KB | all else KB | /metrics ms | minutes |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['trainings']} | {row['promoted']} | {row['pushes']} | {row['written']} | {row['ls_rows']} "
              f"({row['ls_versions']}) | {row['folders']} | {row['store_mb']} | {row['redis_mb']} | "
              f"{row['per_annotation_kb']} | {row['rq_jobs_kb']} | {row['else_kb']} | {row['metrics_ms']} | "
              f"{row['minutes']} |")


if __name__ == "__main__":
    main()
