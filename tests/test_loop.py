"""The active-learning loop with real parts: gunicorn (2 workers) -> redis-server -> an RQ worker
process training MiniLM -> a promoted version that every serving process swaps in."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from backend.store import AnnotationStore
from tests.lsdata import GMB_CONFIG, annotation_event, entity_f1, text_and_regions
from tests.servers import ROOT, Service, call

MIN_ANNOTATIONS = 60


class Worker:
    """`ner-backend worker` in a subprocess."""

    def __init__(self, env: dict[str, str], log_path) -> None:
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "backend.cli", "worker"], cwd=ROOT,
                                     env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
                                     stdout=self.log, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


@pytest.fixture(scope="module")
def loop(redis_url, tmp_path_factory):
    logs = tmp_path_factory.mktemp("loop-logs")
    env = {
        "REDIS_URL": redis_url, "MODEL_DIR": str(tmp_path_factory.mktemp("model-store")),
        "QUEUE_NAME": f"loop-{uuid.uuid4().hex[:8]}", "MIN_ANNOTATIONS": str(MIN_ANNOTATIONS), "TRAIN_EVERY": "10",
        "TRAIN_LR": "3e-4", "MAX_F1_DROP": "1", "SWAP_POLL_SECONDS": "0.5", "BOOTSTRAP_MODEL": "",
    }
    service = Service(env, workers=2, log_path=logs / "backend.log")
    worker = Worker(env, logs / "worker.log")
    yield service, AnnotationStore(redis.Redis.from_url(redis_url))
    worker.stop()
    service.stop()


def setup_call(service, project: int) -> tuple[str, str]:
    status, reply, headers = call("POST", service.url + "/setup", {"project": f"{project}.17", "schema": GMB_CONFIG})
    assert status == 200, reply
    return reply["model_version"], headers["X-Worker"]


def predict_call(service, project: int, texts: list[str]) -> dict:
    body = {"tasks": [{"id": i, "data": {"text": t}} for i, t in enumerate(texts)], "project": f"{project}.17",
            "label_config": GMB_CONFIG}
    status, reply, _ = call("POST", service.url + "/predict", body)
    assert status == 200, reply
    return reply


def trainings(service, project: int) -> list[dict]:
    status, reply, _ = call("GET", f"{service.url}/projects/{project}/trainings")
    assert status == 200, reply
    return reply["trainings"]


def wait_for_training(service, project: int, count: int, timeout: float = 300) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        records = trainings(service, project)
        if len(records) >= count and all(r["status"] != "running" for r in records):
            return records
        time.sleep(1)
    pytest.fail(f"project {project}: {count} training(s) did not finish in {timeout:.0f} s: {records}")


def send(service, bodies: list[dict], threads: int = 4) -> list[tuple[int, dict, float]]:
    def one(body):
        started = time.monotonic()
        status, reply, _ = call("POST", service.url + "/webhook", body)
        return status, reply, time.monotonic() - started

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, bodies))


def score(reply: dict, gold: list[set]) -> float:
    predicted = [{(r["value"]["start"], r["value"]["end"], r["value"]["labels"][0]) for r in item["result"]}
                 for item in reply["results"]]
    return entity_f1(gold, predicted)


def test_webhooks_train_promote_and_every_worker_swaps(loop, gmb_train, gmb_eval):
    service, store = loop
    project = 101
    held_out = [text_and_regions(s) for s in gmb_eval[:40]]
    texts = [t for t, _ in held_out]
    gold = [{(r["value"]["start"], r["value"]["end"], r["value"]["labels"][0]) for r in regions}
            for _, regions in held_out]
    assert {setup_call(service, project)[0] for _ in range(6)} == {"untrained"}
    before = predict_call(service, project, texts)
    assert score(before, gold) == 0.0 and before["model_version"] == "untrained"

    # Requests sent continuously while the model is trained and swapped in must all succeed.
    seen, failures, stop = [], [], threading.Event()

    def keep_predicting():
        while not stop.is_set():
            try:
                reply = predict_call(service, project, texts[:4])
                seen.append(reply["model_version"])
                assert len(reply["results"]) == 4
            except Exception as exc:  # noqa: BLE001 - any failure is the finding
                failures.append(repr(exc))

    pinger = threading.Thread(target=keep_predicting)
    pinger.start()
    try:
        replies = send(service, [annotation_event(project, i + 1, s) for i, s in enumerate(gmb_train[:MIN_ANNOTATIONS])])
        assert all(status == 200 for status, _, _ in replies)
        assert sum("training" in reply for _, reply, _ in replies) == 1  # only the 60th annotation triggers
        (record,) = wait_for_training(service, project, 1)
        assert record["status"] == "promoted", record
        version = record["version"]
        # Every gunicorn worker serves the new version within seconds.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with ThreadPoolExecutor(8) as pool:
                answers = list(pool.map(lambda _: setup_call(service, project), range(24)))
            if {v for v, _ in answers} == {version} and len({w for _, w in answers}) == 2:
                break
            time.sleep(0.5)
        assert {v for v, _ in answers} == {version} and len({w for _, w in answers}) == 2, answers
    finally:
        stop.set()
        pinger.join()
    assert not failures, failures[:3]
    assert seen[0] == "untrained" and seen[-1] == version and len(seen) > 5
    assert seen == sorted(seen, key=lambda v: v != "untrained"), "a request went back to the old model"

    assert record["annotations"] == MIN_ANNOTATIONS and record["train_sentences"] + record["dev_sentences"] == 60
    assert record["dev"]["f1"] is not None and record["warm_start"] == "base"
    after = predict_call(service, project, texts)
    assert after["model_version"] == version and score(after, gold) > 0.2, score(after, gold)
    assert call("GET", f"{service.url}/versions?project={project}")[1]["versions"] == [version]
    status, svg, headers = call("GET", f"{service.url}/projects/{project}/learning-curve.svg")
    assert status == 200 and headers["Content-Type"].startswith("image/svg+xml") and "<circle" in svg
    page = call("GET", service.url + "/")[1]
    assert f"Project {project}" in page and version in page and "learning-curve.svg" in page
