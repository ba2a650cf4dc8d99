"""The Label Studio ML-backend routes and the JSON API: /health, /setup, /predict, /versions, /webhook,
/projects/<id>/..., /metrics."""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import asdict

import redis
import torch
from flask import Blueprint, Response, current_app, g, jsonify, request

from . import metrics
from .labelconfig import LabelConfigError, NerControl, parse_label_config, unsupported_message
from .protocol import (
    DELETE_ACTION,
    STORE_ACTIONS,
    TRAIN_ACTION,
    PredictRequest,
    ProtocolError,
    parse_json,
    parse_predict,
    parse_setup,
    parse_webhook,
    task_results,
)
from .history import TrainingHistory
from .quality import QualityLog
from .plots import learning_curve_svg
from .registry import ModelRegistry, RegistryError
from .serving import ModelServer
from .store import AnnotationStore

log = logging.getLogger(__name__)
FIRST_LOAD_WAIT_S = 2.0  # the first request of a project in a process may wait this long for its model
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"
bp = Blueprint("api", __name__)


def _server() -> ModelServer:
    return current_app.extensions["ner"]


def _store() -> AnnotationStore:
    return current_app.extensions["ner_store"]


def _registry() -> ModelRegistry:
    return _server().registry


def _history() -> TrainingHistory:
    return current_app.extensions["ner_history"]


def _quality() -> QualityLog:
    return current_app.extensions["ner_quality"]


def _body():
    return parse_json(request.get_data(cache=False))


@bp.before_app_request
def _start_timer():
    g.started = time.perf_counter()


@bp.after_app_request
def _count(response):
    endpoint = request.url_rule.rule if request.url_rule else "unmatched"
    metrics.REQUESTS.labels(endpoint, str(response.status_code)).inc()
    metrics.LATENCY.labels(endpoint).observe(time.perf_counter() - g.get("started", time.perf_counter()))
    response.headers["X-Worker"] = WORKER_ID  # which serving process answered (hot-swap checks, debugging)
    return response


@bp.get("/health")
def health():
    return jsonify(status="UP", model_class="BertTokenClassification", torch_threads=torch.get_num_threads())


@bp.post("/setup")
def setup():
    req = parse_setup(_body())
    if req.schema is not None:
        try:
            controls = parse_label_config(req.schema)
        except LabelConfigError as exc:
            raise ProtocolError(str(exc)) from None
        refusal = unsupported_message(controls)
        if refusal:  # connecting would show regions LS cannot place: say so at connect time
            raise ProtocolError(refusal)
        _server().remember_project(req.project, req.schema, controls)
        try:  # the worker trains with this config's labels; /setup must not fail for want of it
            _store().save_config(req.project, req.schema)
        except redis.RedisError as exc:
            log.warning("could not save project %s's labeling config: %s", req.project, exc)
    served = _server().for_project(req.project, wait=FIRST_LOAD_WAIT_S)
    return jsonify(model_version=served.version)


def _stored_config(project: str | None) -> str | None:
    """The project's config as /setup or a webhook saved it in Redis: every serving process finds
    it, not only the one that answered /setup."""
    if project is None:
        return None
    try:
        return _store().config(project)
    except redis.RedisError as exc:
        log.warning("could not read project %s's labeling config: %s", project, exc)
        return None


def _controls(req: PredictRequest) -> list[NerControl]:
    config = req.label_config or _server().project_schema(req.project) or _stored_config(req.project)
    if not config:
        log.warning("predict for project %s without a labeling config: empty results", req.project)
        return []
    try:
        return parse_label_config(config)
    except LabelConfigError as exc:
        log.warning("predict for project %s: %s; empty results", req.project, exc)
        return []


@bp.post("/predict")
def predict():
    req = parse_predict(_body())
    server = _server()
    served = server.for_project(req.project, wait=FIRST_LOAD_WAIT_S)
    results = task_results(req.tasks, req.project, served, _controls(req), server.explicit_label_map)
    _remember_served(req, served.version if served.predictor is not None else None, results)
    metrics.PREDICTED_TASKS.labels(metrics.project_label(req.project)).inc(len(results))
    return jsonify(results=results, model_version=served.version)


def _remember_served(req: PredictRequest, version: str | None, results: list[dict]) -> None:
    """Record what each task was shown, to compare with its annotation (in the background: never
    delays nor fails a prediction)."""
    if req.project is None or version is None:
        return
    shown = {t.id: r["result"] for t, r in zip(req.tasks, results) if isinstance(t.id, int) and not isinstance(t.id, bool)}
    current_app.extensions["ner_served"].record(req.project, version, shown)


@bp.get("/versions")
def versions():
    """The project's promoted versions, oldest first (the bootstrap model's when it has none)."""
    project = request.args.get("project")
    promoted = _registry().versions(_project_arg(project)) if project else []
    served = _server().for_project(project)
    return jsonify(versions=promoted or [served.version], current=served.version)


@bp.post("/webhook")
def webhook():
    """Record annotation changes in the store, maybe enqueue a training, and answer at once
    (LS waits 1 s, then gives up). Cancelled annotations are not training data; other actions
    are acknowledged and ignored."""
    event = parse_webhook(_body())
    store = _store()
    changed = 0
    if event.label_config:
        store.save_config(event.project, event.label_config)
    if event.action in STORE_ACTIONS and event.cancelled:
        changed = store.delete_annotations(event.project, [event.annotation.annotation_id])
        _compare(event.project, _quality().forget, [event.annotation.annotation_id])
    elif event.action in STORE_ACTIONS:
        changed = int(store.upsert(event.project, event.annotation))
        ann = event.annotation
        if changed:  # a stale re-delivery must not replace the comparison of the newer annotation
            _compare(event.project, _quality().record_annotation, ann.task_id, ann.annotation_id, ann.result)
    elif event.action == DELETE_ACTION:
        changed = store.delete_annotations(event.project, list(event.deleted_ids))
        _compare(event.project, _quality().forget, list(event.deleted_ids))
    queue = current_app.extensions["ner_queue"]
    training = None
    if event.action == TRAIN_ACTION:
        training = queue.request(event.project, resync=True)
    elif changed:
        training = queue.after_change(store, event.project)
    reply = {"status": "ok", "action": event.action, "changed": changed}
    if training is not None:
        reply["training"] = {"job_id": training.job_id, "coalesced": training.coalesced}
    return jsonify(reply)


def _compare(project: str, update, *args) -> None:
    """Run a QualityLog update for `project`; the annotation is stored already, so a Redis failure
    here is logged, not answered with an error."""
    try:
        update(project, *args)
    except redis.RedisError as exc:
        log.warning("project %s: pre-annotation figures not updated (%s): %s", project, update.__name__, exc)


def _project_arg(raw: str) -> str:
    try:
        _registry().project_dir(raw)  # the one rule for project ids that may name a folder
    except RegistryError:
        raise ProtocolError(f"invalid project id {raw!r}: expected digits") from None
    return raw


@bp.get("/projects/<raw>/trainings")
def trainings(raw: str):
    """The project's training history, oldest first, and the version it serves."""
    project = _project_arg(raw)
    records = [asdict(t) for t in _history().all(project)]
    return jsonify(project=project, current=_registry().current(project), trainings=records)


@bp.get("/projects/<raw>/quality")
def quality(raw: str):
    """What each version's pre-annotations saved the annotators, in total and per label."""
    project = _project_arg(raw)
    return jsonify(project=project, current=_registry().current(project), versions=_quality().summary(project))


@bp.get("/projects/<raw>/learning-curve.svg")
def learning_curve(raw: str):
    project = _project_arg(raw)
    points = [(t.annotations, t.f1) for t in _history().all(project) if t.f1 is not None]
    svg = learning_curve_svg(points, f"project {project}: dev F1 by annotations")
    return Response(svg, content_type="image/svg+xml")


@bp.get("/metrics")
def metrics_page():
    try:
        current = _registry().all_current()
        quality = _quality().newest(_store().projects()[:metrics.MAX_PROJECT_LABELS])
    except redis.RedisError:
        current, quality = {}, {}
    text, content_type = metrics.render(current, quality)
    return Response(text, content_type=content_type)
