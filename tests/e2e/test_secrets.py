"""Secrets stay secret: with basic auth and an LS API key configured, no response and no log line of
the service (gunicorn) or the training worker (RQ) ever carries the password or the key, even
when requests fail, credentials are wrong, and a re-sync from an unreachable LS fails."""

from __future__ import annotations

import base64
import secrets
import uuid

import pytest
import redis

from backend.labelstudio import bodies
from tests.support.lsdata import GMB_CONFIG, annotation_event
from tests.support.servers import Service, Worker, call, free_port, wait_until

@pytest.mark.slow  # gunicorn, a worker, a training and a push: the full suite runs it
def test_no_response_or_log_line_carries_a_secret(trained_folder, redis_url, gmb_train, tmp_path, project):
    pid = int(project)  # the id LS sends in its bodies
    password, api_key = f"pw-{secrets.token_hex(12)}", f"key-{secrets.token_hex(20)}"
    env = {"REDIS_URL": redis_url, "MODEL_DIR": str(tmp_path / "models"), "BOOTSTRAP_MODEL": str(trained_folder),
           "QUEUE_NAME": f"secrets-{uuid.uuid4().hex[:8]}", "BASIC_AUTH_USER": "ls", "BASIC_AUTH_PASS": password,
           "LABEL_STUDIO_URL": f"http://127.0.0.1:{free_port()}", "LABEL_STUDIO_API_KEY": api_key,
           "MIN_ANNOTATIONS": "1000000"}
    service = Service(env, workers=1, log_path=tmp_path / "service.log")
    worker = Worker(env, tmp_path / "worker.log")
    auth = ("ls", password)
    seen: list[str] = []

    def ask(method, path, body=None, raw=None, credentials=auth):
        status, reply, headers = call(method, service.url + path, body, raw=raw, auth=credentials)
        seen.append(f"{status} {dict(headers)} {reply}")
        return status, reply

    try:
        predict = {"tasks": [{"id": 1, "data": {"text": "Obama visited Paris ."}}], "project": f"{pid}.1",
                   "label_config": GMB_CONFIG, "params": {"login": "ls", "password": password}}
        assert ask("POST", "/setup", {"project": project, "schema": GMB_CONFIG, "access_token": api_key})[0] == 200
        assert ask("POST", "/predict", predict)[0] == 200
        for body in [annotation_event(pid, 1 + i, s) for i, s in enumerate(gmb_train[:3])]:
            assert ask("POST", "/webhook", body)[0] == 200
        for wrong in [None, ("ls", password[:-1]), ("ls", ""), (password, password)]:
            assert ask("POST", "/predict", predict, credentials=wrong)[0] == 401
        for path, raw in [("/predict", b"{oops"), ("/setup", b'{"project": "x"}'), ("/webhook", b'{"action": 5}')]:
            assert ask("POST", path, raw=raw)[0] == 400
        # START_TRAINING re-syncs from LS with the key first: LS is unreachable here, so the re-sync
        # fails, its error is recorded and logged, it stays asked for, and the job trains on what
        # the webhooks stored.
        assert ask("POST", "/webhook", bodies.start_training_event(pid))[0] == 200
        done = wait_until("the training to finish", lambda: [
            t for t in ask("GET", f"/projects/{pid}/trainings")[1]["trainings"] if t["status"] != "running"],
            timeout=120, every=1)
        assert done[0]["resync_error"] and done[0]["status"] == "promoted" and done[0]["annotations"] == 3, done
        assert redis.Redis.from_url(redis_url).get(f"ner:project:{pid}:resync") == b"1"
        for path in ["/", "/metrics", f"/versions?project={pid}", "/health"]:
            assert ask("GET", path)[0] == 200
    finally:
        worker.stop()
        service.stop()

    logs = (tmp_path / "service.log").read_text(errors="replace") + (tmp_path / "worker.log").read_text(errors="replace")
    assert f"train-{pid}-1" in logs and f"push-{pid}-" in logs  # the logs did record the work
    basic = base64.b64encode(f"ls:{password}".encode()).decode()
    for secret in (password, api_key, basic):
        assert not [s for s in seen if secret in s], f"a response carries {secret[:6]}..."
        assert secret not in logs, f"a log line carries {secret[:6]}..."
