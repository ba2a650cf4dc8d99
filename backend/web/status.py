"""The status page: projects, the versions they serve, their labels, latest trainings and what their
pre-annotations saved (HTML)."""

from __future__ import annotations

import time

import redis
from flask import Blueprint, render_template

from ..clock import utc_seconds
from ..labelstudio.agreement import PAIRS_SHOWN
from ..ner.floor import EVERY, describe
from ..serving import ServedModel
from ..state.history import PushStatus, TrainingStatus
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
        against = _against_model(ours.stores.quality.annotators(project))
    except redis.RedisError:
        history, records, quality, order = [], [], {}, "unknown (Redis unavailable)"
        spans, against = order, ""
    trained = _trained(current.get(project), history)
    return {
        "glance": [_learning(history), _saving(quality), _activity(history)],
        "id": project,
        "current": current.get(project),
        "served": server.serving(project).version,
        "precision": _precision(server.serving(project)),
        "labels": "; ".join(f"{c.from_name}: {', '.join(c.labels)}" for c in controls.get(project, [])),
        "trainings": records,
        "order": order,
        "spans": spans,
        "trained": trained,
        "agreement": _agreement(history),
        "against_model": against,
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


# The glance: three answers a team lead wants first, each (topic, what, tone: good, warn, bad or
# idle): is the project learning, do its pre-annotations save time, is anything stuck or failing.


def _learning(history: list) -> tuple[str, str, str]:
    judged = [t for t in history if t.status == TrainingStatus.PROMOTED and t.f1 is not None]
    if not judged:
        promoted = sum(t.status == TrainingStatus.PROMOTED for t in history)
        return ("learning", f"{promoted} version(s), none judged on a dev split yet" if promoted
                else "no version yet", "idle")
    first, last = judged[0], judged[-1]
    if len(judged) == 1:
        return "learning", f"dev F1 {last.f1:.2f} after {last.annotations} tasks ({last.version})", "good"
    tone = "good" if last.f1 >= first.f1 else "warn"
    return ("learning", f"dev F1 {first.f1:.2f} -> {last.f1:.2f} from {first.annotations} to {last.annotations} "
            f"tasks ({len(judged)} versions)", tone)


def _saving(quality: dict) -> tuple[str, str, str]:
    if not quality:
        return "pre-annotations", "no annotation compared with its pre-annotation yet", "idle"
    version, figures = list(quality.items())[-1]
    saved = figures.get("effort_saved")
    if saved is None:
        return "pre-annotations", f"{version}: {figures['tasks']} tasks compared, none had a span", "idle"
    tone = "good" if saved >= 0.2 else "warn" if saved >= 0 else "bad"
    return "pre-annotations", f"save {saved:.0%} of the edits ({version}, {figures['tasks']} tasks)", tone


def _activity(history: list, now: float | None = None) -> tuple[str, str, str]:
    now = time.time() if now is None else now
    parts, tone = [], "idle"
    running = [t for t in history if t.status == TrainingStatus.RUNNING]
    if running:
        parts.append(f"training on {running[-1].annotations or '?'} tasks for {_since(running[-1].started, now)}")
    pushing = [t for t in history if t.push and t.push.get("status") in (PushStatus.RUNNING, PushStatus.WAITING)]
    if pushing:
        push = pushing[-1].push
        parts.append(f"push of {pushing[-1].version} {push['status']}: {push.get('pushed', 0)} of {push.get('tasks', 0)} tasks")
    tone = "good" if parts else tone
    finished = [t for t in history if t.status != TrainingStatus.RUNNING]
    last = finished[-1] if finished else None
    if last is not None and last.status in (TrainingStatus.FAILED, TrainingStatus.ABANDONED):
        parts.append(f"the last training {last.status}: {last.error or last.reason or 'no reason recorded'}")
        tone = "bad"
    elif last is not None and last.push and last.push.get("status") == PushStatus.FAILED:
        parts.append(f"the push of {last.version} failed: {last.push.get('error') or 'no reason recorded'}")
        tone = "bad"
    if not parts:
        parts.append("nothing running; waiting for annotations" if history else "no training yet")
    return "now", "; ".join(parts), tone


def _since(started: str | None, now: float) -> str:
    try:
        seconds = now - utc_seconds(started or "")
    except ValueError:
        return "an unknown time"
    return f"{seconds / 60:.0f} min" if seconds >= 120 else f"{max(0, seconds):.0f} s"


def _spans_served(project: str, current: str | None, history: list) -> str:
    """Which spans the current version serves, and the evidence that chose them: its training's
    threshold, then the floor the annotators' edits of its spans set."""
    if current is None:
        return "none of the project's own yet"
    trained = next((t for t in reversed(history) if t.version == current), None)
    threshold = None if trained is None else trained.threshold
    chosen = describe(threshold or EVERY)
    why = f" ({trained.threshold_why})" if trained is not None and trained.threshold_why else ""
    floor = services().stores.quality.floors({project: current})[project]
    if floor.floor is None or floor.floor == (threshold or EVERY):  # the version's own stands
        return f"{chosen}{why}; {floor.reason}"
    return f"{describe(floor.floor)} now: {floor.reason} (trained to serve {chosen}{why})"


def _trained(current: str | None, history: list) -> str:
    """How the current version trained (every task, or the changes since the last), and when the
    last full training was: an annotation deleted or corrected since still weighs until the next."""
    record = next((t for t in reversed(history) if current and t.version == current), None)
    if record is None or not record.lineage:
        return ""
    plan, lineage = record.plan or {}, record.lineage
    how = (f"incremental ({plan.get('changed', 0)} tasks added or changed, {plan.get('replayed', 0)} sentences "
           f"replayed, {plan.get('steps', 0)} steps)" if plan.get("incremental") else "on every task")
    last = f"the last full training: {lineage['version']} on {lineage['tasks']} tasks, {lineage['at']}"
    stale = lineage.get("stale") or 0
    after = (f"; {stale} annotation{'s' if stale > 1 else ''} deleted or changed since still "
             f"weigh{'' if stale > 1 else 's'} on the model until the next one (once the project has doubled)"
             if stale else "")
    return f"{current} trained {how}; {last}{after}"


def _agreement(history: list) -> str:
    """How far the project's annotators agree, as the latest training read it ("" while no task has
    two people's annotations)."""
    record = next((t for t in reversed(history) if t.status != TrainingStatus.RUNNING), None)
    if record is None or not record.agreement:
        return ""
    pairs = "; ".join(f"{' and '.join(a['annotators'])} agree at span F1 {a['f1']:.2f} over {a['tasks']} "
                      f"task{'s' if a['tasks'] > 1 else ''} both annotated" for a in record.agreement)
    return f"{pairs} (read by the training of {record.started}; each task trains on its newest annotation)"


def _against_model(annotators: list) -> str:
    """How far each annotator keeps what the model shows them (the most tasks first, at most
    PAIRS_SHOWN people; "" before any annotation was compared with a pre-annotation)."""
    return "; ".join(f"{a.annotator} at span F1 {a.f1:.2f} over {a.tasks} task{'s' if a.tasks > 1 else ''} "
                     f"(kept {a.kept} of the {a.predicted} spans shown, submitted {a.final})"
                     for a in annotators[:PAIRS_SHOWN])


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
