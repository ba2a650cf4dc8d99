"""The Label Studio ML-backend routes: /health, /setup, /predict, /versions, /webhook."""

from __future__ import annotations

import logging

import redis
import torch
from flask import Blueprint, jsonify, request

from ..jsonvalues import is_int
from ..labelstudio.agreement import annotator
from ..labelstudio.labelconfig import LabelConfigError, NerControl, project_controls, unsupported_message
from ..labelstudio.protocol import (
    DELETE_ACTION,
    IMPORT_ACTION,
    STORE_ACTIONS,
    TRAIN_ACTION,
    OverQuota,
    PredictRequest,
    ProtocolError,
    check_data_size,
    check_text_sizes,
    parse_json,
    parse_predict,
    parse_setup,
    parse_webhook,
    task_results,
)
from ..ner.basemodel import model_class
from . import metrics
from .projects import project_arg
from .services import services

log = logging.getLogger(__name__)
FIRST_LOAD_WAIT_S = 2.0  # the first request of a project in a process may wait this long for its model
bp = Blueprint("mlbackend", __name__)


def _body():
    return parse_json(request.get_data(cache=False))


@bp.get("/health")
def health():
    return jsonify(status="UP", model_class=model_class(services().settings.base_model),
                   torch_threads=torch.get_num_threads())


@bp.post("/setup")
def setup():
    req = parse_setup(_body())
    ours = services()
    if req.schema is not None:
        try:
            controls = project_controls(req.schema, req.project, "", strict=True)
        except LabelConfigError as exc:
            raise ProtocolError(str(exc)) from None
        refusal = unsupported_message(controls)
        if refusal:  # connecting would show regions LS cannot place: say so at connect time
            raise ProtocolError(refusal)
        try:  # the worker trains with this config's labels; /setup must not fail for want of it
            _admit(req.project)  # a new id past MAX_PROJECTS: refused (not a RedisError)
            ours.stores.annotations.save_config(req.project, req.schema)
            _cold_start(req.project)
        except redis.RedisError as exc:
            log.warning("could not save project %s's labeling config: %s", req.project, exc)
        ours.server.remember_project(req.project, req.schema, controls)
    served = ours.server.for_project(req.project, wait=FIRST_LOAD_WAIT_S)
    return jsonify(model_version=served.version)


def _admit(project: str) -> None:
    """Refuse a new project id past MAX_PROJECTS before anything of it is kept (a 403 LS shows)."""
    quota = services().stores.quota
    if not quota.admit(project):
        raise OverQuota(f"project {project}: {quota.refusal()}")


def _recorded(project: str | None) -> bool:
    """Whether /predict may keep anything for `project` (one admitted by /setup or a webhook)."""
    try:
        return project is not None and services().stores.quota.known(project)
    except redis.RedisError:  # Redis away: predictions stand, their records wait for it
        return False


def _cold_start(project: str) -> None:
    """Connecting LS to a project with tasks and no model of its own: order its tasks for the cold
    start (LS sends no TASKS_CREATED for tasks imported before the backend was connected)."""
    stores = services().stores
    if services().settings.pushes_to_ls and stores.registry.current(project) is None and stores.cover.current(project) is None:
        stores.queue.cover(project, first=True)


def _stored_config(project: str | None) -> str | None:
    """The project's config as /setup or a webhook saved it in Redis: every serving process finds
    it, not only the one that answered /setup."""
    if project is None:
        return None
    try:
        return services().stores.annotations.config(project)
    except redis.RedisError as exc:
        log.warning("could not read project %s's labeling config: %s", project, exc)
        return None


def _controls(req: PredictRequest) -> list[NerControl]:
    config = req.label_config or services().server.project_schema(req.project) or _stored_config(req.project)
    return project_controls(config, req.project, "predictions are empty")


@bp.post("/predict")
def predict():
    settings = services().settings
    req = parse_predict(_body(), settings.max_tasks_per_request)
    controls = _controls(req)
    check_text_sizes(req.tasks, controls, settings.max_task_chars, settings.max_request_chars)
    server = services().server
    served = server.for_project(req.project, wait=FIRST_LOAD_WAIT_S)
    hidden: dict[int, list[dict]] = {}
    results = task_results(req.tasks, req.project, served, controls, server.explicit_label_map, hidden=hidden)
    if not served.orders_tasks and settings.pushes_to_ls:  # only a worker that reaches LS makes the order
        _cover_scores(req, results)
    if _recorded(req.project):
        _remember_served(req, served.version if served.predictor is not None else None, results, hidden)
    metrics.PREDICTED_TASKS.labels(metrics.project_label(req.project)).inc(len(results))
    return jsonify(results=results, model_version=served.version)


def _cover_scores(req: PredictRequest, results: list[dict]) -> None:
    """The cold-start order's task scores, for a project whose served model does not order its tasks
    (none of its own yet, or one too weak): what LS shows when it sorts by prediction score."""
    if req.project is None:
        return
    try:
        services().stores.cover.rescore(req.project, [t.id if is_int(t.id) else None for t in req.tasks], results)
    except redis.RedisError as exc:  # the predictions stand; only their order is the model's
        log.warning("project %s: cold-start scores unavailable: %s", req.project, exc)


def _remember_served(req: PredictRequest, version: str | None, results: list[dict], hidden: dict[int, list[dict]]) -> None:
    """Record what each task was shown, and what the model tagged but did not show, to compare
    with its annotation (in the background: never delays nor fails a prediction)."""
    if req.project is None or version is None:
        return
    shown = {t.id: r["result"] for t, r in zip(req.tasks, results) if is_int(t.id)}
    unshown = {t.id: hidden[i] for i, t in enumerate(req.tasks) if i in hidden and is_int(t.id)}
    services().served.record(req.project, version, shown, unshown)


@bp.get("/versions")
def versions():
    """The project's promoted versions, oldest first (the bootstrap model's when it has none)."""
    project = request.args.get("project")
    ours = services()
    promoted = ours.stores.registry.versions(project_arg(project)) if project else []
    served = ours.server.for_project(project)
    return jsonify(versions=promoted or [served.version], current=served.version)


@bp.post("/webhook")
def webhook():
    """Record annotation changes in the store, maybe enqueue a training, and answer at once
    (LS waits 1 s, then gives up). Cancelled annotations are not training data; other actions
    are acknowledged and ignored."""
    event = parse_webhook(_body())
    if event.annotation is not None and not event.cancelled:
        check_data_size(event.annotation.data, services().settings.max_task_chars)
    if event.project is not None:  # None: an action we only acknowledge, nothing kept
        _admit(event.project)
    stores = services().stores
    store, quality = stores.annotations, stores.quality
    changed = 0
    if event.label_config:
        store.save_config(event.project, event.label_config)
    if event.action in STORE_ACTIONS and event.cancelled:
        changed = store.delete_annotations(event.project, [event.annotation.annotation_id])
        _compare(event.project, quality.forget, [event.annotation.annotation_id])
    elif event.action in STORE_ACTIONS:
        changed = int(store.upsert(event.project, event.annotation))
        ann = event.annotation
        if changed:  # a stale re-delivery must not replace the comparison of the newer annotation
            _compare(event.project, quality.record_annotation, ann.task_id, ann.annotation_id, ann.result, annotator(ann))
    elif event.action == DELETE_ACTION:
        changed = store.delete_annotations(event.project, list(event.deleted_ids))
        _compare(event.project, quality.forget, list(event.deleted_ids))
    training = None
    if event.action == TRAIN_ACTION:
        training = stores.queue.request(event.project, resync=True)
    elif changed:
        training = stores.queue.after_change(store, event.project)
    reply = {"status": "ok", "action": event.action, "changed": changed}
    if training is not None:
        reply["training"] = {"job_id": training.job_id, "coalesced": training.coalesced}
    if event.action == IMPORT_ACTION and services().settings.pushes_to_ls:
        reply["cover"] = stores.queue.cover(event.project)  # new tasks: the cold-start order is redone
    return jsonify(reply)


def _compare(project: str, update, *args) -> None:
    """Run a QualityLog update for `project`; the annotation is stored already, so a Redis failure
    here is logged, not answered with an error."""
    try:
        update(project, *args)
    except redis.RedisError as exc:
        log.warning("project %s: pre-annotation figures not updated (%s): %s", project, update.__name__, exc)
