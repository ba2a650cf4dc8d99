"""The Label Studio ML-backend routes: /health, /setup, /predict, /versions, /webhook, /metrics, /."""

from __future__ import annotations

import html
import logging
import time

from flask import Blueprint, Response, current_app, g, jsonify, request

from . import metrics
from .labelconfig import LabelConfigError, NerControl, parse_label_config
from .labelmap import map_types
from .protocol import (
    DELETE_ACTION,
    STORE_ACTIONS,
    PredictRequest,
    ProtocolError,
    parse_predict,
    parse_setup,
    parse_webhook,
    regions,
    task_text,
)
from .serving import ModelServer, ServedModel

log = logging.getLogger(__name__)
bp = Blueprint("api", __name__)


def _server() -> ModelServer:
    return current_app.extensions["ner"]


def _body():
    body = request.get_json(force=True, silent=True)
    if body is None:
        raise ProtocolError("the request body must be JSON")
    return body


@bp.before_app_request
def _start_timer():
    g.started = time.perf_counter()


@bp.after_app_request
def _count(response):
    endpoint = request.url_rule.rule if request.url_rule else "unmatched"
    metrics.REQUESTS.labels(endpoint, str(response.status_code)).inc()
    metrics.LATENCY.labels(endpoint).observe(time.perf_counter() - g.get("started", time.perf_counter()))
    return response


@bp.get("/health")
def health():
    return jsonify(status="UP", model_class="BertTokenClassification")


@bp.post("/setup")
def setup():
    req = parse_setup(_body())
    if req.schema is not None:
        try:
            controls = parse_label_config(req.schema)
        except LabelConfigError as exc:
            raise ProtocolError(str(exc)) from None
        _server().remember_project(req.project, req.schema, controls)
    served = _server().for_project(req.project)
    metrics.MODEL_VERSION.labels(req.project, served.version).set(1)
    return jsonify(model_version=served.version)


def _controls(req: PredictRequest) -> list[NerControl]:
    config = req.label_config or _server().project_schema(req.project)
    if not config:
        log.warning("predict for project %s without a labeling config: empty results", req.project)
        return []
    try:
        return parse_label_config(config)
    except LabelConfigError as exc:
        log.warning("predict for project %s: %s; empty results", req.project, exc)
        return []


def predict_tasks(req: PredictRequest, served: ServedModel, controls: list[NerControl], explicit: dict) -> list[dict]:
    """One LS result per task, in order; every text of every task goes through one batched call."""
    jobs = []  # (task index, control, label map, text)
    for control in controls:
        label_map = map_types(served.types, control, explicit)
        for i, task in enumerate(req.tasks):
            text = task_text(task, control)
            if text is None:
                log.info("task %s has no text in data[%r]: empty result", task.id, control.data_key)
            elif text and label_map and served.predictor is not None:
                jobs.append((i, control, label_map, text))
    predictions = served.predictor.predict([j[3] for j in jobs]) if jobs else []
    results = [{"result": [], "score": 1.0, "model_version": served.version} for _ in req.tasks]
    for (i, control, label_map, text), prediction in zip(jobs, predictions):
        results[i]["result"].extend(regions(text, prediction, control, label_map))
        results[i]["score"] = round(min(results[i]["score"], prediction.confidence), 6)
    return results


@bp.post("/predict")
def predict():
    req = parse_predict(_body())
    server = _server()
    served = server.for_project(req.project)
    results = predict_tasks(req, served, _controls(req), server.explicit_label_map)
    metrics.PREDICTED_TASKS.labels(req.project or "none").inc(len(results))
    return jsonify(results=results, model_version=served.version)


@bp.get("/versions")
def versions():
    project = request.args.get("project")
    served = _server().for_project(project)
    return jsonify(versions=[served.version])


@bp.post("/webhook")
def webhook():
    """Record annotation changes in the store and answer at once (LS waits 1 s, then gives up).

    Cancelled annotations are not training data; other actions are acknowledged and ignored.
    """
    event = parse_webhook(_body())
    store = current_app.extensions["ner_store"]
    changed = 0
    if event.label_config:
        store.save_config(event.project, event.label_config)
    if event.action in STORE_ACTIONS and event.cancelled:
        changed = store.delete_annotations(event.project, [event.annotation.annotation_id])
    elif event.action in STORE_ACTIONS:
        changed = int(store.upsert(event.project, event.annotation))
    elif event.action == DELETE_ACTION:
        changed = store.delete_annotations(event.project, list(event.deleted_ids))
    return jsonify(status="ok", action=event.action, changed=changed)


@bp.get("/metrics")
def metrics_page():
    text, content_type = metrics.render()
    return Response(text, content_type=content_type)


@bp.get("/")
def status_page():
    server = _server()
    rows = []
    for project, controls in sorted(server.projects().items()):
        served = server.for_project(project)
        labels = "; ".join(f"{c.from_name}: {', '.join(c.labels)}" for c in controls)
        rows.append(f"<tr><td>{html.escape(project)}</td><td>{html.escape(served.version)}</td>"
                    f"<td>{html.escape(labels)}</td></tr>")
    boot = server.bootstrap()
    body = (
        "<!doctype html><meta charset=utf-8><title>ner-backend</title>"
        "<h1>ner-backend</h1>"
        f"<p>Bootstrap model: <b>{html.escape(boot.version)}</b> "
        f"({html.escape(', '.join(boot.types) or 'no labels')})</p>"
        "<table border=1 cellpadding=4><tr><th>project</th><th>model version</th><th>labels</th></tr>"
        + ("".join(rows) or "<tr><td colspan=3>no project has called /setup on this process yet</td></tr>")
        + "</table>"
    )
    return Response(body, content_type="text/html; charset=utf-8")
