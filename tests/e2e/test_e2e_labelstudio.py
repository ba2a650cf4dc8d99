"""End to end with a real Label Studio 1.23: connect the backend, retrieve predictions, read them
back; annotate through the SDK, let the worker train, and see LS re-predict with the new version."""

from __future__ import annotations

import json
import urllib.parse
import uuid

import pytest
import redis

from backend.state.annotations import AnnotationStore
from tests.support.lsdata import GMB_CONFIG, text_and_regions
from tests.support.lsdata import CONFIG
from tests.support.servers import Service, Worker, call, trainings, wait_for_training, wait_until

pytestmark = pytest.mark.slow

TEXTS = [
    "Iraqi officials met U.S. envoys in Baghdad on Sunday .",
    "😀 President  Bush\tflew to Baghdad on Monday",
    "nothing to see here",
]


@pytest.fixture(scope="module")
def backend(trained_folder, tmp_path_factory):
    svc = Service({"BOOTSTRAP_MODEL": str(trained_folder), "LABEL_MAP": "geo=LOC,gpe=LOC"},
                  log_path=tmp_path_factory.mktemp("backend") / "backend.log")
    yield svc
    svc.stop()


def _tasks(ls, project: int) -> list[dict]:
    reply = ls.api("GET", f"/api/tasks?project={project}&page_size=100")
    tasks = reply["tasks"] if isinstance(reply, dict) else reply
    return sorted(tasks, key=lambda t: t["id"])


def test_label_studio_stores_our_predictions(label_studio, backend):
    ls = label_studio
    project = ls.api("POST", "/api/projects", {"title": "ner e2e", "label_config": CONFIG})["id"]
    ls.api("POST", f"/api/projects/{project}/import", [{"text": t} for t in TEXTS])
    ls.api("POST", "/api/ml", {"project": project, "url": backend.url, "title": "ner-backend", "is_interactive": False})
    version = call("POST", backend.url + "/setup", {"project": str(project), "schema": CONFIG})[1]["model_version"]

    ls.api("POST", f"/api/dm/actions?id=retrieve_tasks_predictions&project={project}",
           {"selectedItems": {"all": True, "excluded": []}})

    tasks = _tasks(ls, project)
    assert [t["data"]["text"] for t in tasks] == TEXTS
    found = set()
    for task in tasks:
        text = task["data"]["text"]
        predictions = ls.api("GET", f"/api/predictions?task={task['id']}")
        assert len(predictions) == 1, f"task {task['id']} has {len(predictions)} predictions"
        pred = predictions[0]
        assert pred["model_version"] == version
        assert 0.0 <= pred["score"] <= 1.0
        for region in pred["result"]:
            value = region["value"]
            assert text[value["start"] : value["end"]] == value["text"]
            assert region["from_name"] == "label" and region["to_name"] == "text"
            assert value["labels"][0] in ("LOC", "PER", "TIME")
            found.add((value["text"], value["labels"][0]))
    assert ("Baghdad", "LOC") in found


@pytest.fixture(scope="module")
def learning_backend(label_studio, redis_url, tmp_path_factory):
    """A backend and a worker that train from LS's webhooks and re-sync through the SDK."""
    logs = tmp_path_factory.mktemp("learning")
    env = {
        "REDIS_URL": redis_url, "MODEL_DIR": str(logs / "models"), "QUEUE_NAME": f"e2e-{uuid.uuid4().hex[:8]}",
        "MIN_ANNOTATIONS": "12", "TRAIN_EVERY": "1000", "MAX_F1_DROP": "1", "SWAP_POLL_SECONDS": "0.5",
        "LABEL_STUDIO_URL": label_studio.url, "LABEL_STUDIO_API_KEY": label_studio.token, "BOOTSTRAP_MODEL": "",
    }
    service = Service(env, log_path=logs / "backend.log")
    worker = Worker(env, logs / "worker.log")
    yield service
    worker.stop()
    service.stop()


def _prediction_versions(client, tasks) -> set:
    return {p.model_version for t in tasks for p in client.predictions.list(task=t)}


def _retrieve_until(client, project, tasks, version, timeout=60) -> None:
    def retrieved() -> bool:
        client.actions.create(project=project, id="retrieve_tasks_predictions",
                              selected_items={"all": True, "excluded": []})
        return version in _prediction_versions(client, tasks)

    wait_until(f"LS to store a prediction of {version}", retrieved, timeout, every=1)


def _connected_project(label_studio, backend, title: str, sentences, annotated: int):
    """(SDK client, project id, task ids): a new LS project holding `sentences` as tasks, connected
    to `backend`, with the first `annotated` of them annotated in LS (each a webhook)."""
    from label_studio_sdk.client import LabelStudio as SDK

    client = SDK(base_url=label_studio.url, api_key=label_studio.token)
    project = client.projects.create(title=title, label_config=GMB_CONFIG).id
    client.projects.import_tasks(id=project, request=[{"text": text_and_regions(s)[0]} for s in sentences])
    tasks = sorted(t.id for t in client.tasks.list(project=project))
    client.ml.create(project=project, url=backend.url, title="ner-backend", is_interactive=False)
    for task, sentence in zip(tasks[:annotated], sentences):
        client.annotations.create(id=task, result=text_and_regions(sentence)[1])
    return client, project, tasks


def test_annotations_in_label_studio_train_a_model_it_then_uses(label_studio, learning_backend, gmb_train, redis_url):
    # 12 annotations made in LS reach the backend as webhooks; the 12th triggers a training.
    sentences = gmb_train[:14]
    client, project, tasks = _connected_project(label_studio, learning_backend, "ner learning", sentences, 12)
    (first,) = wait_for_training(learning_backend, project, 1)
    assert first["status"] == "promoted" and first["annotations"] == 12, first
    _retrieve_until(client, project, tasks, first["version"])

    # Two more annotations, one of whose webhooks the backend "missed"; "Start training" re-syncs.
    for task, sentence in zip(tasks[12:], sentences[12:]):
        client.annotations.create(id=task, result=text_and_regions(sentence)[1])
    store = AnnotationStore(redis.Redis.from_url(redis_url))
    # (taken out as a re-sync takes out what LS no longer lists: a deletion in LS would be final)
    lost = [a for a in store.annotations(str(project)) if a.task_id == tasks[13]]
    assert store.delete_unchanged(str(project), lost) == 1 and store.count(str(project)) == 13
    (ml_backend,) = client.ml.list(project=project)
    client.ml.train(id=ml_backend.id)
    second = wait_for_training(learning_backend, project, 2)[-1]
    assert second["status"] == "promoted" and second["annotations"] == 14, second
    assert second["warm_start"] == f"current:{first['version']}"
    setup = {"project": str(project), "schema": GMB_CONFIG}  # every serving process swaps within a poll and a load
    wait_until("the backend to serve the new version", lambda: call(
        "POST", learning_backend.url + "/setup", setup)[1]["model_version"] == second["version"], timeout=30, every=0.5)
    _retrieve_until(client, project, tasks, second["version"])
    assert len(trainings(learning_backend, project)) == 2


def test_a_promotion_writes_predictions_for_every_unlabelled_task_and_the_data_manager_sorts_by_them(
        label_studio, learning_backend, gmb_train):
    """Nobody opens a task or asks for predictions: the push after the promotion puts the new
    version's prediction on every unlabelled task, and the Data Manager's order by prediction
    score is the order of our task scores."""
    client, project, tasks = _connected_project(label_studio, learning_backend, "ner push", gmb_train[20:52], 12)
    records = wait_for_training(learning_backend, project, 1, timeout=600, done=lambda rs: (rs[-1].get("push") or {}).get(
        "status") in ("done", "failed"))
    record = records[-1]
    assert record["status"] == "promoted", record
    pruned = record["push"].pop("pruned")
    assert pruned > 0, record  # the cold start's order, on the tasks unlabelled when it was written
    assert record["push"] == {"version": record["version"], "status": "done", "tasks": 20, "pushed": 20,
                              "error": None}, record

    assert client.projects.get(id=project).model_version == record["version"]
    unlabelled = tasks[12:]
    scores = {}
    for task in unlabelled:
        (prediction,) = [p for p in client.predictions.list(task=task) if p.model_version == record["version"]]
        scores[task] = prediction.score
    assert len(set(scores.values())) > 5, scores  # the order below is not a tie
    query = {"ordering": ["tasks:predictions_score"], "filters": {"conjunction": "and", "items": [
        {"filter": "filter:tasks:total_annotations", "operator": "equal", "type": "Number", "value": 0}]}}
    listed = label_studio.api("GET", f"/api/tasks?project={project}&page_size=100&fields=task_only&query="
                              + urllib.parse.quote(json.dumps(query)))
    listed = listed["tasks"] if isinstance(listed, dict) else listed
    order = [t["id"] for t in listed]
    assert sorted(order) == unlabelled
    in_order = [scores[t] for t in order]
    assert in_order == sorted(in_order), list(zip(order, in_order, [t.get("predictions_score") for t in listed]))


def test_a_project_with_no_model_is_ordered_to_cover_its_data_from_the_first_task(label_studio, learning_backend, gmb_train):
    """Connecting the backend to a project with 30 tasks and no model: the worker orders the tasks
    (cold start), LS gets a prediction of that order on every task, selected, so the Data Manager's
    "prediction score, ascending" is the covering order before anyone has annotated anything; /predict
    and the status page say the same."""
    client, project, tasks = _connected_project(label_studio, learning_backend, "ner cold start", gmb_train[60:90], 0)

    def selected():
        version = client.projects.get(id=project).model_version
        return version if version and version.startswith("coldstart-") else None

    version = wait_until("the cold-start order to be selected in LS", selected, timeout=300, every=1)
    scores = {}
    for task in tasks:
        (prediction,) = [p for p in client.predictions.list(task=task) if p.model_version == version]
        assert prediction.result == []  # no model yet: nothing to pre-annotate, only the order
        scores[task] = prediction.score
    assert sorted(scores.values()) == [round(rank / 30, 6) for rank in range(30)]  # one place each
    first = sorted(tasks, key=scores.get)[:6]
    assert first != tasks[:6]  # not the import order
    query = {"ordering": ["tasks:predictions_score"]}
    listed = label_studio.api("GET", f"/api/tasks?project={project}&page_size=100&fields=task_only&query="
                              + urllib.parse.quote(json.dumps(query)))
    listed = listed["tasks"] if isinstance(listed, dict) else listed
    assert [t["id"] for t in listed][:6] == first
    text = text_and_regions(gmb_train[60 + tasks.index(first[0])])[0]
    body = {"project": f"{project}.1", "label_config": GMB_CONFIG, "tasks": [{"id": first[0], "data": {"text": text}}]}
    assert call("POST", learning_backend.url + "/predict", body)[1]["results"][0]["score"] == scores[first[0]]
    # every serving process lists the project, whichever of them answered LS's /setup
    for _ in range(4):
        assert f"the cold-start order {version} (30 tasks)" in call("GET", learning_backend.url + "/")[1]
