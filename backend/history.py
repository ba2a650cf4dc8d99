"""The training history of each project in Redis: one record per training job, oldest first."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field

import redis

from .store import project_key
from .jsonvalues import finite

RUNNING, PROMOTED, REJECTED, FAILED, ABANDONED = "running", "promoted", "rejected", "failed", "abandoned"


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass
class Training:
    """What one training job did: its data, its dev scores, what became of its model."""

    job_id: str
    status: str = RUNNING
    version: str | None = None
    started: str = field(default_factory=utc_now)
    finished: str | None = None
    duration_s: float | None = None
    annotations: int = 0  # annotated tasks the job read (train + dev)
    changes: int = 0  # the store's change counter when the job read it
    train_sentences: int = 0
    dev_sentences: int = 0
    warm_start: str | None = None  # "current:<version>", "bootstrap" or "base"
    epochs: int = 0
    threads: int = 0  # torch threads the training computed with
    dev: dict | None = None  # seqeval figures of the new model on the dev split
    previous_dev_f1: float | None = None  # the serving model's micro-F1 on the same dev split
    gazetteer: int = 0  # annotated strings served with the model wherever they recur (0: none)
    reason: str | None = None  # why a model was not promoted
    error: str | None = None
    serving: dict | None = None  # the precision the version is served in, and the dev F1s that chose it
    resync_error: str | None = None  # the re-sync from LS this job was asked for failed (retried next job)
    push: dict | None = None  # the promoted version's predictions written to LS: status, tasks, pushed, error

    @property
    def f1(self) -> float | None:
        return self.dev["f1"] if self.dev else None


class TrainingHistory:
    """Per project: a list of job ids (order) and a hash job id -> Training as JSON."""

    def __init__(self, client: redis.Redis) -> None:
        self.r = client

    def _keys(self, project: str) -> tuple[str, str]:
        return project_key(project, "trainings"), project_key(project, "training-records")

    def save(self, project: str, record: Training) -> None:
        order, records = self._keys(project)
        raw = json.dumps(finite(asdict(record)), sort_keys=True, allow_nan=False)
        if self.r.hset(records, record.job_id, raw):  # a new field: append to the order
            self.r.rpush(order, record.job_id)

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
            if record.status == RUNNING and record.job_id != keep:
                record.status, record.finished = ABANDONED, utc_now()
                record.error = "the worker stopped before the job finished"
                self.save(project, record)
                n += 1
        return n
