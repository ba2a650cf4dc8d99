"""The cold start in the service: imports and connecting ask for a cover job, /predict and the
status page carry the cold-start order while no model of the project's own orders the tasks."""

from __future__ import annotations

import uuid

import pytest
from rq import Queue

from backend.config import Settings
from backend.labelstudio import bodies
from backend.web.app import create_app, start_serving
from tests.support.lsdata import CONFIG, ls_predict_body


@pytest.fixture()
def ls_app(trained_folder, redis_url, tmp_path):
    """A serving process configured to write task scores to a Label Studio (never called here)."""
    settings = Settings(redis_url=redis_url, model_dir=str(tmp_path / "models"), bootstrap_model=str(trained_folder),
                        label_map="geo=LOC,gpe=LOC", queue_name=f"cover-{uuid.uuid4().hex[:8]}",
                        label_studio_url="http://127.0.0.1:9", label_studio_api_key="token")
    app = start_serving(create_app(settings))
    yield app
    app.extensions["ner"].server.stop_watching()


def cover_jobs(app) -> list[str]:
    ours = app.extensions["ner"]
    queue = Queue(ours.settings.queue_name, connection=ours.stores.client)
    return [job.func_name for job in queue.jobs]


def test_connecting_and_importing_ask_for_one_cover_job_at_a_time(ls_app, project):
    client = ls_app.test_client()
    assert client.post("/setup", json={"project": project, "schema": CONFIG}).status_code == 200
    assert cover_jobs(ls_app) == ["worker.jobs.cover_tasks"]  # connected, no model, no order yet
    reply = client.post("/webhook", json=bodies.tasks_created_event(int(project), [1, 2], CONFIG)).get_json()
    assert reply["cover"] is None  # one is waiting already: a burst of imports asks once
    ls_app.extensions["ner"].stores.queue.cover_started(project)  # the job began reading the tasks
    reply = client.post("/webhook", json=bodies.tasks_created_event(int(project), [3], CONFIG)).get_json()
    assert reply["cover"].startswith(f"cover-{project}-") and len(cover_jobs(ls_app)) == 2


def test_predict_and_the_status_page_carry_the_cold_start_order(ls_app, project):
    client = ls_app.test_client()
    cover = ls_app.extensions["ner"].stores.cover
    made = cover.save(project, {1: 0.5, 2: 0.0})
    tasks = [{"text": "Iraqi officials met U.S. envoys in Baghdad ."}, {"text": "Obama spoke in Paris ."},
             {"text": "Rain in Rome ."}]
    reply = client.post("/predict", json=ls_predict_body(tasks, project=f"{project}.5")).get_json()
    results = reply["results"]
    assert [r["score"] for r in results[:2]] == [0.5, 0.0]  # the bootstrap model does not order tasks
    assert results[2]["score"] not in (0.5, 0.0) and results[0]["result"]  # unordered: the model's own; spans stay
    client.post("/setup", json={"project": project, "schema": CONFIG})
    page = client.get("/").get_data(as_text=True)
    assert f"the cold-start order {made.version} (2 tasks), since {made.since}" in page
