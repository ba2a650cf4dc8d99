"""After a promotion, predict the project's unlabelled tasks with the new version and write those
predictions to Label Studio, so that its Data Manager sorts tasks by the current model's task score."""

from __future__ import annotations

import json
import logging

import redis

from backend.config import Settings
from backend.history import Training, TrainingHistory
from backend.labelconfig import parse_label_config
from backend.labelmap import parse_label_map
from backend.ner.device import use_threads
from backend.protocol import Task, task_results
from backend.quality import QualityLog
from backend.registry import ModelRegistry
from backend.serving import ModelCache, ServedModel
from backend.store import AnnotationStore

log = logging.getLogger(__name__)
PUSH_BATCH = 100  # tasks predicted and written per call to LS
# Data Manager filter: tasks nobody has annotated yet (cancelled ones included: skipped, not labelled)
UNLABELLED = {"filters": {"conjunction": "and", "items": [
    {"filter": "filter:tasks:total_annotations", "operator": "equal", "type": "Number", "value": 0}]}}


def push_predictions(project: str, version: str, training_job: str) -> dict:
    """Write `version`'s predictions for up to PUSH_LIMIT unlabelled tasks of `project` to LS, in
    batches, recording progress in the training record of `training_job`. Never raises: the
    promotion stands whatever happens here; a failure is logged and recorded."""
    settings = Settings.from_env()
    use_threads(settings.train_threads)
    client = redis.Redis.from_url(settings.redis_url)
    history = TrainingHistory(client)
    record = history.get(project, training_job) or Training(training_job, version=version)
    record.push = {"version": version, "status": "running", "tasks": 0, "pushed": 0, "error": None}
    history.save(project, record)
    try:
        _push(project, version, settings, client, record, history)
        record.push["status"] = "done"
    except Exception as exc:  # LS down, a refused token, a vanished version: the promotion stands
        record.push.update(status="failed", error=f"{type(exc).__name__}: {exc}")
        log.exception("project %s: pushing %s's predictions to Label Studio failed", project, version)
    history.save(project, record)
    return {"project": project, **record.push}


def _push(project: str, version: str, settings: Settings, client: redis.Redis, record: Training,
          history: TrainingHistory) -> None:
    from label_studio_sdk.client import LabelStudio

    config = AnnotationStore(client).config(project)
    if not config:
        raise ValueError("no labeling config stored for the project (LS has not called /setup or a webhook yet)")
    controls = parse_label_config(config)
    registry = ModelRegistry(settings.model_dir, client)
    # loaded as every serving process loads it: the precision its fast-path check chose
    predictor = ModelCache(settings, 1).get(registry.path(project, version))
    served = ServedModel(version, predictor, predictor.labels)
    explicit = parse_label_map(settings.label_map)
    quality = QualityLog(client)
    ls = LabelStudio(base_url=settings.label_studio_url, api_key=settings.label_studio_api_key, timeout=60)
    batch: list[Task] = []

    def flush() -> None:
        results = task_results(batch, project, served, controls, explicit)
        ls.projects.import_predictions(id=int(project), request=[
            {"task": t.id, "result": r["result"], "score": r["score"], "model_version": version}
            for t, r in zip(batch, results)])
        quality.record_served(project, version, {t.id: r["result"] for t, r in zip(batch, results)})
        record.push["pushed"] += len(batch)
        history.save(project, record)
        batch.clear()

    pager = ls.tasks.list(project=int(project), fields="task_only", query=json.dumps(UNLABELLED), page_size=PUSH_BATCH)
    for task in pager:
        if record.push["tasks"] >= settings.push_limit:
            break
        record.push["tasks"] += 1
        batch.append(Task(int(task.id), task.data if isinstance(task.data, dict) else {}))
        if len(batch) == PUSH_BATCH:
            flush()
    if batch:
        flush()
    # LS's Data Manager scores a task by its predictions of the project's selected model version
    # (Settings > Model), which connecting a backend sets to the backend's title, a version no
    # prediction carries: the "prediction score" column stays empty and sorting by it does nothing.
    # Selecting the version just written makes it the current model's task score. LS then shows
    # these stored predictions when a task opens instead of asking the backend.
    ls.projects.update(id=int(project), model_version=version)
    log.info("project %s: %d predictions of %s written to Label Studio", project, record.push["pushed"], version)
