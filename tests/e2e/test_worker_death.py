"""A worker SIGKILLed mid-training, as an operator would meet it: the project recovers by itself,
without waiting for another annotation (real gunicorn, redis-server and RQ worker processes)."""

from __future__ import annotations

import os
import signal
import time
import uuid

import pytest
import redis
from rq.job import Job

from backend.state.keys import ProjectKeys
from tests.support.lsdata import annotation_event
from tests.support.servers import Service, Worker, descendants, send_webhooks, trainings, wait_for_training, wait_until

pytestmark = pytest.mark.slow  # waits out a 15 s lease


@pytest.fixture
def service(redis_url, tmp_path):
    env = {
        "REDIS_URL": redis_url, "MODEL_DIR": str(tmp_path / "models"), "QUEUE_NAME": f"death-{uuid.uuid4().hex[:8]}",
        "MIN_ANNOTATIONS": "30", "TRAIN_EVERY": "10", "BOOTSTRAP_MODEL": "", "MAX_F1_DROP": "1",
        "TRAIN_THREADS": "1",
    }
    service = Service(env, workers=1, log_path=tmp_path / "backend.log")
    service.env = env
    yield service
    service.stop()


def test_a_trigger_inside_a_dead_jobs_lease_still_trains_without_another_annotation(service, gmb_train, redis_url,
                                                                                       tmp_path, new_project):
    project = int(new_project())
    client = redis.Redis.from_url(redis_url)
    events = [annotation_event(project, 700 + i, s) for i, s in enumerate(gmb_train[240:300])]
    assert len(events) == 60
    first = Worker(service.env, tmp_path / "first-worker.log")
    first.wait_listening(redis_url)

    # 30 annotations start a training; 20 more arrive while it runs, so a successor waits behind it
    assert all(status == 200 for status, _, _ in send_webhooks(service, events[:30]))
    running = wait_until("the training to start and hold its lease", lambda: [
        r for r in trainings(service, project) if r["status"] == "running"] if client.exists(
        ProjectKeys(str(project)).job_alive) else None, timeout=120, every=0.2)
    assert all(status == 200 for status, _, _ in send_webhooks(service, events[30:50]))
    successor = client.get(ProjectKeys(str(project)).job_waiting).decode()
    assert Job.fetch(successor, connection=client).dependency_ids == [running[0]["job_id"]]

    for pid in [first.proc.pid, *descendants(first.proc.pid)]:  # the worker and its work horse
        os.kill(pid, signal.SIGKILL)
    first.proc.wait()
    first.log.close()

    # a new worker; 10 more annotations one second later, inside the dead job's lease: the trigger
    # joins the successor that waits on the dead job
    second = Worker(service.env, tmp_path / "second-worker.log")
    started = time.monotonic()
    try:
        time.sleep(1)  # the scenario's own pacing, not a wait for a state
        replies = send_webhooks(service, events[50:])
        assert all(status == 200 for status, _, _ in replies)
        assert any(reply.get("training", {}).get("job_id") == successor for _, reply, _ in replies)

        def promoted_with_all_60(records):
            return any(r["status"] == "promoted" and r["annotations"] == 60 for r in records)

        records = wait_for_training(service, project, 2, timeout=150, done=promoted_with_all_60)
        took = time.monotonic() - started
        assert took < 150
        assert records[0]["job_id"] == running[0]["job_id"] and records[0]["status"] == "abandoned"
        print(f"\n[worker death] promoted with all 60 annotations {took:.1f} s after the new worker started")
    finally:
        second.stop()
