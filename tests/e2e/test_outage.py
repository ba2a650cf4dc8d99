"""Redis killed with SIGKILL and restarted on the same append-only file, under the real service
(gunicorn, 2 workers) and the product's own embedded Redis (backend.ops.processes.start_redis)."""

from __future__ import annotations

import shutil
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from backend.ops.processes import LoopbackProcess, start_redis, wait_for_redis
from backend.state import client
from backend.state.annotations import AnnotationStore
from backend.state.registry import ModelRegistry
from tests.support.lsdata import GMB_CONFIG, annotation_event
from tests.support.servers import Service, call, free_port, send_webhooks, wait_until

PROJECT = 31


def _predict(service) -> tuple[int, dict]:
    body = {"tasks": [{"id": 1, "data": {"text": "Angela Merkel flew to Paris on Monday ."}}],
            "project": f"{PROJECT}.1795679909", "label_config": GMB_CONFIG}
    status, reply, _ = call("POST", service.url + "/predict", body)
    return status, reply


@pytest.mark.slow  # kills and restarts redis-server under a live gunicorn
def test_redis_sigkill_and_restart_loses_no_acknowledged_annotation(trained_folder, gmb_train, tmp_path):
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    redis_proc = start_redis(tmp_path, port).proc
    wait_for_redis(url, redis_proc)
    # The project serves a promoted version of its own.
    registry = ModelRegistry(str(tmp_path / "models"), redis.Redis.from_url(url))
    version, folder = registry.new_version(str(PROJECT))
    shutil.copytree(trained_folder, folder)
    registry.promote(str(PROJECT), version)
    service = Service({"REDIS_URL": url, "MODEL_DIR": str(tmp_path / "models"), "BOOTSTRAP_MODEL": "",
                       "MIN_ANNOTATIONS": "1000000", "SWAP_POLL_SECONDS": "0.5", "QUEUE_NAME": "outage"},
                      workers=2, log_path=tmp_path / "service.log")
    try:
        wait_until("the promoted version to be served", lambda: {
            _predict(service)[1]["model_version"] for _ in range(6)} == {version}, timeout=20, every=0.3)

        before = [annotation_event(PROJECT, i + 1, s) for i, s in enumerate(gmb_train[:200])]
        replies = send_webhooks(service, before, threads=8)
        acknowledged = [b for b, (status, _, _) in zip(before, replies) if status == 200]
        assert len(acknowledged) == len(before)

        redis_proc.send_signal(signal.SIGKILL)
        redis_proc.wait()
        # While Redis is down: predictions go on with the served model; webhooks get a prompt,
        # clear 503 (LS marks the webhook failed) instead of a silent drop.
        for _ in range(10):
            status, reply = _predict(service)
            assert status == 200 and reply["model_version"] == version and reply["results"][0]["result"]
        during = [annotation_event(PROJECT, 500 + i, s) for i, s in enumerate(gmb_train[200:220])]
        outage = send_webhooks(service, during, threads=8)
        assert {status for status, _, _ in outage} == {503}
        assert all("unavailable" in reply["error"] for _, reply, _ in outage)
        slowest = max(t for _, _, t in outage)
        print(f"webhook 503 during the outage: median {sorted(t for _, _, t in outage)[len(outage) // 2] * 1000:.0f} ms, "
              f"max {slowest * 1000:.0f} ms")
        assert slowest < 1.0, f"an outage 503 took {slowest:.2f} s (LS gives a webhook 1 s)"
        assert call("GET", service.url + "/health")[0] == 200
        assert call("POST", service.url + "/setup", {"project": str(PROJECT), "schema": GMB_CONFIG})[1] == {
            "model_version": version}

        # Same port, same append-only file: the backend reconnects by itself, no restart.
        redis_proc = start_redis(tmp_path, port).proc
        wait_for_redis(url, redis_proc)
        after = send_webhooks(service, during, threads=8)  # LS's retry of what failed, and nothing else
        assert [status for status, _, _ in after] == [200] * len(during), after[:3]

        stored = {a.task_id: a for a in AnnotationStore(client(url)).annotations(str(PROJECT))}
        expected = {b["task"]["id"]: b for b in acknowledged + during}
        assert set(stored) == set(expected)
        for task_id, body in expected.items():
            assert stored[task_id].result == body["annotation"]["result"]
            assert stored[task_id].data == body["task"]["data"]
        for _ in range(6):
            status, reply = _predict(service)
            assert status == 200 and reply["model_version"] == version
    finally:
        service.stop()
        redis_proc.terminate()
        redis_proc.wait(timeout=10)


def answers(url: str) -> bool:
    """Whether the service answers within 0.2 s (a busy single thread does not)."""
    try:
        return call("GET", url, timeout=0.2)[0] == 200
    except OSError:
        return False


@pytest.mark.slow  # a gunicorn made slow on purpose
def test_a_webhook_ls_gave_up_on_is_still_stored(trained_folder, redis_url, gmb_train, gmb_eval, tmp_path, project):
    """LS waits 1 s for a webhook. When every serving thread is busy predicting, it gives up, but
    the request has already been delivered: the backend still stores the annotation."""
    service = Service({"REDIS_URL": redis_url, "MODEL_DIR": str(tmp_path / "models"), "THREADS": "1",
                       "BOOTSTRAP_MODEL": str(trained_folder), "MIN_ANNOTATIONS": "1000000"},
                      workers=1, log_path=tmp_path / "service.log")
    long_text = "  ".join(" ".join(s.words) for s in gmb_eval)[:100_000]
    # 8 texts of 100,000 characters: busy for seconds even on a CPU with AMX (2 were done in about 1 s)
    busy = {"tasks": [{"id": i, "data": {"text": long_text}} for i in range(8)], "project": project, "label_config": GMB_CONFIG}
    try:
        with ThreadPoolExecutor(1) as pool:
            predicting = pool.submit(call, "POST", service.url + "/predict", busy)
            wait_until("the only thread to be busy predicting", lambda: not answers(service.url + "/health"))
            body = annotation_event(int(project), 1, gmb_train[0])
            started = time.monotonic()
            try:
                call("POST", service.url + "/webhook", body, timeout=1.0)
                gave_up = False
            except OSError:  # LS's 1 s timeout
                gave_up = True
            assert gave_up and time.monotonic() - started < 2
            assert predicting.result()[0] == 200
        store = AnnotationStore(client(redis_url))
        wait_until("the abandoned webhook to be stored", lambda: store.annotations(project), timeout=30)
        assert store.annotations(project)[0].result == body["annotation"]["result"]
    finally:
        service.stop()


@pytest.mark.slow  # a gunicorn made slow on purpose
def test_behind_the_front_a_webhook_is_answered_while_every_prediction_thread_is_busy(
        trained_folder, redis_url, gmb_train, gmb_eval, tmp_path, project):
    """As `up` runs it: the same busy pool, but the front answers the webhook in its own process,
    within LS's second; everything else still reaches the pool through it, and a pool that is gone
    is reported in JSON."""
    service = Service({"REDIS_URL": redis_url, "MODEL_DIR": str(tmp_path / "models"), "THREADS": "1",
                       "BOOTSTRAP_MODEL": str(trained_folder), "MIN_ANNOTATIONS": "1000000",
                       "MAX_REQUEST_BYTES": "1000000"},
                      workers=1, log_path=tmp_path / "service.log", front=True)
    long_text = "  ".join(" ".join(s.words) for s in gmb_eval)[:100_000]
    busy = {"tasks": [{"id": i, "data": {"text": long_text}} for i in range(2)], "project": project, "label_config": GMB_CONFIG}
    try:
        direct = call("POST", service.pool_url + "/predict", {**busy, "tasks": busy["tasks"][:1]})
        through = call("POST", service.url + "/predict", {**busy, "tasks": busy["tasks"][:1]})
        assert through[0] == 200 and through[1] == direct[1]  # the same answer, forwarded whole
        versions = f"/versions?project={project}"
        assert call("GET", service.url + versions)[1] == call("GET", service.pool_url + versions)[1]
        assert call("POST", service.url + "/predict", raw=b"{not json")[0] == 400  # the pool's own errors pass through
        status, reply, _ = call("POST", service.url + "/predict", raw=b" " * 1_500_000)
        assert status == 413 and "MAX_REQUEST_BYTES" in reply["error"]  # the front never holds more than the pool takes
        with ThreadPoolExecutor(1) as pool:
            predicting = pool.submit(call, "POST", service.url + "/predict", busy)
            wait_until("the pool's only thread to be busy predicting", lambda: not answers(service.pool_url + "/health"))
            body = annotation_event(int(project), 1, gmb_train[0])
            started = time.monotonic()
            status, reply, headers = call("POST", service.url + "/webhook", body, timeout=1.0)
            assert status == 200 and reply["changed"] == 1 and time.monotonic() - started < 1.0
            assert headers["X-Worker"] != through[2]["X-Worker"]  # answered by the front's process
            assert predicting.result()[0] == 200
        assert AnnotationStore(client(redis_url)).annotations(project)[0].result == body["annotation"]["result"]
        LoopbackProcess.stop(service)  # the pool alone goes away
        status, reply, _ = call("POST", service.url + "/predict", busy)
        assert status == 502 and "prediction pool unavailable" in reply["error"]
        assert call("POST", service.url + "/webhook", annotation_event(int(project), 2, gmb_train[1]))[0] == 200
    finally:
        service.stop()
