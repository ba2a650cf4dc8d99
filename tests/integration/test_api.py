"""The Flask app through its test client (real Redis, a small real model): offsets in code points,
object tags we cannot serve named clearly, and JSON that strict parsers accept."""

from __future__ import annotations

import json
import logging

import pytest

from backend.labelstudio import bodies
from backend.ner.evaluation import score
from tests.support.lsdata import HARD_TEXTS, hard_regions
from tests.support.lsdata import CONFIG, ls_predict_body
from worker.training.dataset import project_data

HYPERTEXT_CONFIG = ('<View><Labels name="label" toName="html"><Label value="LOC"/></Labels>'
                    '<HyperText name="html" value="$html"/></View>')
PARAGRAPHS_CONFIG = ('<View><ParagraphLabels name="label" toName="dialogue"><Label value="LOC"/></ParagraphLabels>'
                     '<Paragraphs name="dialogue" value="$dialogue" layout="dialogue"/></View>')
MIXED_CONFIG = ('<View><Labels name="label" toName="text"><Label value="LOC"/><Label value="PER"/></Labels>'
                '<Text name="text" value="$text"/>'
                '<Labels name="html_label" toName="html"><Label value="LOC"/></Labels>'
                '<HyperText name="html" value="$html"/></View>')


def strict_json(response) -> object:
    """The body parsed as JSON that browsers' JSON.parse accepts: NaN or Infinity fail the test."""
    def refuse(constant):
        raise AssertionError(f"{response.request.path} answered {constant}, which is not JSON")

    assert response.mimetype == "application/json", (response.request.path, response.mimetype)
    return json.loads(response.get_data(as_text=True), parse_constant=refuse)


def test_predictions_on_hard_texts_are_code_point_slices(client):
    texts = [t for t, _ in HARD_TEXTS]
    reply = strict_json(client.post("/predict", json=ls_predict_body([{"text": t} for t in texts])))
    regions = [(text, r["value"]) for text, item in zip(texts, reply["results"]) for r in item["result"]]
    assert regions, "the model found no entity in any hard text"
    for text, value in regions:
        assert text[value["start"]:value["end"]] == value["text"], (text, value)
    baghdad = [v for text, v in regions if text == HARD_TEXTS[4][0] and v["text"] == "Baghdad"]
    assert [(v["start"], v["end"]) for v in baghdad] == [(32, 39)]  # UTF-16 units would say 35-42


def test_webhook_annotations_on_hard_texts_train_on_the_same_words(client, stores, project):
    for n, (text, entities) in enumerate(HARD_TEXTS):
        body = bodies.annotation_event(int(project), n + 1, text, hard_regions(text, entities), ann_id=100 + n,
                                         when="2026-11-27T10:00:00Z", config=CONFIG)
        assert strict_json(client.post("/webhook", json=body))["changed"] == 1
    store = stores.annotations
    stored = {a.task_id: a for a in store.annotations(project)}
    data = project_data(list(stored.values()), [])
    assert not data.skipped and data.tasks == len(HARD_TEXTS)
    for n, (text, entities) in enumerate(HARD_TEXTS):
        assert stored[n + 1].data["text"] == text  # \r\n, tabs, combining marks kept as sent
        for region in stored[n + 1].result:
            value = region["value"]
            assert text[value["start"]:value["end"]] == value["text"]
        (sentence,) = data.sentences[n + 1]
        words = sentence.words
        marked = [" ".join(words[i] for i, t in enumerate(sentence.tags) if t != "O")]
        assert marked == [" ".join(w for e in entities for w in _words(e))]


def _words(text: str) -> list[str]:
    from backend.ner.words import split_words

    return [w.text for w in split_words(text)]


@pytest.mark.parametrize("config, tag", [(HYPERTEXT_CONFIG, "<HyperText"), (PARAGRAPHS_CONFIG, "<Paragraphs"),
                                         (MIXED_CONFIG, "<HyperText")])
def test_setup_refuses_object_tags_it_cannot_place(client, config, tag, project):
    response = client.post("/setup", json={"project": project, "schema": config})
    assert response.status_code == 400
    error = strict_json(response)["error"]
    assert "<Text>" in error and tag in error, error


def test_predict_leaves_unsupported_controls_empty_and_says_why(client, caplog):
    tasks = [{"text": "Iraqi officials met U.S. envoys in Baghdad .", "html": "<p>Baghdad</p>"}]
    with caplog.at_level(logging.WARNING, logger="backend.labelstudio.protocol"):
        reply = strict_json(client.post("/predict", json=ls_predict_body(tasks, config=MIXED_CONFIG)))
    (item,) = reply["results"]
    assert item["result"], "the <Text> control must still be predicted"
    assert {r["to_name"] for r in item["result"]} == {"text"}
    assert any('<HyperText name="html">' in rec.getMessage() for rec in caplog.records)


def test_no_endpoint_emits_nan_or_infinity(client, stores, project):
    # A training record as an earlier version stored it: seqeval's macro F1 of a dev split without
    # entities was NaN, and /projects/<id>/trainings sent it as NaN, which is not JSON.
    history = stores.history
    order, records = history._keys(project)
    job = f"train-{project}-1"
    history.r.hset(records, job, f'{{"job_id": "{job}", "status": "promoted", '
                   '"dev": {"f1": 0.0, "macro_f1": NaN, "per_label": {}}, "duration_s": Infinity}')
    history.r.rpush(order, job)
    answers = [
        client.get("/health"),
        client.post("/setup", json={"project": project, "schema": CONFIG}),
        client.post("/predict", json=ls_predict_body([{"text": HARD_TEXTS[0][0]}], project=project)),
        client.get(f"/versions?project={project}"),
        client.post("/webhook", json={"action": "PROJECT_UPDATED", "project": {"id": int(project)}}),
        client.get(f"/projects/{project}/trainings"),
        client.post("/predict", data=b"{not json"),  # errors are JSON too
        client.get("/no-such-page"),
    ]
    answered = [strict_json(a) for a in answers]
    (record,) = answered[5]["trainings"]
    assert record["dev"]["macro_f1"] is None and record["duration_s"] is None and record["dev"]["f1"] == 0.0


def test_health_names_the_class_trainings_build_on_the_base_encoder(client, tmp_path):
    from backend.ner.basemodel import model_class

    assert client.get("/health").get_json()["model_class"] == "BertForTokenClassification"  # the packaged MiniLM
    (tmp_path / "config.json").write_text('{"model_type": "roberta"}')
    assert model_class(str(tmp_path)) == "RobertaForTokenClassification"
    assert model_class(str(tmp_path / "missing")).startswith("unknown (")  # /health still answers


def test_scores_without_entities_are_null_not_nan():
    figures = score([["O", "O"]], [["O", "O"]])
    assert figures["macro_f1"] is None and figures["f1"] == 0.0
    json.dumps(figures, allow_nan=False)


def test_a_process_that_never_saw_setup_predicts_with_the_stored_config(client, app, project):
    from backend.web.app import create_app

    assert client.post("/setup", json={"project": project, "schema": CONFIG}).status_code == 200
    other = create_app(app.extensions["ner"].settings)  # another gunicorn worker: its own memory, same Redis
    try:
        body = ls_predict_body([{"text": "Iraqi officials met U.S. envoys in Baghdad ."}], project=project, config=None)
        (item,) = strict_json(other.test_client().post("/predict", json=body))["results"]
        assert ("Baghdad", ["LOC"]) in [(r["value"]["text"], r["value"]["labels"]) for r in item["result"]]
    finally:
        other.extensions["ner"].server.stop_watching()


def test_status_page_is_a_template_that_escapes_what_came_from_outside(client, stores, project):
    from backend.state.history import Training

    hostile = '<script>alert("x")</script>'
    config = CONFIG.replace('value="PER"', 'value="PER&lt;b&gt;"')
    assert client.post("/setup", json={"project": project, "schema": config}).status_code == 200
    stores.history.save(project, Training("train-816-1", status="failed", error=hostile))
    pushed = Training("train-816-2", status="promoted", version="v2-x", serving={"precision": "bf16"},
                      push={"version": "v2-x", "status": "failed", "tasks": 40, "pushed": 20, "error": hostile})
    stores.history.save(project, pushed)
    response = client.get("/")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert "bootstrap-" in page and f"Project {project}" in page
    assert hostile not in page and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    assert "PER<b>" not in page and "PER&lt;b&gt;" in page
    assert "served in fp32 (no fast-path check recorded for this version" in page  # the fixture model has none
    assert "<td>bf16</td>" in page and "failed: 20 of 40 (&lt;script&gt;" in page


def test_metrics_bound_project_labels_and_show_only_served_versions(client, app, trained_folder, project):
    import re
    import shutil

    from backend.web import metrics

    for n in range(metrics.MAX_PROJECT_LABELS + 10):
        client.post("/predict", json=ls_predict_body([{"text": ""}], project=str(9000 + n)))
    text = client.get("/metrics").get_data(as_text=True)
    labels = set(re.findall(r'ner_predicted_tasks_total\{project="([^"]+)"\}', text))
    assert metrics.OTHER in labels and len(labels) <= metrics.MAX_PROJECT_LABELS + 1
    registry = app.extensions["ner"].stores.registry
    versions = []
    for _ in range(2):
        version, path = registry.new_version(project)
        shutil.copytree(trained_folder, path)
        registry.promote(project, version)
        versions.append(version)
    text = client.get("/metrics").get_data(as_text=True)
    assert f'ner_model_version_info{{project="{project}",version="{versions[1]}"}} 1.0' in text
    assert versions[0] not in text  # a version no longer served leaves no series behind


def test_a_predict_over_max_request_chars_is_refused_before_any_word_is_made(client):
    """33 texts of 999,999 characters fit a 32 MiB body and used to become about 7 GB of words."""
    text = ("Angela Merkel met Obama in Paris . " * 30_000)[:999_999]
    reply = client.post("/predict", json=ls_predict_body([{"text": text}] * 5))
    assert reply.status_code == 413
    assert "4999995 characters in all; MAX_REQUEST_CHARS is 4000000" in reply.get_json()["error"]


def test_texts_are_predicted_in_bounded_slices_in_order(predictor, monkeypatch):
    """What a request or a push batch holds at once is one slice's words, whatever its total."""
    from backend.labelstudio import protocol
    from backend.labelstudio.labelconfig import parse_label_config
    from backend.labelstudio.protocol import Task, task_results
    from backend.serving import ServedModel

    monkeypatch.setattr(protocol, "PREDICT_SLICE_CHARS", 100)
    calls = []
    real = predictor.predict

    def recording(texts):
        calls.append(sum(len(t) for t in texts))
        return real(texts)

    monkeypatch.setattr(predictor, "predict", recording)
    served = ServedModel("v", predictor, predictor.labels, False)
    texts = [f"Angela Merkel met officials in Paris on day {i} ." for i in range(9)]  # 47 characters each
    results = task_results([Task(i, {"text": t}) for i, t in enumerate(texts)], "1", served,
                           parse_label_config(CONFIG), {"geo": "LOC", "gpe": "LOC"})
    assert calls == [94, 94, 94, 94, 47]
    whole = task_results([Task(i, {"text": t}) for i, t in enumerate(texts)][:1], "1", served,
                         parse_label_config(CONFIG), {"geo": "LOC", "gpe": "LOC"})
    def spans(result):
        return [(r["value"]["start"], r["value"]["end"], r["value"]["labels"]) for r in result["result"]]

    assert spans(results[0]) == spans(whole[0]) and all(spans(r) for r in results)
