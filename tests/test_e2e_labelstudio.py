"""End to end with a real Label Studio 1.23: connect the backend, retrieve predictions, read them back."""

from __future__ import annotations

import pytest

from tests.servers import Service, call
from tests.labelstudio import LabelStudio
from tests.test_service import CONFIG

pytestmark = pytest.mark.slow

TEXTS = [
    "Iraqi officials met U.S. envoys in Baghdad on Sunday .",
    "😀 President  Bush\tflew to Baghdad on Monday",
    "nothing to see here",
]


@pytest.fixture(scope="module")
def label_studio(tmp_path_factory):
    root = tmp_path_factory.mktemp("labelstudio")
    ls = LabelStudio(root, root / "labelstudio.log")
    yield ls
    ls.stop()


@pytest.fixture(scope="module")
def backend(trained_folder, tmp_path_factory):
    svc = Service({"BOOTSTRAP_MODEL": str(trained_folder), "LABEL_MAP": "geo=LOC,gpe=LOC"},
                  log_path=tmp_path_factory.mktemp("backend") / "backend.log")
    yield svc
    svc.stop()


def _tasks(ls: LabelStudio, project: int) -> list[dict]:
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
        utf16 = text.encode("utf-16-le")
        for region in pred["result"]:
            value = region["value"]
            assert utf16[2 * value["start"] : 2 * value["end"]].decode("utf-16-le") == value["text"]
            assert region["from_name"] == "label" and region["to_name"] == "text"
            assert value["labels"][0] in ("LOC", "PER", "TIME")
            found.add((value["text"], value["labels"][0]))
    assert ("Baghdad", "LOC") in found
