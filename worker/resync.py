"""Catch the annotation store up with Label Studio (the source of truth) through label-studio-sdk."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from backend.ner.readers import latest_annotation
from backend.store import Annotation, AnnotationStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Resync:
    """What a re-sync changed in the store."""

    tasks_seen: int
    stored: int  # annotations added or replaced by a newer one
    removed: int  # stored annotations LS no longer has (a missed deletion)


def _as_dict(task) -> dict:
    return task if isinstance(task, dict) else task.model_dump() if hasattr(task, "model_dump") else task.dict()


def resync_project(store: AnnotationStore, project: str, url: str, api_key: str) -> Resync:
    """Upsert every task's latest annotation from LS and drop stored ones LS no longer has; also
    refresh the project's labeling config. `api_key`: a personal access token or legacy token."""
    from label_studio_sdk.client import LabelStudio

    client = LabelStudio(base_url=url, api_key=api_key, timeout=60)
    config = client.projects.get(id=int(project)).label_config
    if config:
        store.save_config(project, config)
    # What LS lists is as of the listing; a webhook may store an annotation meanwhile. Only what the
    # store held before the listing began, and still holds unchanged, may be removed as deleted in LS.
    before = store.annotations(project)
    seen, stored, annotated = 0, 0, set()
    for task in client.tasks.list(project=int(project), fields="all"):
        task = _as_dict(task)
        seen += 1
        ann = latest_annotation(task)
        if ann is None or not isinstance(task.get("data"), dict):
            continue
        annotated.add(int(task["id"]))
        stored += store.upsert(project, Annotation(
            task_id=int(task["id"]), annotation_id=int(ann["id"]), data=task["data"], result=ann.get("result") or [],
            completed_by=ann.get("completed_by"), updated_at=str(ann.get("updated_at") or ann.get("created_at") or ""),
        ))
    gone = [a for a in before if a.task_id not in annotated]
    removed = store.delete_unchanged(project, gone) if gone else 0
    log.info("project %s: re-synced from Label Studio: %d tasks, %d stored, %d removed", project, seen, stored, removed)
    return Resync(seen, stored, removed)
