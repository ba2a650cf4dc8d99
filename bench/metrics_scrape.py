"""A /metrics scrape and a status page with 200,000 compared annotations in Redis, against
recomputing every outcome (what each scrape did before figures were summed as they arrived).

    .venv/bin/python bench/metrics_scrape.py [--outcomes 200000] [--projects 20] [--scrapes 21]

Outcomes go through `QualityLog.record_annotation` for the first project's first 2,000 (the
webhook path, timed per annotation) and are written directly for the rest, then summed once as
an upgraded store would be. Prints medians of the scrape, the status page, and the old recomputation.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

import redis

from backend.config import Settings
from backend.ops.processes import free_port, start_redis, wait_for_redis
from backend.state.keys import ProjectKeys
from backend.state.quality import summarise
from backend.web.app import create_app

LABELS = ("geo", "per", "org", "gpe", "tim")


def spans(rng: random.Random) -> list[list]:
    return [[s, s + 5, rng.choice(LABELS)] for s in sorted(rng.sample(range(0, 200, 6), rng.randint(0, 4)))]


def region(span: list) -> dict:
    return {"type": "labels", "value": {"start": span[0], "end": span[1], "labels": [span[2]]}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--outcomes", type=int, default=200_000)
    ap.add_argument("--projects", type=int, default=20)
    ap.add_argument("--scrapes", type=int, default=21)
    args = ap.parse_args()
    rng = random.Random(1)
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        child = start_redis(Path(tmp), port)
        url = f"redis://127.0.0.1:{port}/0"
        try:
            wait_for_redis(url, child.proc)
            client = redis.Redis.from_url(url)
            app = create_app(Settings(redis_url=url, model_dir=str(Path(tmp) / "models")))
            stores = app.extensions["ner"].stores
            per_project = args.outcomes // args.projects
            webhook_s = []
            for p in range(1, args.projects + 1):
                project = str(p)
                stores.annotations.save_config(project, "<View/>")
                client.sadd("ner:projects", project)
                rows = {}
                for a in range(per_project):
                    version = f"v{1 + a * 30 // per_project}-20261205T000000"
                    if p == 1 and a < 2000:
                        stores.quality.record_served(project, version, {a: [region(s) for s in spans(rng)]})
                        started = time.perf_counter()
                        stores.quality.record_annotation(project, a, a, [region(s) for s in spans(rng)])
                        webhook_s.append(time.perf_counter() - started)
                        continue
                    rows[str(a)] = json.dumps({"task": a, "version": version, "predicted": spans(rng),
                                               "final": spans(rng)})
                if rows:
                    client.hset(ProjectKeys(project).outcomes, mapping=rows)
                    client.delete(ProjectKeys(project).quality_built)  # as an upgraded store: summed once
            started = time.perf_counter()
            stores.quality.newest([str(p) for p in range(1, args.projects + 1)])
            build_s = time.perf_counter() - started
            web = app.test_client()
            scrape, page, old = [], [], []
            for _ in range(args.scrapes):
                started = time.perf_counter()
                assert web.get("/metrics").status_code == 200
                scrape.append(time.perf_counter() - started)
                started = time.perf_counter()
                assert web.get("/").status_code == 200
                page.append(time.perf_counter() - started)
                if len(old) < 3:  # seconds each: three are enough
                    started = time.perf_counter()
                    for p in range(1, args.projects + 1):
                        summarise(stores.quality.outcomes(str(p)))
                    old.append(time.perf_counter() - started)
            print(f"{args.outcomes:,} outcomes in {args.projects} projects")
            print(f"  webhook comparison (record_annotation), median of {len(webhook_s)}: "
                  f"{statistics.median(webhook_s) * 1000:.2f} ms")
            print(f"  summing a store's old outcomes once: {build_s:.1f} s")
            print(f"  /metrics, median of {len(scrape)}: {statistics.median(scrape) * 1000:.1f} ms "
                  f"(max {max(scrape) * 1000:.1f} ms)")
            print(f"  status page, median of {len(page)}: {statistics.median(page) * 1000:.1f} ms")
            print(f"  recomputing every outcome (each scrape before), median of {len(old)}: "
                  f"{statistics.median(old) * 1000:.0f} ms")
        finally:
            child.proc.terminate()
            child.proc.wait(timeout=10)


if __name__ == "__main__":
    main()
