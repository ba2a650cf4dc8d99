"""The training history of each project in Redis: one record per training job, oldest first."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum

import redis

from ..clock import utc_now
from ..jsonvalues import finite
from .keys import ProjectKeys


class TrainingStatus(StrEnum):
    """What became of a training job (a str: records keep it as plain JSON)."""

    RUNNING = "running"
    PROMOTED = "promoted"  # its version serves now
    REJECTED = "rejected"  # trained, but the gate kept the serving version
    FAILED = "failed"  # raised; the serving version is untouched
    ABANDONED = "abandoned"  # its worker died before it finished


class PushStatus(StrEnum):
    """How far a promoted version's push of predictions to Label Studio got."""

    WAITING = "waiting"  # asked for; runs once PUSH_INTERVAL_S has passed since the last push began
    COALESCED = "coalesced"  # a newer version was promoted before it ran: that version's push does the work
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    STALE = "stale"  # a newer version was promoted meanwhile: its own push selects it in LS


SKIPPED_SHOWN = 20  # reasons a record keeps for the tasks a training skipped
HISTORY_KEPT = 200  # training records kept per project (a training every 10 annotations: 2,000 annotations' worth)




@dataclass
class Training:
    """What one training job did: its data, its dev scores, what became of its model."""

    job_id: str
    status: TrainingStatus = TrainingStatus.RUNNING
    version: str | None = None
    started: str = field(default_factory=utc_now)
    finished: str | None = None
    duration_s: float | None = None
    annotations: int = 0  # annotated tasks the job read (train + dev)
    skipped: int = 0  # annotated tasks it could not read ...
    skipped_why: list = field(default_factory=list)  # ... and why (the first SKIPPED_SHOWN)
    changes: int = 0  # the store's change counter when the job read it
    train_sentences: int = 0
    dev_sentences: int = 0
    warm_start: str | None = None  # "current:<version>", "bootstrap" or "base"
    epochs: int = 0
    threads: int = 0  # torch threads the training computed with
    worker: str | None = None  # "<host>:<pid>" of the process that trained: a container id under Docker
    dev: dict | None = None  # seqeval figures of the new model on the dev split
    previous_dev_f1: float | None = None  # the serving model's micro-F1 on the same dev split
    gazetteer: int = 0  # annotated strings served with the model wherever they recur (0: none)
    threshold: float | None = None  # spans scored below it are not served (None: all are) ...
    threshold_why: str = ""  # ... and what chose it
    dev_effort_saved: float | None = None  # share of edits the served spans save on the dev split ...
    dev_effort_saved_all: float | None = None  # ... and what serving every span would save
    reason: str | None = None  # why a model was not promoted
    error: str | None = None
    serving: dict | None = None  # the precision the version is served in, and the dev F1s that chose it
    resync_error: str | None = None  # the re-sync from LS this job was asked for failed (retried next job)
    push: dict | None = None  # the promoted version's predictions written to LS: status, tasks, pushed, error
    plan: dict | None = None  # full or incremental, and for incremental: tasks changed, sentences replayed, steps
    agreement: list | None = None  # span F1 per pair of annotators over the tasks both annotated (None: no such task)
    lineage: dict | None = None  # the last full training behind the version (version, tasks, at) and the
    # annotations deleted or changed since ("stale"): they weigh on the model until the next full training

    def __post_init__(self) -> None:
        self.status = TrainingStatus(self.status)

    @property
    def f1(self) -> float | None:
        return self.dev["f1"] if self.dev else None


class TrainingHistory:
    """Per project: a list of job ids (order) and a hash job id -> Training as JSON."""

    def __init__(self, client: redis.Redis) -> None:
        self.r = client

    def _keys(self, project: str) -> tuple[str, str]:
        keys = ProjectKeys(project)
        return keys.trainings, keys.training_records

    def save(self, project: str, record: Training) -> None:
        """Store `record` (new or updated); the newest HISTORY_KEPT records stay, the learning
        curve keeps every scored training's point."""
        order, records = self._keys(project)
        raw = json.dumps(finite(asdict(record)), sort_keys=True, allow_nan=False)
        if record.f1 is not None:
            self.r.hset(ProjectKeys(project).learning_curve, record.job_id, json.dumps([record.annotations, record.f1]))
        if self.r.hset(records, record.job_id, raw):  # a new field: append to the order
            length = self.r.rpush(order, record.job_id)
            if length > HISTORY_KEPT:
                dropped = self.r.lpop(order, length - HISTORY_KEPT) or []
                if dropped:
                    self.r.hdel(records, *dropped)

    def curve(self, project: str) -> list[tuple[int, float]]:
        """(annotated tasks, dev F1) of every scored training, by annotated tasks."""
        points = (json.loads(raw) for raw in self.r.hvals(ProjectKeys(project).learning_curve))
        return sorted((int(n), float(f1)) for n, f1 in points)

    def all(self, project: str) -> list[Training]:
        order, records = self._keys(project)
        ids = self.r.lrange(order, 0, -1)
        raws = self.r.hmget(records, ids) if ids else []
        return [Training(**json.loads(raw)) for raw in raws if raw]

    def get(self, project: str, job_id: str) -> Training | None:
        raw = self.r.hget(self._keys(project)[1], job_id)
        return Training(**json.loads(raw)) if raw else None

    def abandon_running(self, project: str, keep: str) -> int:
        """Mark records still `running` (their worker died) as abandoned; jobs of one project never
        overlap, so when job `keep` starts, every other running record is dead."""
        n = 0
        for record in self.all(project):
            if record.status == TrainingStatus.RUNNING and record.job_id != keep:
                record.status, record.finished = TrainingStatus.ABANDONED, utc_now()
                record.error = "the worker stopped before the job finished"
                self.save(project, record)
                n += 1
        return n
