"""The active-learning loop, timed on real parts: for N annotated GMB sentences, the time from the
webhook that triggers training to the first /predict answered by the new model, and the model's F1
(on the job's dev split and on held-out GMB sentences).

    .venv/bin/python bench/loop.py ../shared/data/gmb/ner_dataset.csv --sizes 50 200 1000

Each size is a fresh project trained from the base model (MIN_ANNOTATIONS=N, so the N-th webhook
triggers). The backend and the worker run as `ner-backend up` runs them on one machine (one
gunicorn worker, serving at SERVE_NICE=5). Prints one JSON line per size and a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import threading
import time
from pathlib import Path

from backend.labelstudio.bodies import gold_event
from backend.ner.evaluation import evaluate_model
from backend.ner.predictor import Predictor
from backend.ner.readers import read_gmb, text_and_regions
from backend.ops.lsdemo import DEMO_CONFIG as GMB_CONFIG
from backend.ops.processes import Service, Worker, call, free_port, redis_server_binary, scratch_folder
from backend.ops.stack import ONE_NODE_ENV
from backend.plots import learning_curve_svg

SAMPLES = Path(__file__).resolve().parents[1] / "tests" / "data"  # --quick: the GMB sample the repository ships


def predict_version(url: str, project: int, text: str) -> str:
    body = {"tasks": [{"id": 1, "data": {"text": text}}], "project": f"{project}.1", "label_config": GMB_CONFIG}
    return call("POST", url + "/predict", body)[1]["model_version"]


def run_size(url: str, project: int, sentences, probe: str) -> dict:
    events = [gold_event(project, i + 1, s, config=GMB_CONFIG) for i, s in enumerate(sentences)]
    for body in events[:-1]:
        assert call("POST", url + "/webhook", body)[0] == 200
    started = time.monotonic()
    reply = call("POST", url + "/webhook", events[-1])[1]
    assert "training" in reply, reply
    while True:  # poll /predict: the moment it answers with a project version, the loop is closed
        version = predict_version(url, project, probe)
        if version.startswith("v"):
            break
        time.sleep(0.25)
    loop_s = time.monotonic() - started
    (record,) = call("GET", f"{url}/projects/{project}/trainings")[1]["trainings"]
    return {"annotations": len(sentences), "loop_s": round(loop_s, 1), "train_job_s": record["duration_s"],
            "epochs": record["epochs"], "dev_sentences": record["dev_sentences"],
            "dev_f1": record["dev"]["f1"] if record["dev"] else None, "version": version}


class Load:
    """`clients` threads sending one-task /predict requests (what LS sends when a task opens) until
    stopped; the latencies of each phase."""

    def __init__(self, url: str, project: int, texts: list[str], clients: int, think: float = 0.0) -> None:
        self.url, self.project, self.texts, self.stop, self.latencies = url, project, texts, threading.Event(), []
        self.think = think  # seconds each client waits after an answer (0: as fast as answers come)
        self.threads = [threading.Thread(target=self._run, args=(k,), daemon=True) for k in range(clients)]
        for t in self.threads:
            t.start()

    def _run(self, k: int) -> None:
        body = {"project": f"{self.project}.1", "label_config": GMB_CONFIG, "params": {"context": {"result": []}}}
        n = k
        while not self.stop.is_set():
            body["tasks"] = [{"id": n, "data": {"text": self.texts[n % len(self.texts)]}}]
            started = time.perf_counter()
            call("POST", self.url + "/predict", body)
            self.latencies.append(time.perf_counter() - started)
            n += len(self.threads)
            self.stop.wait(self.think)

    def take(self) -> list[float]:
        taken, self.latencies = self.latencies, []
        return taken

    def end(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)


def percentiles(values: list[float]) -> str:
    if len(values) < 20:
        return f"{len(values)} requests"
    q = statistics.quantiles(values, n=20)
    return f"p50 {1000 * statistics.median(values):.0f} ms, p95 {1000 * q[18]:.0f} ms ({len(values)} requests)"


def under_load(url: str, project: int, served: int, sentences, heldout, clients: int, alone_s: float,
               think: float) -> dict:
    """The same training (for `project`) while `clients` send one-task requests to project `served`
    (whose model the first training made): its time against `alone_s`, and the requests' latency
    before (the load alone) and during the training."""
    load = Load(url, served, [text_and_regions(s)[0] for s in heldout], clients, think)
    try:
        time.sleep(10)  # the load alone: a baseline measured next to the same server
        before = load.take()
        loaded = run_size(url, project, sentences, text_and_regions(heldout[0])[0])
        during = load.take()
    finally:
        load.end()
    return {"loaded_loop_s": loaded["loop_s"], "slowdown": round(loaded["loop_s"] / alone_s, 2),
            "predict_alone": percentiles(before), "predict_during_training": percentiles(during)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("gmb", nargs="?", help="ner_dataset.csv (--quick: the shipped GMB sample)")
    ap.add_argument("--sizes", type=int, nargs="+", default=[50, 100, 200, 500, 1000])
    ap.add_argument("--heldout", type=int, default=500, help="GMB sentences 39001.. scored per model")
    ap.add_argument("--svg", help="also draw the learning curve (held-out F1) to this file")
    ap.add_argument("--load", type=int, default=0, metavar="CLIENTS",
                    help="also train each size again while CLIENTS threads send one-task /predict requests")
    ap.add_argument("--workers", type=int, default=1, help="gunicorn worker processes (default 1, as `up`)")
    ap.add_argument("--load-model", metavar="DIR",
                    help="with --load: the load asks a project that has no version, served by this model folder "
                         "(the serving processes' BOOTSTRAP_MODEL; trainings still start from the base model)")
    ap.add_argument("--think", type=float, default=0.0, metavar="SECONDS",
                    help="with --load: each client's pause after an answer (default 0: a saturating load)")
    ap.add_argument("--quick", action="store_true",
                    help="12 shipped sentences, 2 epochs, 20 held out: seconds, to prove the bench runs")
    args = ap.parse_args()

    if args.quick:
        corpus = read_gmb(SAMPLES / "gmb_train.csv")
        args.sizes, heldout, extra = [12], read_gmb(SAMPLES / "gmb_eval.csv")[:20], {"TRAIN_EPOCHS": "2"}
    elif args.gmb:
        corpus, extra = read_gmb(Path(args.gmb)), {}
        heldout = corpus[39000 : 39000 + args.heldout]
    else:
        ap.error("give ner_dataset.csv (or --quick)")
    with scratch_folder("loop") as work:
        port = free_port()
        redis_proc = subprocess.Popen([redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                       "--appendonly", "yes", "--dir", str(work)], stdout=subprocess.DEVNULL)
        base_env = {**ONE_NODE_ENV, "REDIS_URL": f"redis://127.0.0.1:{port}/0", "MODEL_DIR": str(work / "models"),
                    "BOOTSTRAP_MODEL": "", "SWAP_POLL_SECONDS": "0.5", "TRAIN_EVERY": "100000", "TRAIN_EPOCHS": "0", **extra}
        rows = []
        try:
            for n, size in enumerate(args.sizes):
                env = {**base_env, "MIN_ANNOTATIONS": str(size)}
                serving_env = {**env, "BOOTSTRAP_MODEL": args.load_model} if args.load_model else env
                service = Service(serving_env, workers=args.workers, log_path=work / f"backend-{size}.log")
                worker = Worker(env, work / f"worker-{size}.log")
                worker.wait_listening(env["REDIS_URL"])  # a deployed worker is up before anyone annotates
                try:
                    row = run_size(service.url, 900 + n, corpus[:size], text_and_regions(heldout[0])[0])
                    print(json.dumps(row), flush=True)  # before the loaded run: a slow one must not hide it
                    if args.load:
                        served = 990 + n if args.load_model else 900 + n  # 990+: no version, the bootstrap answers
                        row.update(under_load(service.url, 950 + n, served, corpus[:size], heldout, args.load, row["loop_s"],
                                               args.think))
                finally:
                    worker.stop()
                    service.stop()
                folder = work / "models" / "projects" / str(900 + n) / row["version"]
                row["heldout_f1"] = round(evaluate_model(Predictor.from_folder(folder), heldout)["f1"], 4)
                print(json.dumps(row), flush=True)
                rows.append(row)
        finally:
            redis_proc.terminate()
    print(f"\n{os.cpu_count()} CPU cores; held-out: {len(heldout)} GMB sentences from 39001\n")
    print("| annotated sentences | epochs | webhook -> first new prediction | of which the job "
          "| dev F1 (dev size) | held-out F1 |")
    print("|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        dev = f"{r['dev_f1']:.3f} ({r['dev_sentences']})" if r["dev_f1"] is not None else "-"
        print(f"| {r['annotations']} | {r['epochs']} | {r['loop_s']} s | {r['train_job_s']} s | {dev} | {r['heldout_f1']:.3f} |")
    if args.load:
        pause = f", each pausing {args.think} s after an answer" if args.think else ", none pausing"
        print(f"\nUnder a load of {args.load} one-task /predict clients{pause}:\n")
        print("| annotated sentences | alone | under load | slowdown | /predict alone | /predict during the training |")
        print("|---:|---:|---:|---:|---|---|")
        for r in rows:
            print(f"| {r['annotations']} | {r['loop_s']} s | {r['loaded_loop_s']} s | {r['slowdown']}x | "
                  f"{r['predict_alone']} | {r['predict_during_training']} |")
    if args.svg:
        points = [(r["annotations"], r["heldout_f1"]) for r in rows]
        Path(args.svg).write_text(learning_curve_svg(points, f"GMB: held-out F1 ({len(heldout)} sentences) by annotations"))


if __name__ == "__main__":
    main()
