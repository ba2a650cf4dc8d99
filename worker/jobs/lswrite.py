"""Predictions written to Label Studio, for the push and the cold-start jobs: a version loaded as
serving loads it, batches written as one model version then selected, the check that stops a write
a newer version made stale, and the deletion of our older versions' predictions."""

from __future__ import annotations

import logging
import re
from typing import Callable, Iterable

import redis

from backend.config import Settings
from backend.labelstudio.client import LabelStudioClient
from backend.labelstudio.labelconfig import project_controls
from backend.labelstudio.labelmap import parse_label_map
from backend.labelstudio.protocol import Task, task_results
from backend.serving import ModelCache, ServedModel
from backend.ner.checkpoint import orders_tasks
from backend.serving.cache import UNTRAINED
from backend.state import Stores
from backend.state.registry import VERSION_RE

log = logging.getLogger(__name__)
PUSH_BATCH = 100  # tasks predicted and written per call to LS


class StalePush(Exception):
    """The version being pushed no longer serves: selecting it would leave LS on an older model."""


def load_version(project: str, version: str, settings: Settings, stores: Stores) -> ServedModel:
    """A project's version as every serving process loads it: in the precision its fast-path check chose."""
    path = stores.registry.path(project, version)
    predictor = ModelCache(settings, 1).get(path)
    try:
        if settings.fixed_span_threshold is None:  # SPAN_THRESHOLD fixes what is served
            predictor.floor = stores.quality.floors({project: version})[project].floor
    except redis.RedisError as exc:  # pushed as the version chose; the serving processes apply the floor
        log.warning("project %s: served floor unreadable: %s", project, exc)
    return ServedModel(version, predictor, predictor.labels, orders_tasks(path))


def serving_check(stores: Stores, project: str, version: str | None, what: str) -> Callable[[], None]:
    """A check that raises StalePush once `version` (None: no version) no longer serves `project`:
    what is written to LS for one version must never be selected over a newer one's."""
    def check() -> None:
        serving = stores.registry.current(project)
        if serving != version:
            raise StalePush(f"{what} stopped: {serving} serves now, not {version}")
    return check


def write_predictions(project: str, served: ServedModel, label: str, tasks: Iterable[tuple[int, dict]], settings: Settings,
                      stores: Stores, ls: LabelStudioClient, progress: Callable[[list[Task]], None] | None = None,
                      check: Callable[[], None] | None = None) -> int:
    """`write_batches`, then `label` selected in LS and older versions' predictions deleted
    (`select_version`; returns how many went)."""
    write_batches(project, served, label, tasks, settings, stores, ls, progress, check)
    return select_version(project, label, stores, ls, check)


def write_batches(project: str, served: ServedModel, label: str, tasks: Iterable[tuple[int, dict]], settings: Settings,
                  stores: Stores, ls: LabelStudioClient, progress: Callable[[list[Task]], None] | None = None,
                  check: Callable[[], None] | None = None) -> int | None:
    """`served`'s predictions for `tasks` (id, data), written to LS PUSH_BATCH at a time as model
    version `label`; the last task id written (None: none). Task scores are the model's when it
    orders the tasks, else the cold-start order's. `check` runs before each batch (it raises to
    stop: a newer version serves)."""
    controls = project_controls(stores.annotations.config(project), project, "", strict=True)
    explicit = parse_label_map(settings.label_map)
    batch: list[Task] = []
    last = None

    def flush() -> None:
        if check:
            check()
        hidden: dict[int, list[dict]] = {}
        results = task_results(batch, project, served, controls, explicit, settings.max_task_chars, hidden=hidden)
        if not served.orders_tasks:  # too weak to order the tasks, or none yet: the cold-start order does
            stores.cover.rescore(project, [t.id for t in batch], results)
        ls.import_predictions(project, [{"task": t.id, "result": r["result"], "score": r["score"], "model_version": label}
                                        for t, r in zip(batch, results)])
        if served.predictor is not None:
            stores.quality.record_served(project, served.version, {t.id: r["result"] for t, r in zip(batch, results)},
                                         {batch[i].id: regions for i, regions in hidden.items()})
        if progress:
            progress(batch)
        batch.clear()

    for task_id, data in tasks:
        batch.append(Task(task_id, data))
        last = task_id
        if len(batch) == PUSH_BATCH:
            flush()
    if batch:
        flush()
    return last


def select_version(project: str, label: str, stores: Stores, ls: LabelStudioClient,
                   check: Callable[[], None] | None = None) -> int:
    """`label` made the project's selected model version in LS, then older versions' predictions
    deleted (`prune_versions`; returns how many went). `check` runs first (it raises to stop)."""
    # LS's Data Manager scores a task by its predictions of the project's selected model version
    # (Settings > Model), which connecting a backend sets to the backend's title, a version no
    # prediction carries: the "prediction score" column stays empty and sorting by it does nothing.
    # Selecting the version just written makes it the task score. LS then shows these stored
    # predictions when a task opens instead of asking the backend.
    if check:
        check()
    ls.select_version(project, label)
    return prune_versions(project, label, stores, ls)


# The model versions this backend writes to LS: a project's versions, cold-start orders, and what
# serves before a project has a version (LS stores what /predict answers when a task opens).
OURS = re.compile(rf"{VERSION_RE.pattern}|coldstart-\d{{8}}T\d{{6}}|bootstrap-.*|{UNTRAINED}")


def prune_versions(project: str, selected: str, stores: Stores, ls: LabelStudioClient) -> int:
    """Delete from LS the predictions of every version of ours but `selected`, the project's
    current version and the one a rollback would return to: without it each push adds up to
    PUSH_LIMIT rows to LS's prediction table for ever. Returns how many predictions went; a
    failure is logged, never raised (what was written and selected stands)."""
    keep = {selected, stores.registry.current(project), stores.registry.previous(project)}
    deleted = 0
    try:
        for version, count in ls.model_versions(project).items():
            if version not in keep and count and OURS.fullmatch(version or ""):
                deleted += ls.delete_version(project, version)
    except Exception as exc:  # LS busy or gone: the next push deletes them
        log.warning("project %s: could not delete older predictions from Label Studio: %s", project, exc)
    return deleted
