"""The status page: projects, the versions they serve, their labels, latest trainings and what their
pre-annotations saved (HTML)."""

from __future__ import annotations

import redis
from flask import Blueprint, render_template

from ..ner.floor import NONE
from ..serving import ServedModel
from ..ner.checkpoint import orders_tasks
from ..state.keys import project_order
from .services import services

bp = Blueprint("status", __name__)


def _project(project: str, current: dict[str, str], controls: dict) -> dict:
    ours = services()
    server = ours.server
    try:
        history = ours.stores.history.all(project)
        records, quality = history[-5:], ours.stores.quality.summary(project)
        order = _ls_order(project, current.get(project), history)
        spans = _spans_served(project, current.get(project), history)
    except redis.RedisError:
        records, quality, order = [], {}, "unknown (Redis unavailable)"
        spans = order
    return {
        "id": project,
        "current": current.get(project),
        "served": server.serving(project).version,
        "precision": _precision(server.serving(project)),
        "labels": "; ".join(f"{c.from_name}: {', '.join(c.labels)}" for c in controls.get(project, [])),
        "trainings": records,
        "order": order,
        "spans": spans,
        "quality": list(quality.items())[-5:],
    }


def _ls_order(project: str, current: str | None, history: list) -> str:
    """Which order Label Studio's "prediction score, ascending" shows the project's tasks in, and since when."""
    ours = services()
    settings, stores = ours.settings, ours.stores
    if not settings.pushes_to_ls:
        return "import order (no LABEL_STUDIO_URL and key: nothing writes task scores to LS)"
    if current is not None and orders_tasks(stores.registry.path(project, current)):
        pushed = [t.push for t in history if t.version == current and t.push]
        when = f" (its push to LS: {pushed[-1].get('status')})" if pushed else " (not pushed to LS yet)"
        return f"the task scores of {current} (token entropy){when}"
    cover = stores.cover.current(project)
    if cover is None:
        return "import order (no cold-start order made yet)"
    under = f"; the predictions are {current}'s, too weak yet to order the tasks" if current else ""
    return f"the cold-start order {cover.version} ({cover.tasks} tasks), since {cover.since}{under}"


def _spans_served(project: str, current: str | None, history: list) -> str:
    """Which spans the current version serves, and the evidence that chose them: its training's
    threshold, then the floor the annotators' edits of its spans set."""
    if current is None:
        return "none of the project's own yet"
    trained = next((t for t in reversed(history) if t.version == current), None)
    threshold = None if trained is None else trained.threshold
    chosen = "every span" if threshold is None else (
        "none" if threshold >= NONE else f"spans scored {threshold:.2f} or more")
    why = f" ({trained.threshold_why})" if trained is not None and trained.threshold_why else ""
    floor = services().stores.quality.floors({project: current})[project]
    if floor.floor is None:
        return f"{chosen}{why}; {floor.reason}"
    shown = "nothing" if floor.floor >= NONE else f"only spans scored {floor.floor:.2f} or more"
    return f"{shown} now: {floor.reason} (trained to serve {chosen}{why})"


def _precision(served: ServedModel) -> str:
    """"bf16 (why)" for the model a process serves; "" without one."""
    predictor = served.predictor
    if predictor is None:
        return ""
    why = predictor.precision_reason
    return f"{predictor.precision} ({why})" if why else predictor.precision


@bp.get("/")
def status_page():
    """Jinja2 escapes every value (project labels and training errors come from outside)."""
    server = services().server
    try:
        current = server.registry.all_current() if server.registry else {}
        covered = services().stores.cover.projects()
    except redis.RedisError:
        current, covered = {}, []
    controls = server.projects()  # what /setup told this process; the rest is in Redis for every process
    listed = set(controls) | set(current) | set(covered)
    projects = [_project(p, current, controls) for p in sorted(listed, key=project_order)]
    return render_template("status.html", bootstrap=server.bootstrap(), projects=projects,
                           bootstrap_precision=_precision(server.bootstrap()))
