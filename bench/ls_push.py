"""What a push costs a real Label Studio 1.23, and what it leaves there.

    .venv/bin/python bench/ls_push.py ../shared/data/gmb/ner_dataset.csv [--tasks 5000] [--promotions 10]

1. A project of --tasks GMB sentences; a MiniLM version trained (1 epoch, 20 annotated tasks) and
   promoted; its push timed: predicting every task and writing them to LS, 100 a call, PUSH_SLICE
   tasks a job (each slice timed: the longest a training asked for meanwhile waits), then the
   selection and the deletion of older versions' predictions.
2. --promotions more promotions of the same folder, each followed by its push, on the first 1,000
   tasks of another project: LS's prediction rows after each, against what was written in all.

Runs the jobs in this process against redis-server and LS started here.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

SAMPLE = Path(__file__).resolve().parents[1] / "tests" / "data" / "gmb_train.csv"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus", nargs="?", default=str(SAMPLE))
    ap.add_argument("--tasks", type=int, default=5000)
    ap.add_argument("--promotions", type=int, default=10)
    args = ap.parse_args()

    from label_studio_sdk.client import LabelStudio as SDK

    from backend.labelstudio.annotation import Annotation
    from backend.labelstudio.client import LabelStudioClient
    from backend.ner.readers import read_corpus, text_and_regions
    from backend.ops.lsdemo import DEMO_CONFIG, LocalLabelStudio
    from backend.ops.processes import free_port, start_redis, wait_for_redis

    work = Path(tempfile.mkdtemp(prefix="ner-ls-push-"))
    port = free_port()
    redis_url = f"redis://127.0.0.1:{port}/0"
    redis_proc = start_redis(work / "redis", port).proc
    wait_for_redis(redis_url, redis_proc)
    ls = LocalLabelStudio(work)
    os.environ.update({"REDIS_URL": redis_url, "MODEL_DIR": str(work / "models"), "TRAIN_EPOCHS": "1",
                       "LABEL_STUDIO_URL": ls.url, "LABEL_STUDIO_API_KEY": ls.token, "QUEUE_NAME": "ls-push",
                       "BOOTSTRAP_MODEL": "", "MAX_F1_DROP": "1"})
    from backend.config import Settings
    from backend.state import connect
    from worker.jobs import push_predictions, train_project

    stores = connect(Settings.from_env())
    sdk = SDK(base_url=ls.url, api_key=ls.token)

    def push_all(project: str) -> tuple[dict, list[float]]:
        """Every slice of the push asked for, as workers run them one job after another; the last
        job's answer and each slice's seconds."""
        from rq.job import Job

        slices, args = [], (project,)
        while True:
            started = time.perf_counter()
            done = push_predictions(*args)
            slices.append(time.perf_counter() - started)
            if "next" not in done:
                return done, slices
            args = Job.fetch(done["next"], connection=stores.client).args
    ours = LabelStudioClient(ls.url, ls.token)
    sentences = read_corpus(args.corpus, limit=args.tasks)
    try:
        def project_of(n: int, title: str) -> tuple[str, list[int]]:
            project = sdk.projects.create(title=title, label_config=DEMO_CONFIG).id
            started = time.perf_counter()
            for i in range(0, n, 1000):
                sdk.projects.import_tasks(id=project, request=[{"text": text_and_regions(s)[0]}
                                                               for s in sentences[i:min(n, i + 1000)]])
            print(f"imported {n} tasks in {time.perf_counter() - started:.1f} s")
            stores.annotations.save_config(str(project), DEMO_CONFIG)
            return str(project), sorted(t.id for t in sdk.tasks.list(project=project))

        p, tasks = project_of(len(sentences), "push timing")
        for task, sentence in zip(tasks[:20], sentences):
            text, regions = text_and_regions(sentence)
            stores.annotations.upsert(p, Annotation(task, task, {"text": text}, regions))
        trained = train_project(p)
        pushed, slices = push_all(p)
        took = sum(slices)
        print(f"push of {pushed['pushed']} predictions ({trained['version']}, MiniLM int8/fp32 as served): "
              f"{took:.1f} s, {pushed['pushed'] / took:.0f} tasks/s; status {pushed['status']}; "
              f"{len(slices)} jobs of PUSH_SLICE={Settings.from_env().push_slice} tasks, the longest {max(slices):.1f} s")

        q, _ = project_of(min(1000, len(sentences)), "push growth")
        source = stores.registry.path(p, trained["version"])
        written = 0
        print("\n| promotion | predictions written in all | LS prediction rows | versions in LS | push s |")
        print("|---|---|---|---|---|")
        for n in range(1, args.promotions + 1):
            version, path = stores.registry.new_version(q)
            shutil.copytree(source, path)
            stores.registry.promote(q, version)
            stores.queue.want_push(q, version, f"bench-{n}")
            done, slices = push_all(q)
            took = sum(slices)
            written += done["pushed"]
            held = ours.model_versions(q)
            print(f"| {n} | {written} | {sum(held.values())} | {len([v for v in held.values() if v])} | {took:.1f} |")
    finally:
        ls.stop()
        redis_proc.terminate()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
