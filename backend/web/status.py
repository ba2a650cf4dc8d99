"""The status page: projects, the versions they serve, their labels, latest trainings and what their
pre-annotations saved (HTML)."""

from __future__ import annotations

import redis
from flask import Blueprint, render_template

from ..serving import ServedModel
from ..state.keys import project_order
from .services import services

bp = Blueprint("status", __name__)


def _project(project: str, current: dict[str, str], controls: dict) -> dict:
    ours = services()
    server = ours.server
    try:
        records = ours.stores.history.all(project)[-5:]
        quality = ours.stores.quality.summary(project)
    except redis.RedisError:
        records, quality = [], {}
    return {
        "id": project,
        "current": current.get(project),
        "served": server.serving(project).version,
        "precision": _precision(server.serving(project)),
        "labels": "; ".join(f"{c.from_name}: {', '.join(c.labels)}" for c in controls.get(project, [])),
        "trainings": records,
        "quality": list(quality.items())[-5:],
    }


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
    except redis.RedisError:
        current = {}
    controls = server.projects()
    projects = [_project(p, current, controls) for p in sorted(set(controls) | set(current), key=project_order)]
    return render_template("status.html", bootstrap=server.bootstrap(), projects=projects,
                           bootstrap_precision=_precision(server.bootstrap()))
