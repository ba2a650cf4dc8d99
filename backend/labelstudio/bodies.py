"""Bodies as Label Studio 1.23 sends them (webhooks, /predict), built from gold data: not what LS
sent, what the simulator, the benchmarks and the tests send in its place (the format is checked
against a real LS in shared/docs/label-studio-protocol.md; the parser is protocol.py)."""

from __future__ import annotations

from ..clock import utc_now
from ..ner.readers import Sentence, text_and_regions
from .protocol import CREATED, DELETED, START_TRAINING, TASKS_CREATED, UPDATED  # noqa: F401  (the bodies' actions)


def _project(project: int, config: str | None) -> dict:
    body = {"id": project, "title": f"p{project}"}
    return {**body, "label_config": config} if config is not None else body


def annotation_event(project: int, task_id: int, text: str, regions: list[dict], *, ann_id: int | None = None,
                     when: str | None = None, action: str = CREATED, config: str | None = None,
                     cancelled: bool = False) -> dict:
    """ANNOTATION_CREATED/UPDATED for task `task_id` holding `text`, annotated with `regions`
    (`ann_id` defaults to task_id * 10, `when` to now)."""
    when = when or utc_now()
    ann_id = task_id * 10 if ann_id is None else ann_id
    return {
        "action": action,
        "annotation": {"id": ann_id, "result": regions, "task": task_id, "project": project,
                       "was_cancelled": cancelled, "completed_by": 1, "created_at": when, "updated_at": when},
        "task": {"id": task_id, "data": {"text": text}, "project": project},
        "project": _project(project, config),
    }


def gold_event(project: int, task_id: int, sentence: Sentence, regions: list[dict] | None = None, **options) -> dict:
    """`annotation_event` for a gold BIO sentence: its words joined by spaces, its entities as
    regions (unless `regions` says otherwise)."""
    text, gold = text_and_regions(sentence)
    return annotation_event(project, task_id, text, gold if regions is None else regions, **options)


def deleted_event(project: int, annotation_ids: list[int], config: str | None = None) -> dict:
    return {"action": DELETED, "annotations": [{"id": i} for i in annotation_ids], "project": _project(project, config)}


def start_training_event(project: int, config: str | None = None) -> dict:
    """What LS sends on "Start training" (Settings -> Model)."""
    return {"action": START_TRAINING, "project": _project(project, config)}


def tasks_created_event(project: int, task_ids: list[int], config: str | None = None) -> dict:
    """What LS sends when tasks are imported (to every connected backend's webhook)."""
    return {"action": TASKS_CREATED, "tasks": [{"id": t} for t in task_ids], "project": _project(project, config)}


def predict_body(tasks: list[dict], project: str | int | None = "3.1795679909", config: str | None = None,
                 context=None, first_id: int = 1) -> dict:
    """A /predict body shaped like LS 1.23's ("project" is "<id>.<creation time>"): `tasks` are the
    tasks' data, their ids counted from `first_id`."""
    task_project = int(str(project).split(".")[0]) if project is not None else None
    return {
        "tasks": [{"id": first_id + i, "data": data, "meta": {}, "annotations": [], "predictions": [],
                   "project": task_project} for i, data in enumerate(tasks)],
        "project": project,
        "label_config": config,
        "params": {"login": None, "password": None, "context": context},
    }
