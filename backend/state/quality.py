"""What pre-annotations save, live: the predictions served per task and version (bounded, in Redis),
compared with the annotation that follows, summed per version and label."""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis

from ..labelstudio.annotation import result_spans
from ..ner import floor as floors
from ..ner.edited import POOLED, LabelQuality, VersionQuality, evidence, summarise
from ..ner.effort import edits
from .keys import ProjectKeys

log = logging.getLogger(__name__)
# Served predictions kept per project: the newest this many tasks. A task annotated after its
# prediction fell out of the window is not compared (it counts as "unseen" in the figures).
SERVED_TASKS_KEPT = 50_000


# Versions whose figures are kept per project (the newest): the status page shows 5, /quality all
# of these. An annotation compared with an older version's pre-annotations no longer counts.
VERSIONS_KEPT = 100
_FIGURES = ("predicted", "kept", "final", "deletes", "creates", "relabels")


def _fields(quality: VersionQuality) -> dict[str, int]:
    """A version's figures as the fields of its hash: `tasks`, `<figure>\t` (every label),
    `<figure>\t<label>` (a label: any string), and `@<floor>\t<figure>` (under a served floor) with
    `tasks@` the annotations those sum."""
    fields = {"tasks": quality.tasks, "tasks@": quality.at_tasks}
    for label, figures in [("", quality.total), *quality.labels.items()]:
        fields.update({f"{name}\t{label}": getattr(figures, name) for name in _FIGURES if getattr(figures, name)})
    for value, figures in quality.at.items():
        fields.update({f"@{value}\t{name}": getattr(figures, name) for name in _FIGURES if getattr(figures, name)})
    return fields


def _figures(fields: dict[bytes, bytes]) -> VersionQuality:
    """A version's figures hash back as VersionQuality."""
    out = VersionQuality()
    for raw, value in fields.items():
        field_, count = raw.decode(), int(value)
        if field_ in ("tasks", "tasks@"):
            setattr(out, "tasks" if field_ == "tasks" else "at_tasks", count)
            continue
        name, label = field_.split("\t", 1)
        if name.startswith("@"):  # name: the floor, label: the figure
            setattr(out.at.setdefault(float(name[1:]), LabelQuality()), label, count)
            continue
        setattr(out.total if label == "" else out._label(label), name, count)
    out.labels = {k: v for k, v in out.labels.items() if any(getattr(v, name) for name in _FIGURES)}
    return out


@dataclass(frozen=True)
class AnnotatorQuality:
    """One annotator's submissions against the spans the model showed them, over every version."""

    annotator: str
    tasks: int
    predicted: int  # spans shown
    kept: int  # ... that the annotation kept exactly
    final: int  # spans submitted

    @property
    def f1(self) -> float:
        """Span F1 between what the model showed and what the annotator submitted (1.0: both empty)."""
        return 2 * self.kept / (self.predicted + self.final) if self.predicted + self.final else 1.0


def _annotator_fields(record: dict) -> dict[str, int]:
    """An outcome's share of its annotator's figures ({} for one recorded without its annotator)."""
    who = record.get("by")
    if who is None:
        return {}
    predicted = [tuple(s[:3]) for s in record["predicted"]]
    final = [tuple(s[:3]) for s in record["final"]]
    return {f"{who}\ttasks": 1, f"{who}\tpredicted": len(predicted), f"{who}\tfinal": len(final),
            f"{who}\tkept": len(edits(predicted, final).kept)}


class QualityLog:
    """Per project in Redis: `served` (task id -> the last predictions served for it, with their
    version; `served-order` bounds it), `outcomes` (annotation id -> what was predicted and what
    the annotator submitted) and, summed as outcomes arrive, change and go, each version's figures
    (the newest VERSIONS_KEPT versions) and each annotator's (`quality-annotators`): reading them
    costs the same whatever the outcomes."""

    def __init__(self, client: redis.Redis, kept: int = SERVED_TASKS_KEPT) -> None:
        self.r = client
        self.kept = kept

    def _keys(self, project: str) -> tuple[str, str, str]:
        keys = ProjectKeys(project)
        return keys.served, keys.served_order, keys.outcomes

    def record_served(self, project: str, version: str, results: dict[int, list],
                      hidden: dict[int, list] | None = None) -> None:
        """Remember what `version` pre-annotated for each task id (LS results), and what it tagged
        there but did not show (`hidden`, LS regions), newest kept."""
        if not results:
            return
        served, order, _ = self._keys(project)
        now = time.time()
        hidden = hidden or {}

        def entry(task: int, result: list) -> str:
            record = {"version": version, "spans": result_spans(result, scored=True)}
            if hidden.get(task):
                record["hidden"] = result_spans(hidden[task], scored=True)
            return json.dumps(record)

        pipe = self.r.pipeline(transaction=False)
        pipe.hset(served, mapping={str(t): entry(t, r) for t, r in results.items()})
        pipe.zadd(order, {str(t): now for t in results})
        pipe.zcard(order)
        size = pipe.execute()[-1]
        if size > self.kept:
            old = [m.decode() for m in self.r.zrange(order, 0, size - self.kept - 1)]
            if old:
                self.r.pipeline(transaction=False).zrem(order, *old).hdel(served, *old).execute()

    def record_annotation(self, project: str, task_id: int, annotation_id: int, result: list,
                          annotator: str | None = None) -> bool:
        """Compare an annotation with what its annotator was shown: the predictions recorded when
        this annotation was first compared, else the task's last served ones. False: nothing was served."""
        served, _, outcomes = self._keys(project)
        self._built(project)

        def txn(pipe: redis.client.Pipeline) -> bool:
            before = pipe.hget(outcomes, str(annotation_id))
            shown = json.loads(before) if before else None
            if shown is None:
                raw = pipe.hget(served, str(task_id))
                if raw is None:
                    return False
                last = json.loads(raw)
                shown = {"version": last["version"], "predicted": last["spans"], "hidden": last.get("hidden", [])}
            record = {"task": task_id, "version": shown["version"], "predicted": shown["predicted"],
                      "final": result_spans(result)}
            if shown.get("hidden"):
                record["hidden"] = shown["hidden"]
            if annotator is not None:
                record["by"] = annotator
            tracked = self._tracked(pipe, project)
            pipe.multi()
            pipe.hset(outcomes, str(annotation_id), json.dumps(record))
            if before:
                self._count(pipe, project, tracked, json.loads(before), -1)
            self._count(pipe, project, tracked, record, +1)
            return True

        return self._transaction(txn, project)

    def forget(self, project: str, annotation_ids: list[int]) -> None:
        """Deleted or cancelled annotations no longer count."""
        if not annotation_ids:
            return
        outcomes = self._keys(project)[2]
        ids = [str(i) for i in annotation_ids]
        self._built(project)

        def txn(pipe: redis.client.Pipeline) -> None:
            records = [json.loads(raw) for raw in pipe.hmget(outcomes, ids) if raw]
            tracked = self._tracked(pipe, project)
            pipe.multi()
            pipe.hdel(outcomes, *ids)
            for record in records:
                self._count(pipe, project, tracked, record, -1)

        self._transaction(txn, project)

    def _transaction(self, fn, project: str):
        keys = ProjectKeys(project)
        result = None

        def run(pipe):
            nonlocal result
            result = fn(pipe)

        self.r.transaction(run, keys.outcomes, keys.quality_versions)
        return result

    def _tracked(self, pipe, project: str) -> dict[str, float]:
        """{version: order} of the versions whose figures are kept."""
        return {v.decode(): s for v, s in pipe.zrange(ProjectKeys(project).quality_versions, 0, -1, withscores=True)}

    def _count(self, pipe, project: str, tracked: dict[str, float], record: dict, sign: int) -> None:
        """Add (sign 1) or take away (-1) one outcome from its version's figures, in `pipe`. A new
        version starts figures of its own, and past VERSIONS_KEPT the oldest version's go; an
        outcome of a version older than every kept one is not counted."""
        keys, version = ProjectKeys(project), record["version"]
        for field_, count in _annotator_fields(record).items():
            pipe.hincrby(keys.quality_annotators, field_, sign * count)
        order = float(version_order(version)[0])
        if version not in tracked:
            if len(tracked) >= VERSIONS_KEPT and order <= min(tracked.values()):
                return
            tracked[version] = order
            pipe.zadd(keys.quality_versions, {version: order})
            while len(tracked) > VERSIONS_KEPT:
                oldest = min(tracked, key=lambda v: (tracked[v], v))
                del tracked[oldest]
                pipe.zrem(keys.quality_versions, oldest)
                pipe.delete(keys.quality_figures(oldest))
        for field_, count in _fields(summarise([record])[version]).items():
            pipe.hincrby(keys.quality_figures(version), field_, sign * count)

    def _built(self, project: str) -> None:
        """Sum the outcomes stored before figures were kept as they arrive, once per project."""
        keys = ProjectKeys(project)
        if self.r.exists(keys.quality_built):
            return

        def txn(pipe: redis.client.Pipeline) -> None:
            if pipe.exists(keys.quality_built):
                return
            records = [json.loads(raw) for raw in pipe.hvals(keys.outcomes)]
            summed = summarise(records)
            newest = sorted(summed, key=version_order)[-VERSIONS_KEPT:]
            old = self._tracked(pipe, project)
            pipe.multi()
            pipe.delete(keys.quality_annotators)
            for record in records:
                for field_, count in _annotator_fields(record).items():
                    pipe.hincrby(keys.quality_annotators, field_, count)
            for version in old:
                pipe.delete(keys.quality_figures(version))
            pipe.delete(keys.quality_versions)
            for version in newest:
                pipe.zadd(keys.quality_versions, {version: float(version_order(version)[0])})
                pipe.hset(keys.quality_figures(version), mapping=_fields(summed[version]))
            pipe.set(keys.quality_built, 1)

        self._transaction(txn, project)

    def annotators(self, project: str) -> list[AnnotatorQuality]:
        """Each annotator's figures against the model, the most tasks first."""
        self._built(project)
        sums: dict[str, dict[str, int]] = {}
        for raw, value in self.r.hgetall(ProjectKeys(project).quality_annotators).items():
            who, figure = raw.decode().rsplit("\t", 1)
            sums.setdefault(who, {})[figure] = int(value)
        found = [AnnotatorQuality(who, f.get("tasks", 0), f.get("predicted", 0), f.get("kept", 0), f.get("final", 0))
                 for who, f in sums.items()]
        return sorted((a for a in found if a.tasks > 0), key=lambda a: (-a.tasks, a.annotator))

    def outcomes(self, project: str) -> list[dict]:
        """Every stored comparison (what the figures sum)."""
        return [json.loads(v) for v in self.r.hvals(self._keys(project)[2])]

    def summary(self, project: str) -> dict[str, dict]:
        """{version: figures}, oldest version first, the figures of `VersionQuality.to_dict`."""
        self._built(project)
        keys = ProjectKeys(project)
        versions = [v.decode() for v in self.r.zrange(keys.quality_versions, 0, -1)]
        return self._read(project, sorted(versions, key=version_order))

    def _read(self, project: str, versions: list[str]) -> dict[str, dict]:
        keys = ProjectKeys(project)
        pipe = self.r.pipeline(transaction=False)
        for version in versions:
            pipe.hgetall(keys.quality_figures(version))
        figures = {v: _figures(f) for v, f in zip(versions, pipe.execute())}
        return {v: q.to_dict() for v, q in figures.items() if q.tasks > 0}

    def floors(self, served: dict[str, str]) -> dict[str, floors.Floor]:
        """{project: what the annotations of its served version say to serve} for {project: version}."""
        pipe = self.r.pipeline(transaction=False)
        for project, version in served.items():
            pipe.hgetall(ProjectKeys(project).quality_figures(version))
        return {p: _figures(f).floor(v) for (p, v), f in zip(served.items(), pipe.execute())}

    def evidence(self, project: str, pooled: Callable[[str], bool] = lambda version: True) -> floors.Floor | None:
        """The floor the annotations of the project's newest versions choose, summed until they
        suffice (`edited.evidence`; None: they do not), leaving out the versions `pooled` refuses."""
        newest = [v.decode() for v in self.r.zrevrange(ProjectKeys(project).quality_versions, 0, POOLED - 1)]
        newest = [v for v in newest if pooled(v)]
        pipe = self.r.pipeline(transaction=False)
        for version in newest:
            pipe.hgetall(ProjectKeys(project).quality_figures(version))
        return evidence(zip(newest, map(_figures, pipe.execute())))

    def newest(self, projects: list[str]) -> dict[str, tuple[str, dict]]:
        """{project: (version, figures)} of the newest version with compared annotations."""
        out = {}
        for project in projects:
            self._built(project)
            # the newest few: one whose every annotation was deleted has no figures left
            newest = [v.decode() for v in self.r.zrevrange(ProjectKeys(project).quality_versions, 0, 4)]
            summary = self._read(project, newest)
            if summary:
                out[project] = next(iter(summary.items()))
        return out


def version_order(version: str) -> tuple[int, str]:
    """Registry versions ("v12-20261127T...") by number; others (a bootstrap model's) first."""
    head = version.split("-", 1)[0]
    return (int(head[1:]), version) if head[:1] == "v" and head[1:].isdigit() else (-1, version)


def _weight(results: dict[int, list]) -> int:
    """About how many bytes a record holds while it waits: 600 per region (a region dict with its
    value, labels and text measured about 500 B in CPython 3.11) and 100 per task."""
    return 100 * len(results) + 600 * sum(len(r) for r in results.values() if isinstance(r, list))


class ServedRecorder:
    """Writes what /predict served to a QualityLog from one background thread, so a prediction
    never waits for Redis (single-task latency is what an annotator feels when opening a task).
    When Redis is slow and BACKLOG records or BACKLOG_BYTES wait, newer ones are dropped and
    counted, not queued: one 20,000-task answer alone holds tens of MB."""

    BACKLOG = 1000
    BACKLOG_BYTES = 64 * 1024 * 1024

    def __init__(self, quality: QualityLog) -> None:
        self.quality = quality
        self.pending: queue.Queue = queue.Queue(self.BACKLOG)
        self.pending_bytes = 0
        self.dropped = 0
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def record(self, project: str, version: str, results: dict[int, list], hidden: dict[int, list] | None = None) -> None:
        if not results:
            return
        self._start()
        weight = _weight(results) + _weight(hidden or {})
        with self._lock:
            fits = self.pending_bytes + weight <= self.BACKLOG_BYTES
            if fits:
                try:
                    self.pending.put_nowait((project, version, results, hidden, weight))
                    self.pending_bytes += weight
                except queue.Full:
                    fits = False
            if not fits:
                self.dropped += 1
        if not fits and self.dropped % 100 == 1:
            log.warning("pre-annotation records dropped while Redis lags: %d so far", self.dropped)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every record so far is written (tests, shutdown); False on timeout."""
        done = threading.Event()
        self.pending.put(done)
        return done.wait(timeout)

    def _start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="served-recorder", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            item = self.pending.get()
            if isinstance(item, threading.Event):
                item.set()
                continue
            project, version, results, hidden, weight = item
            try:
                self.quality.record_served(project, version, results, hidden)
            except redis.RedisError as exc:
                log.warning("project %s: could not record the predictions served: %s", project, exc)
            finally:
                with self._lock:
                    self.pending_bytes -= weight
