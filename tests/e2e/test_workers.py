"""Several workers on one Redis and one model store: two projects annotated at once train at the
same time, each on its own worker, and every serving process serves both new versions (real
gunicorn, redis-server and two RQ worker processes)."""

from __future__ import annotations

import uuid

import pytest
import redis
from rq.job import Job

from tests.support.lsdata import annotation_event
from tests.support.servers import Service, Worker, call, send_webhooks, wait_for_training, wait_until

pytestmark = pytest.mark.slow  # two workers training side by side (~1 minute)


def test_two_workers_train_two_projects_at_once_and_both_versions_are_served(gmb_train, redis_url, tmp_path,
                                                                              new_project):
    env = {"REDIS_URL": redis_url, "MODEL_DIR": str(tmp_path / "models"), "QUEUE_NAME": f"two-{uuid.uuid4().hex[:8]}",
           "MIN_ANNOTATIONS": "12", "TRAIN_EVERY": "1000", "BOOTSTRAP_MODEL": "", "MAX_F1_DROP": "1",
           "TRAIN_THREADS": "1", "TRAIN_EPOCHS": "8", "SWAP_POLL_SECONDS": "0.5"}
    service = Service(env, workers=2, log_path=tmp_path / "backend.log")
    workers = [Worker(env, tmp_path / f"worker-{n}.log") for n in range(2)]
    client = redis.Redis.from_url(redis_url)
    projects = [int(new_project()) for _ in range(2)]
    try:
        for worker in workers:
            worker.wait_listening(redis_url)
        events = [annotation_event(p, 100 + i, s) for i, s in enumerate(gmb_train[180:192]) for p in projects]
        assert len(events) == 24 and all(status == 200 for status, _, _ in send_webhooks(service, events, threads=4))
        records = {p: wait_for_training(service, p, 1, timeout=300) for p in projects}
        jobs = {p: [Job.fetch(r["job_id"], connection=client) for r in records[p]] for p in projects}
        for p in projects:
            assert [r["status"] for r in records[p]] == ["promoted"], records[p]
        (a,), (b,) = jobs.values()
        assert a.worker_name != b.worker_name  # one worker each ...
        assert len({records[p][0]["worker"] for p in projects}) == 2  # ... as the records say too
        assert a.started_at < b.ended_at and b.started_at < a.ended_at  # ... at the same time
        versions = {p: records[p][-1]["version"] for p in projects}

        def every_process_serves_both() -> bool:
            seen = [{p: call("GET", f"{service.url}/versions?project={p}")[1].get("current") for p in projects}
                    for _ in range(8)]  # gunicorn's two processes answer in turn
            return all(s == versions for s in seen)
        wait_until("both serving processes to serve both new versions", every_process_serves_both, timeout=30)
    finally:
        for worker in workers:
            worker.stop()
        service.stop()
