"""Catch the annotation store up with Label Studio (the source of truth), for a START_TRAINING."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from backend.labelstudio.annotation import Annotation
from backend.labelstudio.client import LabelStudioClient
from backend.ner.readers import latest_annotation
from backend.state.annotations import AnnotationStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Resync:
    """What a re-sync changed in the store."""

    tasks_seen: int
    stored: int  # annotations added or replaced by a newer one
    removed: int  # stored annotations LS no longer has (a missed deletion)


def resync_project(store: AnnotationStore, project: str, url: str, api_key: str) -> Resync:
    """Upsert every task's latest annotation from LS and drop stored ones LS no longer has; also
    refresh the project's labeling config. `api_key`: a personal access token or legacy token."""
    ls = LabelStudioClient(url, api_key)
    config = ls.label_config(project)
    if config:
        store.save_config(project, config)
    # What LS lists is as of the listing; a webhook may store an annotation meanwhile. Only what the
    # store held before the listing began, and still holds unchanged, may be removed as deleted in LS.
    before, held = store.annotations(project), store.annotation_ids(project)
    seen, stored, annotated, missed = 0, 0, set(), []
    for task in ls.tasks(project):
        seen += 1
        ann = latest_annotation(task)
        if ann is None or not isinstance(task.get("data"), dict):
            continue
        annotated.add(int(task["id"]))
        if not isinstance(ann.get("result"), list):  # a listing without results says nothing of them: keep ours
            continue
        # annotations of this task the store held before the listing and LS no longer lists: deleted
        # in LS, their webhook missed (the task's newest among them: it trains on the next again)
        listed = {a.get("id") for a in task.get("annotations") or [] if isinstance(a, dict)}
        missed += sorted(held.get(int(task["id"]), set()) - listed)
        stored += store.upsert(project, Annotation.from_ls(int(task["id"]), int(ann["id"]), task["data"], ann))
    gone = [a for a in before if a.task_id not in annotated]
    removed = store.delete_unchanged(project, gone) if gone else 0
    removed += store.delete_annotations(project, missed) if missed else 0
    log.info("project %s: re-synced from Label Studio: %d tasks, %d stored, %d removed", project, seen, stored, removed)
    return Resync(seen, stored, removed)
