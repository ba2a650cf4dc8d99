"""The RQ job train_project(project): a project's stored annotations become a promoted model version."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import asdict

import redis
from rq import get_current_job

from backend.config import Settings
from backend.labelstudio.agreement import agreements
from backend.labelstudio.labelconfig import project_controls, unsupported_message
from backend.ner import coverage, fastpath
from backend.ner.checkpoint import ORDERS_TASKS, ModelFolderError, load_model, read_metrics, served_score
from backend.ner.device import use_threads
from backend.state import Stores, connect
from backend.state.annotations import AnnotationStore
from backend.clock import utc_now, utc_stamp
from backend.state.history import SKIPPED_SHOWN, Training, TrainingStatus
from backend.state.registry import ModelRegistry, RegistryError, StaleVersion
from backend.state.jobqueue import LEASE_S, ProjectJobs
from worker.training.adapt import project_settings
from worker.training.dataset import ProjectData, Split, project_data
from worker.training.loop import TrainConfig, TrainResult, config_dict
from worker.training.recipe import Current, lineage_after, plan_training, train_candidate, training_split

from . import rebuild
from .push import request_push
from .resync import resync_project

log = logging.getLogger(__name__)
SMOKE_TEXT = "Angela Merkel met officials of the United Nations in New York on Tuesday ."


class TrainingError(RuntimeError):
    """A training that cannot run on the project's data (recorded, then raised to RQ)."""


def train_project(project: str) -> dict:
    """Train `project` on every annotation in the store now; promote the result if it is good.

    Every run leaves one record in the project's training history. Any failure leaves the served
    model untouched, is recorded, and re-raised so that RQ marks the job failed.
    """
    settings = Settings.from_env()
    threads = use_threads(settings.train_threads)
    stores = connect(settings)
    registry, history, queue = stores.registry, stores.history, stores.queue
    job = get_current_job()
    record = Training(job.id if job else f"direct-{utc_stamp()}", threads=threads,
                      worker=f"{socket.gethostname()}:{os.getpid()}")
    history.abandon_running(project, keep=record.job_id)
    history.save(project, record)
    started = time.monotonic()
    stop_lease = _keep_lease(queue, project, record.job_id)
    try:
        if queue.take_resync(project) and settings.label_studio_url and settings.label_studio_api_key:
            _resync(project, settings, stores, record)
        _train(project, settings, stores, record)
    except Exception as exc:  # any failure: recorded, the served model untouched, then re-raised for RQ
        record.status, record.error = TrainingStatus.FAILED, f"{type(exc).__name__}: {exc}"
        if record.version:
            registry.discard(project, record.version)
        log.exception("project %s: training %s failed", project, record.job_id)
        raise
    finally:
        stop_lease.set()
        queue.release(project, record.job_id)
        record.finished, record.duration_s = utc_now(), round(time.monotonic() - started, 2)
        history.save(project, record)
    if record.status == TrainingStatus.PROMOTED and settings.pushes_to_ls:
        request_push(stores, project, record)  # after the save: the push job updates this record
    try:
        registry.retire(project, settings.keep_versions, settings.retire_grace_s)
    except OSError as exc:  # housekeeping: the training's outcome stands
        log.warning("project %s: could not remove old versions: %s", project, exc)
    return {"project": project, "status": record.status, "version": record.version, "f1": record.f1}


def _resync(project: str, settings: Settings, stores: Stores, record: Training) -> None:
    """Catch the store up with LS. When LS cannot be read, train on what the store has, keep the
    re-sync asked for (the next job retries it) and say so in the record."""
    try:
        resync_project(stores.annotations, project, settings.label_studio_url, settings.label_studio_api_key)
    except Exception as exc:  # LS down, a refused token: the webhooks' data is still worth training on
        stores.queue.keep_resync(project)
        record.resync_error = f"{type(exc).__name__}: {exc}"
        log.error("project %s: re-sync from Label Studio failed, kept for the next job: %s", project, exc)


def _keep_lease(queue: ProjectJobs, project: str, job_id: str) -> threading.Event:
    """Renew the job's liveness lease from a thread until the returned event is set. A killed
    worker stops renewing it, so the next trigger does not wait behind a dead job."""
    stop = threading.Event()

    def renew():
        while True:
            try:
                queue.lease(project, job_id)
            except redis.RedisError as exc:
                log.warning("project %s: could not renew the job lease: %s", project, exc)
            if stop.wait(LEASE_S / 3):
                return

    threading.Thread(target=renew, name="job-lease", daemon=True).start()
    return stop


def training_controls(store: AnnotationStore, project: str):
    controls = project_controls(store.config(project), project, "the labels come from the annotations")
    refusal = unsupported_message(controls)
    if refusal:
        log.warning("project %s: %s; their annotations are not trained on", project, refusal)
    return controls


def _live_evidence(project: str, stores: Stores, span_score: str):
    """What the annotators' edits of the project's recent versions say to serve (None: unknown), on
    the versions whose spans were scored as `span_score` only: a floor is a score, and one in another
    score's units (versions from before SPAN_SCORE changed) would mean another threshold. A version
    whose folder retention removed has no known score, and is left out too."""
    def same_score(version: str) -> bool:
        try:
            return served_score(stores.registry.path(project, version)) == span_score
        except RegistryError:  # not a version name this registry made: nothing says what it scored
            return False

    try:
        return stores.quality.evidence(project, same_score)
    except redis.RedisError as exc:  # the prior threshold stands; the training goes on
        log.warning("project %s: annotators' edits unreadable, the prior threshold stands: %s", project, exc)
        return None


def _train(project: str, settings: Settings, stores: Stores, record: Training) -> None:
    store, registry = stores.annotations, stores.registry
    record.changes = store.changes(project)  # read before the data: a later change triggers again
    newest = store.annotations(project)
    data = project_data(newest, training_controls(store, project), settings.max_task_chars)
    record.agreement = [a.to_dict() for a in agreements(newest, store.others(project))] or None
    for line in data.skipped:
        log.warning("project %s: skipped %s", project, line)
    record.annotations = data.tasks
    record.skipped, record.skipped_why = len(data.skipped), data.skipped[:SKIPPED_SHOWN]
    split = training_split(data, settings)
    train, dev = split.train, split.dev
    if not train:
        raise TrainingError(f"no usable annotated task ({len(data.skipped)} skipped)")
    record.train_sentences, record.dev_sentences = len(train), len(dev)
    current = _current(project, registry)
    unseen = split.unseen_dev(current.trained_on) if current else None
    home = registry.project_dir(project)
    adapted = project_settings(settings, home)
    rebuilt = rebuild.finished(home, data.labels) if current is not None else None
    start = rebuilt or current
    plan = plan_training(split, start, adapted)
    if plan.rebuild and plan.incremental:
        stores.queue.request_rebuild(project)
    candidate = train_candidate(train, dev, data.labels, data.tasks, current, adapted, unseen_dev=unseen,
                                live=None if dev else _live_evidence(project, stores, adapted.span_score),
                                plan=plan, start=start)
    if rebuilt is not None:
        rebuild.taken(home)  # in this version now, or refused with it by the gate
    for name, value in candidate.outcome().items():
        setattr(record, name, value)
    if candidate.warm_start == "base" and adapted is not settings:
        record.warm_start = "base, adapted to the project's texts"
    record.version, path = registry.new_version(project)
    lineage, stale = lineage_after(candidate, start, record.version, data.tasks, utc_now())
    record.lineage = {**asdict(lineage), "stale": stale}

    seen = candidate.seen(split.train_ids)

    def metrics(choice: fastpath.ServingChoice) -> dict:
        record.serving = choice.to_dict()
        return _metrics(project, record, candidate.result, candidate.config, settings, data, split, seen)

    fastpath.save_checked(candidate.ner, dev, settings.precision, path, metrics)
    # Promote only what loads back from disk and predicts, in the precision serving will load it in.
    fastpath.load_served(path, settings.precision).predict([SMOKE_TEXT])
    reason = candidate.reason
    if reason is None:
        try:
            registry.promote(project, record.version, record.changes)
        except StaleVersion as exc:  # an overlapping training on newer data was promoted first
            reason = str(exc)
    if reason:
        record.status, record.reason = TrainingStatus.REJECTED, reason
        registry.discard(project, record.version)
        log.warning("project %s: %s not promoted: %s", project, record.version, reason)
        return
    record.status, record.reason = TrainingStatus.PROMOTED, candidate.note
    log.info("project %s: promoted %s (dev F1 %s)", project, record.version, record.f1)


def _current(project: str, registry: ModelRegistry) -> Current | None:
    """The project's serving version, loaded from its folder (None when there is none or it is
    unreadable: then the recipe starts from the encoder)."""
    version = registry.current(project)
    if not version:
        return None
    path = registry.path(project, version)
    try:
        ner, metrics = load_model(path), read_metrics(path)
    except ModelFolderError as exc:
        log.error("project %s: current version unreadable, not warm-starting from it: %s", project, exc)
        return None
    return Current.from_metrics(version, ner, metrics)


def _metrics(project: str, record: Training, result: TrainResult, config: TrainConfig, settings: Settings,
             data: ProjectData, split: Split, seen: frozenset[int] | None) -> dict:
    return {
        "project": project,
        "version": record.version,
        "job_id": record.job_id,
        "created": utc_now(),
        "annotations": record.annotations,
        "train_sentences": record.train_sentences,
        "dev_sentences": record.dev_sentences,
        "labels": list(data.labels.labels),
        "warm_start": record.warm_start,
        "base_model": settings.base_model or "minilm",
        "dev": record.dev,
        "gazetteer": record.gazetteer,
        "span_threshold": record.threshold,
        ORDERS_TASKS: coverage.handed_over(record.dev),  # else the cold-start order stays in LS
        fastpath.METRICS_KEY: record.serving,
        # every task in its weights, its starting point's too (None: unknown): the next training
        # gates on the dev tasks this one never saw
        "train_tasks": None if seen is None else sorted(seen),
        # ... and fits, when incremental, the tasks whose fingerprint differs from these
        "train_fingerprints": {str(t): f for t, f in split.train_fingerprints().items()},
        "lineage": record.lineage,  # the last full training behind it (recipe.Lineage) and what changed since
        "train": {**result.summary(), "config": config_dict(config)},
    }
