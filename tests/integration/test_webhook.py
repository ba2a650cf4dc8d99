"""/webhook through the Flask app (the test client) into a real redis-server; test_loop covers it
through gunicorn."""

from __future__ import annotations

import pytest

from backend.labelstudio import bodies
from tests.support.servers import free_port
from tests.support.lsdata import CONFIG

def ls_project(project: str) -> dict:
    """The project object LS puts in every webhook."""
    return {"id": int(project), "title": "p", "label_config": CONFIG}


def event(project, action, ann_id=11, task_id=5, when="2026-11-01T10:00:00Z", cancelled=False,
          text="Angela Merkel met Obama"):
    """LS 1.23's ANNOTATION_CREATED / ANNOTATION_UPDATED for one PER region."""
    region = {"id": "r1", "from_name": "label", "to_name": "text", "type": "labels",
              "value": {"start": 0, "end": 13, "text": "Angela Merkel", "labels": ["PER"]}}
    return bodies.annotation_event(int(project), task_id, text, [region], ann_id=ann_id, when=when, action=action,
                                     config=CONFIG, cancelled=cancelled)


@pytest.fixture()
def service(client):
    return client


@pytest.fixture()
def store(stores):
    return stores.annotations


def post(client, body):
    reply = client.post("/webhook", json=body)
    return reply.status_code, reply.get_json()


def test_created_updated_redelivered_deleted(service, store, project):
    created = post(service, event(project, "ANNOTATION_CREATED"))
    assert created == (200, {"status": "ok", "action": "ANNOTATION_CREATED", "changed": 1})
    assert post(service, event(project, "ANNOTATION_CREATED"))[1]["changed"] == 0  # re-delivery is harmless
    (ann,) = store.annotations(project)
    assert (ann.task_id, ann.annotation_id, ann.data["text"]) == (5, 11, "Angela Merkel met Obama")
    assert ann.result[0]["value"]["labels"] == ["PER"]
    assert store.config(project) == CONFIG

    newer = event(project, "ANNOTATION_UPDATED", when="2026-11-02T10:00:00Z")
    newer["annotation"]["result"] = []
    assert post(service, newer)[1]["changed"] == 1
    assert store.annotations(project)[0].result == []
    assert post(service, event(project, "ANNOTATION_UPDATED"))[1]["changed"] == 0  # an older one, late

    deleted = bodies.deleted_event(int(project), [11], CONFIG)
    assert post(service, deleted)[1]["changed"] == 1
    assert store.annotations(project) == []
    assert post(service, deleted)[1]["changed"] == 0


def test_cancelled_annotations_are_not_training_data(service, store, project):
    assert post(service, event(project, "ANNOTATION_CREATED", ann_id=21, task_id=6, cancelled=True))[1]["changed"] == 0
    assert all(a.task_id != 6 for a in store.annotations(project))


def test_other_actions_are_acknowledged_and_ignored(service, project):
    for action in ("PROJECT_UPDATED", "TASKS_CREATED", "START_TRAINING"):
        assert post(service, {"action": action, "project": ls_project(project)})[0] == 200


@pytest.mark.parametrize(
    "body, message",
    [
        (lambda project: {"annotation": {}}, "missing 'action'"),
        (lambda project: {"action": "ANNOTATION_CREATED", "project": {"id": "x/../y"}}, "project id"),
        (lambda project: {**event(project, "ANNOTATION_CREATED"), "task": {"id": 5, "data": "text"}}, "task.data"),
        (lambda project: {"action": "ANNOTATIONS_DELETED", "annotations": "all", "project": ls_project(project)},
         "'annotations' must be a list"),
    ],
)
def test_bad_webhooks_get_a_clear_4xx(service, body, message, project):
    status, reply = post(service, body(project))
    assert status == 400 and message in reply["error"], reply


def test_store_down_is_a_503_not_a_silent_drop(tmp_path, project):
    from backend.web.app import create_app
    from backend.config import Settings

    down = create_app(Settings(redis_url=f"redis://127.0.0.1:{free_port()}/0", model_dir=str(tmp_path / "models")))
    status, reply = post(down.test_client(), event(project, "ANNOTATION_CREATED"))
    assert status == 503 and "unavailable" in reply["error"]
    assert down.test_client().get("/health").status_code == 200


def _with_region(project, value, region_type="labels") -> bytes:
    import json

    body = event(project, "ANNOTATION_CREATED", task_id=9)
    body["annotation"]["result"] = [{"from_name": "label", "to_name": "text", "type": region_type, "value": value}]
    return json.dumps(body).encode()


GOOD = {"start": 0, "end": 6, "text": "Angela", "labels": ["PER"]}


INFINITE = [(b'"start": Infinity', "Infinity is not a number"), (b'"start": NaN', "NaN is not a number"),
            (b'"start": 1e999', "1e999 is not a finite number")]
UNREADABLE = [([1], "value must be an object"),
              ({**GOOD, "labels": {"a": 1}}, "labels must be a list of label names"),
              ({**GOOD, "labels": 5}, "labels must be a list of label names"),
              ({**GOOD, "labels": [""]}, "labels must be a list of label names"),
              ({**GOOD, "start": 2.0}, "must be integers with 0 <= start <= end"),
              ({**GOOD, "start": 7}, "must be integers with 0 <= start <= end"),
              ({**GOOD, "end": True}, "must be integers with 0 <= start <= end")]


@pytest.mark.parametrize("raw, message", [
    *[(lambda project, bad=bad: _with_region(project, GOOD).replace(b'"start": 0', bad), message)
      for bad, message in INFINITE],
    *[(lambda project, value=value: _with_region(project, value), message) for value, message in UNREADABLE],
])
def test_a_region_training_could_not_read_is_refused_and_nothing_is_stored(service, store, raw, message, project):
    before = store.count(project)
    reply = service.post("/webhook", data=raw(project), content_type="application/json")
    assert reply.status_code == 400 and message in reply.get_json()["error"], reply.get_json()
    assert store.count(project) == before


def test_regions_of_other_controls_pass_as_they_are(service, store, project):
    import json

    body = event(project, "ANNOTATION_CREATED", ann_id=31, task_id=10)
    body["annotation"]["result"].append({"from_name": "sentiment", "to_name": "text", "type": "choices",
                                         "value": {"choices": ["positive"]}})
    reply = service.post("/webhook", data=json.dumps(body), content_type="application/json")
    assert reply.status_code == 200 and reply.get_json()["changed"] == 1


def test_a_labeling_config_too_large_to_keep_is_refused_on_setup_and_ignored_on_webhooks(service, store, project):
    from backend.labelstudio.protocol import MAX_CONFIG_CHARS

    huge = CONFIG.replace("</View>", "<!--" + "x" * MAX_CONFIG_CHARS + "--></View>")
    reply = service.post("/setup", json={"project": project, "schema": huge})
    assert reply.status_code == 413 and str(MAX_CONFIG_CHARS) in reply.get_json()["error"]
    body = event(project, "ANNOTATION_CREATED", ann_id=41, task_id=41)
    body["project"] = {**ls_project(project), "label_config": huge}
    assert post(service, body)[1]["changed"] == 1
    assert store.config(project) != huge


def test_an_annotation_of_a_text_over_max_task_chars_is_refused_and_nothing_is_stored(service, store, project):
    """Stored, a 2,000,000-character text made every later training of its project split it into
    words (and run out of memory)."""
    text = "Angela Merkel met Obama . " * 80_000  # 2,080,000 characters
    before = store.count(project)
    status, reply = post(service, event(project, "ANNOTATION_CREATED", ann_id=51, task_id=51, text=text))
    assert status == 413 and "MAX_TASK_CHARS is 1000000" in reply["error"] and "data['text']" in reply["error"]
    assert store.count(project) == before
    # cancelling it needs no text kept: acknowledged
    assert post(service, event(project, "ANNOTATION_CREATED", ann_id=52, task_id=51, text=text, cancelled=True))[0] == 200


def test_made_up_project_ids_cannot_grow_the_store_past_max_projects(trained_folder, own_database, tmp_path):
    from backend.config import Settings
    from backend.state.keys import ProjectKeys
    from backend.web.app import create_app

    db = own_database  # the limit counts every project in the database
    app = create_app(Settings(redis_url=db, model_dir=str(tmp_path), bootstrap_model=str(trained_folder),
                              max_projects=2))
    client = app.test_client()
    stores = app.extensions["ner"].stores

    def setup(project):
        reply = client.post("/setup", json={"project": f"{project}.1", "schema": CONFIG})
        return reply.status_code, reply.get_json()

    def annotate(project, task=1):
        body = bodies.annotation_event(project, task, "Angela Merkel met Obama", [], config=CONFIG)
        reply = client.post("/webhook", json=body)
        return reply.status_code, reply.get_json()

    assert setup(1)[0] == 200 and annotate(2)[0] == 200  # two projects: the limit
    status, reply = setup(3)
    assert status == 403 and "MAX_PROJECTS=2" in reply["error"]
    status, reply = annotate(4)
    assert status == 403 and "MAX_PROJECTS=2" in reply["error"]
    assert stores.annotations.config("3") is None and stores.annotations.count("4") == 0  # nothing kept
    assert not stores.client.exists(ProjectKeys("4").label_config)
    assert annotate(1, task=2)[0] == 200 and annotate(2, task=3)[0] == 200 and setup(2)[0] == 200  # the admitted go on
    body = {"tasks": [{"id": 1, "data": {"text": "Angela Merkel met Obama"}}], "project": "5.1", "label_config": CONFIG}
    reply = client.post("/predict", json=body)
    assert reply.status_code == 200 and reply.get_json()["results"]  # any id is still served ...
    assert stores.quota.count() == 2 and not stores.quota.known("5")  # ... but keeps nothing
