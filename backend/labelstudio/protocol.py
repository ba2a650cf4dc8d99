"""Label Studio's ML-backend wire format: validate what LS sends, shape what it accepts back."""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass
from typing import Iterator

from ..jsonvalues import is_int
from ..ner.spans import Span
from .annotation import Annotation
from .labelconfig import NerControl
from .labelmap import map_types

MAX_PROJECT_DIGITS = 18  # the one id rule: LS bodies, URLs and the model store's folders share it
PROJECT_ID = r"\d{1,%d}" % MAX_PROJECT_DIGITS  # a project id as text: LS bodies, URLs, the store's folders
_PROJECT_RE = re.compile(rf"[ \t]*({PROJECT_ID})(?:\.\d+)?[ \t]*", re.ASCII)  # LS sends "<id>.<created>"
log = logging.getLogger(__name__)
MAX_JSON_DEPTH = 64  # LS payloads nest about 6 deep; deeper bodies are refused, not recursed into
MAX_CONFIG_CHARS = 100_000  # a labeling config is a few KB; each project id keeps the last one sent
PREDICT_SLICE_CHARS = 200_000  # characters predicted at once: about 40 MiB of words and windows


class ProtocolError(ValueError):
    """A request LS (or anyone) sent that we cannot act on; answered with a 400 and this text."""

    status = 400


class TooLarge(ProtocolError):
    """A request over one of the limits a serving process keeps (tasks, characters); a 413."""

    status = 413


class OverQuota(ProtocolError):
    """A new project id past MAX_PROJECTS: nothing of it is kept; a 403."""

    status = 403


def project_id(value) -> str:
    """The project id from LS's "3.1795679909" (id.creation-timestamp), "3" or 3; digits only."""
    if is_int(value) and 0 <= value < 10**MAX_PROJECT_DIGITS:
        return str(value)
    if isinstance(value, str):
        m = _PROJECT_RE.fullmatch(value)
        if m:
            return str(int(m.group(1)))
    raise ProtocolError("'project' must be a project id such as \"3\" or \"3.1795679909\"")


def _no_constant(name: str):
    raise ProtocolError(f"the request body must be strict JSON: {name} is not a number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999: a number JSON allows and no offset can be
        raise ProtocolError(f"the request body must be strict JSON: {text} is not a finite number")
    return value


def parse_json(raw: bytes):
    """The request body as strict JSON (no NaN, Infinity or numbers beyond a float); ProtocolError
    for anything else (not UTF-8, too deep, empty)."""
    try:
        # Strict UTF-8 (json.loads on bytes would let encoded surrogates through); a BOM is tolerated.
        body = json.loads(raw.decode("utf-8-sig"), parse_constant=_no_constant, parse_float=_finite)
    except UnicodeDecodeError:
        raise ProtocolError("the request body must be JSON encoded as UTF-8") from None
    except ProtocolError:
        raise
    except (ValueError, RecursionError):
        raise ProtocolError("the request body must be JSON") from None
    if _depth_exceeds(body, MAX_JSON_DEPTH):
        raise ProtocolError(f"the request body nests deeper than {MAX_JSON_DEPTH} levels")
    return body


def _depth_exceeds(value, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return False


def wellformed(text: str) -> bool:
    """False for a str holding lone UTF-16 surrogates (valid in JSON, not storable as UTF-8)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _object(body) -> dict:
    if not isinstance(body, dict):
        raise ProtocolError("the request body must be a JSON object")
    return body


@dataclass(frozen=True)
class SetupRequest:
    project: str
    schema: str | None


def parse_setup(body) -> SetupRequest:
    body = _object(body)
    if "project" not in body:
        raise ProtocolError("missing 'project'")
    schema = body.get("schema")
    if schema is not None and not isinstance(schema, str):
        raise ProtocolError("'schema' must be a labeling config string")
    if schema is not None and len(schema) > MAX_CONFIG_CHARS:  # it is stored per project id
        raise TooLarge(f"the labeling config has {len(schema)} characters; at most {MAX_CONFIG_CHARS} are kept")
    return SetupRequest(project_id(body["project"]), schema)


@dataclass(frozen=True)
class Task:
    """One task to predict; `data` is {} when LS sent something unusable (it then gets no regions)."""

    id: object
    data: dict


@dataclass(frozen=True)
class PredictRequest:
    tasks: list[Task]
    project: str | None
    label_config: str | None
    interactive: bool  # params.context present: one task, answer fast


def parse_predict(body, max_tasks: int | None = None) -> PredictRequest:
    body = _object(body)
    tasks = body.get("tasks")
    if not isinstance(tasks, list):
        raise ProtocolError("'tasks' must be a list of tasks")
    if not tasks:
        raise ProtocolError("'tasks' is empty")
    if max_tasks is not None and len(tasks) > max_tasks:
        raise TooLarge(f"{len(tasks)} tasks in one request; MAX_TASKS_PER_REQUEST is {max_tasks}")
    project = project_id(body["project"]) if body.get("project") is not None else None
    if project is None:
        # LS always sends it; a task's own "project" field is a fallback for other clients.
        first = tasks[0] if isinstance(tasks[0], dict) else {}
        if first.get("project") is not None:
            project = project_id(first["project"])
    config = body.get("label_config")
    if config is not None and not isinstance(config, str):
        raise ProtocolError("'label_config' must be a string")
    params = body.get("params")
    context = params.get("context") if isinstance(params, dict) else None
    parsed = []
    for t in tasks:
        t = t if isinstance(t, dict) else {}
        parsed.append(Task(t.get("id"), t.get("data") if isinstance(t.get("data"), dict) else {}))
    return PredictRequest(parsed, project, config, bool(context))


def task_text(task: Task, control: NerControl) -> str | None:
    """The text this control labels, or None when the task lacks it (or it is not a string)."""
    value = task.data.get(control.data_key)
    return value if isinstance(value, str) else None


def check_text_sizes(tasks: list[Task], controls: list[NerControl], max_chars: int, max_total: int) -> None:
    """TooLarge naming the first task whose text is over `max_chars` characters, or the request's
    total over `max_total`: split into words, a 32 MiB text would take gigabytes before the model
    saw any of it, and a request's answer grows with its characters whatever the slicing."""
    total = 0
    for task in tasks:
        for control in controls:
            text = task_text(task, control)
            if text is not None and len(text) > max_chars:
                raise TooLarge(f"task {task.id!r}: data[{control.data_key!r}] has {len(text)} characters; "
                               f"MAX_TASK_CHARS is {max_chars}")
            total += len(text or "")
    if total > max_total:
        raise TooLarge(f"the request's texts have {total} characters in all; MAX_REQUEST_CHARS is {max_total}: "
                       "send fewer tasks per request")


def check_data_size(data: dict, max_chars: int) -> None:
    """TooLarge naming a task field over `max_chars` characters (a webhook's task: stored, it would
    make every later training of its project split it into words)."""
    for key, value in data.items():
        if isinstance(value, str) and len(value) > max_chars:
            raise TooLarge(f"data[{key!r}] has {len(value)} characters; MAX_TASK_CHARS is {max_chars}")


def regions(spans: list[Span], control: NerControl, label_map: dict[str, str]) -> list[dict]:
    """LS `labels` regions for one text's spans, config labels only, a score each.

    Offsets are Python str indices, which are Unicode code points: what Label Studio counts for
    `<Text>` (its editor's emoji test expects "test" in "🐱 Warning: This is a test text" at 21-25).
    """
    out = []
    for span in spans:
        label = label_map.get(span.label)
        if label is None:
            continue
        out.append(
            {
                "from_name": control.from_name,
                "to_name": control.to_name,
                "type": "labels",
                "score": span.score,
                "value": {"start": span.start, "end": span.end, "text": span.text, "labels": [label]},
            }
        )
    return out


# The webhook actions LS 1.23 sends that we act on (shared/docs/label-studio-protocol.md).
CREATED, UPDATED = "ANNOTATION_CREATED", "ANNOTATION_UPDATED"
DELETED, START_TRAINING, TASKS_CREATED = "ANNOTATIONS_DELETED", "START_TRAINING", "TASKS_CREATED"
STORE_ACTIONS = (CREATED, UPDATED)
DELETE_ACTION = DELETED
TRAIN_ACTION = START_TRAINING
IMPORT_ACTION = TASKS_CREATED


@dataclass(frozen=True)
class WebhookEvent:
    """What a webhook asks of the store; `annotation` is None for deletions and training."""

    action: str
    project: str | None
    annotation: Annotation | None = None
    cancelled: bool = False
    deleted_ids: tuple[int, ...] = ()
    label_config: str | None = None


def _int_id(value, what: str) -> int:
    if not is_int(value):
        raise ProtocolError(f"{what} must be an integer id")
    return value


def parse_webhook(body) -> WebhookEvent:
    """Validate an LS webhook for the actions we act on; others come back with only `action`."""
    body = _object(body)
    action = body.get("action")
    if not isinstance(action, str):
        raise ProtocolError("missing 'action'")
    if action not in (*STORE_ACTIONS, DELETE_ACTION, TRAIN_ACTION, IMPORT_ACTION):
        return WebhookEvent(action, None)
    proj = body.get("project")
    ann = body.get("annotation") if isinstance(body.get("annotation"), dict) else {}
    raw_project = proj.get("id") if isinstance(proj, dict) else proj
    if raw_project is None:
        raw_project = ann.get("project")
    project = project_id(raw_project)
    config = proj.get("label_config") if isinstance(proj, dict) else None
    usable = isinstance(config, str) and len(config) <= MAX_CONFIG_CHARS and wellformed(config)
    config = config if usable else None  # unusable: ignored, not fatal
    if action in STORE_ACTIONS:
        task = body.get("task") if isinstance(body.get("task"), dict) else {}
        if not isinstance(task.get("data"), dict):
            raise ProtocolError("'task.data' must be an object")
        if not isinstance(ann.get("result"), list):
            raise ProtocolError("'annotation.result' must be a list")
        for n, region in enumerate(ann["result"]):
            check_region(region, f"'annotation.result[{n}]'")
        annotation = Annotation.from_ls(_int_id(task.get("id", ann.get("task")), "'task.id'"),
                                        _int_id(ann.get("id"), "'annotation.id'"), task["data"], ann)
        return WebhookEvent(action, project, annotation, bool(ann.get("was_cancelled")), label_config=config)
    if action == DELETE_ACTION:
        items = body.get("annotations")
        if not isinstance(items, list):
            raise ProtocolError("'annotations' must be a list of {\"id\": ...}")
        ids = tuple(_int_id(a.get("id") if isinstance(a, dict) else None, "annotation id") for a in items)
        return WebhookEvent(action, project, deleted_ids=ids, label_config=config)
    return WebhookEvent(action, project, label_config=config)


def check_region(region, where: str) -> None:
    """ProtocolError unless `region` is an object, and a `labels` region has what training reads:
    integer offsets with 0 <= start <= end and a list of non-empty label names. Regions of other
    controls (choices, text areas, relations) pass as they are: training does not read them."""
    if not isinstance(region, dict):
        raise ProtocolError(f"{where} must be an object")
    value = region.get("value")
    if value is None and region.get("type") != "labels":
        return
    if not isinstance(value, dict):
        raise ProtocolError(f"{where}.value must be an object")
    if region.get("type") != "labels" and "labels" not in value:
        return
    labels = value.get("labels")
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) and x.strip() for x in labels):
        raise ProtocolError(f"{where}.value.labels must be a list of label names")
    start, end = value.get("start"), value.get("end")
    if not (is_int(start) and is_int(end)) or not 0 <= start <= end:
        raise ProtocolError(f"{where}.value.start and .end must be integers with 0 <= start <= end")
    if "text" in value and not isinstance(value["text"], str):
        raise ProtocolError(f"{where}.value.text must be a string")


def task_results(tasks: list[Task], project: str | None, served, controls: list[NerControl], explicit: dict,
                 max_chars: int | None = None, hidden: dict[int, list[dict]] | None = None) -> list[dict]:
    """One LS result per task, in order, from `served` (a `backend.serving.ServedModel`: version,
    predictor, types); every text of every task goes through one batched call. /predict answers with these and
    the worker pushes them to LS after a promotion. `hidden`, when given, receives {task index: the
    regions the model tagged but does not show}, for the quality log (LS never sees them)."""
    jobs = []  # (task index, control, label map, text)
    for control in controls:
        if not control.supported:
            log.warning("project %s: %s gets no predictions: only <Text> offsets are produced",
                        project, control.describe())
            continue
        label_map = map_types(served.types, control, explicit)
        for i, task in enumerate(tasks):
            text = task_text(task, control)
            if text is None:
                log.info("task %s has no text in data[%r]: empty result", task.id, control.data_key)
            elif max_chars is not None and len(text) > max_chars:
                log.warning("task %s: data[%r] has %d characters, over MAX_TASK_CHARS: empty result",
                            task.id, control.data_key, len(text))
            elif text and label_map and served.predictor is not None:
                jobs.append((i, control, label_map, text))
    predictions = [p for part in _slices(jobs) for p in served.predictor.predict([j[3] for j in part])]
    results = [{"result": [], "score": 1.0, "model_version": served.version} for _ in tasks]
    for (i, control, label_map, _), prediction in zip(jobs, predictions):
        results[i]["result"].extend(regions(prediction.spans, control, label_map))
        results[i]["score"] = round(min(results[i]["score"], prediction.confidence), 6)
        if hidden is not None and prediction.hidden:
            hidden.setdefault(i, []).extend(regions(prediction.hidden, control, label_map))
    return results


def _slices(jobs: list[tuple]) -> Iterator[list[tuple]]:
    """`jobs` (whose last item is the text) in runs of at most PREDICT_SLICE_CHARS characters (a
    longer text alone): the words and windows of one run are made and dropped before the next, so
    a request's or a push batch's memory is that of one slice, not of all its texts."""
    part: list[tuple] = []
    size = 0
    for job in jobs:
        if part and size + len(job[-1]) > PREDICT_SLICE_CHARS:
            yield part
            part, size = [], 0
        part.append(job)
        size += len(job[-1])
    if part:
        yield part
