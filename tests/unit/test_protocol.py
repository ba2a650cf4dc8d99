"""What Label Studio sends, parsed: every refusal says what is wrong in one line, and what LS really
sends (project "3.1795679909", tasks with ids, webhooks of each action) comes through."""

from __future__ import annotations

import json

import pytest

from backend.labelstudio import bodies, protocol
from backend.labelstudio.protocol import ProtocolError, TooLarge, Task

CONFIG = '<View><Labels name="label" toName="text"><Label value="PER"/></Labels><Text name="text" value="$text"/></View>'
REGION = {"from_name": "label", "to_name": "text", "type": "labels",
          "value": {"start": 0, "end": 5, "text": "Angela", "labels": ["PER"]}}


@pytest.mark.parametrize("value, expected", [("3", "3"), (3, "3"), ("3.1795679909", "3"), (" 12 ", "12"), ("007", "7")])
def test_project_ids_ls_sends(value, expected):
    assert protocol.project_id(value) == expected


@pytest.mark.parametrize("value", [True, -1, 10**18, "3.x", "abc", "", None, 3.5, "1" * 19, "٣"])
def test_project_ids_refused(value):
    with pytest.raises(ProtocolError, match="'project' must be a project id"):
        protocol.project_id(value)


@pytest.mark.parametrize("raw, message", [
    (b"\xff\xfe", "encoded as UTF-8"),
    (b"", "must be JSON"),
    (b'{"a": NaN}', "NaN is not a number"),
    (b'{"a": 1e999}', "1e999 is not a finite number"),
    (b"[" * 200 + b"]" * 200, "nests deeper than"),
])
def test_bodies_that_are_not_strict_json(raw, message):
    with pytest.raises(ProtocolError, match=message):
        protocol.parse_json(raw)


def test_a_bom_is_tolerated_and_numbers_stay_numbers():
    assert protocol.parse_json(b'\xef\xbb\xbf{"a": [1, 2.5]}') == {"a": [1, 2.5]}


def test_setup():
    assert protocol.parse_setup({"project": "4.17", "schema": CONFIG}) == protocol.SetupRequest("4", CONFIG)
    with pytest.raises(ProtocolError, match="missing 'project'"):
        protocol.parse_setup({"schema": CONFIG})
    with pytest.raises(ProtocolError, match="'schema' must be a labeling config string"):
        protocol.parse_setup({"project": 1, "schema": 5})
    with pytest.raises(TooLarge):
        protocol.parse_setup({"project": 1, "schema": "x" * (protocol.MAX_CONFIG_CHARS + 1)})
    with pytest.raises(ProtocolError, match="must be a JSON object"):
        protocol.parse_setup([1])


def test_predict_as_ls_sends_it_and_what_is_refused():
    body = {"project": "2.1795679909", "label_config": CONFIG, "params": {"context": {"result": []}},
            "tasks": [{"id": 7, "data": {"text": "Angela Merkel"}}, "junk", {"id": 8, "data": "junk"}]}
    req = protocol.parse_predict(body)
    assert (req.project, req.label_config, req.interactive) == ("2", CONFIG, True)
    assert req.tasks == [Task(7, {"text": "Angela Merkel"}), Task(None, {}), Task(8, {})]  # unusable: no regions
    assert protocol.parse_predict({"tasks": [{"id": 1, "data": {}, "project": 9}]}).project == "9"
    for bad, message in [({"tasks": {}}, "'tasks' must be a list"), ({"tasks": []}, "'tasks' is empty"),
                         ({"tasks": [{}], "label_config": 3}, "'label_config' must be a string")]:
        with pytest.raises(ProtocolError, match=message):
            protocol.parse_predict(bad)
    with pytest.raises(TooLarge, match="MAX_TASKS_PER_REQUEST is 2"):
        protocol.parse_predict({"tasks": [{}] * 3}, max_tasks=2)


def test_text_sizes_name_the_task_and_the_request():
    from backend.labelstudio.labelconfig import parse_label_config

    controls = parse_label_config(CONFIG)
    tasks = [Task(1, {"text": "a" * 10}), Task(2, {"text": "b" * 30})]
    protocol.check_text_sizes(tasks, controls, max_chars=30, max_total=40)
    with pytest.raises(TooLarge, match="task 2: data\\['text'\\] has 30 characters"):
        protocol.check_text_sizes(tasks, controls, max_chars=29, max_total=100)
    with pytest.raises(TooLarge, match="40 characters in all"):
        protocol.check_text_sizes(tasks, controls, max_chars=30, max_total=39)


def test_webhooks_of_each_action():
    created = protocol.parse_webhook(bodies.annotation_event(5, 11, "Angela Merkel", [REGION], ann_id=21, config=CONFIG))
    assert (created.action, created.project, created.annotation.task_id, created.annotation.annotation_id) == (
        bodies.CREATED, "5", 11, 21)
    assert created.label_config == CONFIG and not created.cancelled
    deleted = protocol.parse_webhook(bodies.deleted_event(5, [21, 22]))
    assert (deleted.action, deleted.deleted_ids) == (bodies.DELETED, (21, 22))
    other = protocol.parse_webhook({"action": "PROJECT_UPDATED"})
    assert other == protocol.WebhookEvent("PROJECT_UPDATED", None)  # acknowledged, nothing kept


@pytest.mark.parametrize("change, message", [
    (lambda b: b.pop("action"), "missing 'action'"),
    (lambda b: b["task"].update(data="x"), "'task.data' must be an object"),
    (lambda b: b["annotation"].update(result={}), "'annotation.result' must be a list"),
    (lambda b: b["annotation"].update(id=True), "'annotation.id' must be an integer id"),
    (lambda b: b["task"].update(id="11"), "'task.id' must be an integer id"),
    (lambda b: b["annotation"]["result"].append(3), r"'annotation.result\[1\]' must be an object"),
    (lambda b: b["annotation"]["result"][0]["value"].update(start=9), "0 <= start <= end"),
    (lambda b: b["annotation"]["result"][0]["value"].update(start=True), "must be integers"),
    (lambda b: b["annotation"]["result"][0]["value"].update(labels=[]), "list of label names"),
    (lambda b: b["annotation"]["result"][0]["value"].update(text=5), "value.text must be a string"),
])
def test_webhook_refusals_say_what_is_wrong(change, message):
    body = json.loads(json.dumps(bodies.annotation_event(5, 11, "Angela Merkel", [REGION], ann_id=21, config=CONFIG)))
    change(body)
    with pytest.raises(ProtocolError, match=message):
        protocol.parse_webhook(body)


def test_a_deletion_needs_a_list_of_ids():
    with pytest.raises(ProtocolError, match="'annotations' must be a list"):
        protocol.parse_webhook({"action": bodies.DELETED, "project": {"id": 5}, "annotations": 21})
    with pytest.raises(ProtocolError, match="annotation id must be an integer id"):
        protocol.parse_webhook({"action": bodies.DELETED, "project": {"id": 5}, "annotations": [{"id": "x"}]})


def test_an_unusable_label_config_in_a_webhook_is_ignored_not_fatal():
    body = bodies.annotation_event(5, 11, "Angela Merkel", [REGION], ann_id=21, config="\ud800 lone surrogate")
    assert protocol.parse_webhook(body).label_config is None
