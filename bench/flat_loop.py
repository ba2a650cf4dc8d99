"""The flat loop, timed on real parts: for a project that already holds N - 10 annotated GMB
sentences and serves a version trained on them, the time from the webhook of the 10th new
annotation to the first /predict answered by the next version, for each N in one run.

    .venv/bin/python bench/flat_loop.py ../shared/data/gmb/ner_dataset.csv --sizes 300 3000 20000 --full 300 3000

Setting up each size is not timed: the N - 10 annotations are written straight into Redis, and a
worker with TRAIN_EPOCHS=1 trains the serving version on them (its quality does not matter here,
only that it exists and knows what it trained on). Then a worker with the default settings
(TRAIN_EVERY=10) takes the 10 new annotations, sent as Label Studio sends them. `--full` times
the same step with TRAIN_INCREMENTAL=off (every task trained on again), for the sizes given.
Prints one JSON line per measurement and a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import time
from pathlib import Path

from backend.config import Settings
from backend.labelstudio.bodies import gold_event
from backend.ner.readers import read_gmb, text_and_regions
from backend.ops.lsdemo import DEMO_CONFIG as GMB_CONFIG
from backend.ops.processes import Service, Worker, call, free_port, redis_server_binary, scratch_folder, wait_for_redis
from backend.ops.stack import ONE_NODE_ENV
from backend.state import connect
from simulator.inprocess import as_annotation

NEW = 10  # annotations after the serving version: the 10th one's webhook starts the timed loop


def served_version(url: str, project: int, text: str) -> str:
    body = {"tasks": [{"id": 1, "data": {"text": text}}], "project": f"{project}.1", "label_config": GMB_CONFIG}
    return call("POST", url + "/predict", body)[1]["model_version"]


def wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.25)
    raise TimeoutError(what)


def set_up(env: dict, work: Path, project: int, sentences) -> str:
    """The project's N - NEW annotations in Redis and a version trained on them (one epoch)."""
    stores = connect(Settings.from_env(env))
    stores.annotations.save_config(str(project), GMB_CONFIG)
    for task, sentence in enumerate(sentences, 1):
        stores.annotations.upsert(str(project), as_annotation(sentence, task))
    worker = Worker({**env, "TRAIN_EPOCHS": "1"}, work / f"setup-{project}.log")
    try:
        worker.wait_listening(env["REDIS_URL"])
        stores.queue.request(str(project), stores.annotations.changes(str(project)))
        return wait_for(lambda: stores.registry.current(str(project)), 3600, f"project {project}'s first version")
    finally:
        worker.stop()


def timed_step(env: dict, work: Path, project: int, first: int, new, old: str, probe: str, label: str) -> dict:
    """Send the NEW annotations through /webhook; seconds from the last to the next version's answer."""
    service = Service(env, log_path=work / f"backend-{label}.log")
    worker = Worker(env, work / f"worker-{label}.log")
    try:
        worker.wait_listening(env["REDIS_URL"])
        assert served_version(service.url, project, probe) == old
        events = [gold_event(project, first + i, s, config=GMB_CONFIG) for i, s in enumerate(new)]
        for body in events[:-1]:
            assert call("POST", service.url + "/webhook", body)[0] == 200
        started = time.monotonic()
        assert "training" in call("POST", service.url + "/webhook", events[-1])[1]
        version = wait_for(lambda: (v := served_version(service.url, project, probe)) != old and v, 3600, "a new version")
        loop_s = time.monotonic() - started
        record = call("GET", f"{service.url}/projects/{project}/trainings")[1]["trainings"][-1]
    finally:
        worker.stop()
        service.stop()
    plan = record.get("plan") or {}
    return {"label": label, "loop_s": round(loop_s, 1), "job_s": record["duration_s"], "version": version,
            "incremental": plan.get("incremental"), "steps": plan.get("steps") or None, "epochs": record["epochs"],
            "train_sentences": record["train_sentences"], "dev_sentences": record["dev_sentences"],
            "dev_f1": record["dev"]["f1"] if record["dev"] else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("gmb", help="ner_dataset.csv")
    ap.add_argument("--sizes", type=int, nargs="+", default=[300, 3000, 20000])
    ap.add_argument("--full", type=int, nargs="*", default=[], help="sizes also timed with TRAIN_INCREMENTAL=off")
    args = ap.parse_args()
    corpus = read_gmb(Path(args.gmb))
    probe = text_and_regions(corpus[39000])[0]
    with scratch_folder("flat-loop") as work:
        port = free_port()
        redis_proc = subprocess.Popen([redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                       "--dir", str(work)], stdout=subprocess.DEVNULL)
        env = {**ONE_NODE_ENV, "REDIS_URL": f"redis://127.0.0.1:{port}/0", "MODEL_DIR": str(work / "models"),
               "BOOTSTRAP_MODEL": "", "SWAP_POLL_SECONDS": "0.5", "MIN_ANNOTATIONS": "1", "TRAIN_EVERY": str(NEW),
               "TRAIN_EPOCHS": "0", "ADAPT_STEPS": "0"}
        rows = []
        try:
            wait_for_redis(env["REDIS_URL"], redis_proc)
            runs = [(size, "on") for size in args.sizes] + [(size, "off") for size in args.full]
            for n, (size, incremental) in enumerate(runs):
                project = 700 + n
                old = set_up(env, work, project, corpus[: size - NEW])
                step_env = {**env, "TRAIN_INCREMENTAL": incremental}
                row = {"annotations": size, **timed_step(step_env, work, project, size - NEW + 1, corpus[size - NEW : size],
                                                        old, probe, f"{size}-{incremental}")}
                print(json.dumps(row), flush=True)
                rows.append(row)
        finally:
            redis_proc.terminate()
        flags = [f for f in ("amx_bf16", "avx512_bf16", "avx512_vnni", "avx2")
                 if f in Path("/proc/cpuinfo").read_text()] if Path("/proc/cpuinfo").exists() else []
        print(f"\n{os.cpu_count()} CPU cores, {platform.processor() or platform.machine()}, flags: {' '.join(flags)}\n")
        print("| annotated tasks | training | webhook -> first answer of the new version | of which the job "
              "| steps (epochs) | train / dev sentences |")
        print("|---:|---|---:|---:|---:|---:|")
        for r in rows:
            how = "incremental" if r["incremental"] else "full"
            steps = f"{r['steps']}" if r["incremental"] else f"({r['epochs']} epochs)"
            print(f"| {r['annotations']:,} | {how} | {r['loop_s']} s | {r['job_s']} s | {steps} | "
                  f"{r['train_sentences']:,} / {r['dev_sentences']} |")


if __name__ == "__main__":
    main()
