"""A project's figures for people and monitoring: training history and pre-annotation quality
(JSON), the learning curve (SVG), and /metrics (Prometheus)."""

from __future__ import annotations

from dataclasses import asdict

import redis
from flask import Blueprint, Response, jsonify

from ..labelstudio.protocol import ProtocolError
from ..plots import learning_curve_svg
from ..state.registry import RegistryError
from . import metrics
from .services import services

bp = Blueprint("projects", __name__)


def project_arg(raw: str) -> str:
    """A project id from a URL, checked by the one rule for ids that may name a folder."""
    try:
        services().stores.registry.project_dir(raw)
    except RegistryError:
        raise ProtocolError(f"invalid project id {raw!r}: expected digits") from None
    return raw


@bp.get("/projects/<raw>/trainings")
def trainings(raw: str):
    """The project's training history, oldest first, and the version it serves."""
    project, stores = project_arg(raw), services().stores
    records = [asdict(t) for t in stores.history.all(project)]
    return jsonify(project=project, current=stores.registry.current(project), trainings=records)


@bp.get("/projects/<raw>/quality")
def quality(raw: str):
    """What each version's pre-annotations saved the annotators, in total and per label."""
    project, stores = project_arg(raw), services().stores
    return jsonify(project=project, current=stores.registry.current(project), versions=stores.quality.summary(project))


@bp.get("/projects/<raw>/learning-curve.svg")
def learning_curve(raw: str):
    project = project_arg(raw)
    points = services().stores.history.curve(project)
    svg = learning_curve_svg(points, f"project {project}: dev F1 by annotations")
    return Response(svg, content_type="image/svg+xml")


@bp.get("/metrics")
def metrics_page():
    stores = services().stores
    try:
        current = stores.registry.all_current()
        quality = stores.quality.newest(stores.annotations.projects()[:metrics.MAX_PROJECT_LABELS])
    except redis.RedisError:
        current, quality = {}, {}
    text, content_type = metrics.render(current, quality)
    return Response(text, content_type=content_type)
