"""When to train and how to enqueue it: the retraining policy and coalesced RQ jobs per project."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import redis
from rq import Queue
from rq.job import Dependency, Job, JobStatus
from rq.exceptions import NoSuchJobError

from .config import Settings
from .store import PREFIX, AnnotationStore

log = logging.getLogger(__name__)

JOB_FUNCTION = "worker.jobs.train_project"  # by name: the web service never imports the worker
WAITING = (JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED)
DONE = (JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED)


@dataclass(frozen=True)
class Request:
    """The outcome of a trigger: the job that will see the data, and whether it was already waiting."""

    job_id: str
    coalesced: bool


class TrainingQueue:
    """Enqueues `train_project(project)` jobs so that each project has at most one job running
    and one waiting.

    A trigger while a job waits joins that job (it reads the store when it starts, so it will see
    the new data). A trigger while a job runs enqueues one successor that depends on it, so two
    jobs of a project never run at once even with many workers. Job ids are deterministic:
    `train-<project>-<n>`.
    """

    def __init__(self, client: redis.Redis, settings: Settings) -> None:
        self.r = client
        self.settings = settings
        self.queue = Queue(settings.queue_name, connection=client)

    def _key(self, project: str, what: str) -> str:
        return f"{PREFIX}:project:{project}:{what}"

    def after_change(self, store: AnnotationStore, project: str) -> Request | None:
        """Apply the policy after the store changed: the first training once MIN_ANNOTATIONS tasks
        are annotated, then one every TRAIN_EVERY changes."""
        if store.count(project) < max(1, self.settings.min_annotations):
            return None
        changes = store.changes(project)
        last = self.r.get(self._key(project, "changes-at-request"))
        if last is not None and changes - int(last) < max(1, self.settings.train_every):
            return None
        return self.request(project, changes)

    def request(self, project: str, changes: int | None = None, resync: bool = False) -> Request:
        """Make sure a job that has not started yet will train `project` (START_TRAINING: always)."""
        # Held for a few Redis round trips; waiters poll every 5 ms (the default 100 ms would make a
        # burst of webhooks queue up behind it for most of LS's 1-second budget).
        with self.r.lock(self._key(project, "trigger-lock"), timeout=10, sleep=0.005, blocking_timeout=5):
            if changes is not None:
                self.r.set(self._key(project, "changes-at-request"), changes)
            if resync:
                self.r.set(self._key(project, "resync"), 1)
            waiting = self._status(self.r.get(self._key(project, "job-waiting")))
            if waiting and waiting[1] in WAITING:
                return Request(waiting[0], True)
            last = self._status(self.r.get(self._key(project, "job-last")))
            depends = Dependency(jobs=[last[0]], allow_failure=True) if last and last[1] not in DONE else None
            job_id = f"train-{project}-{self.r.incr(self._key(project, 'job-seq'))}"
            self.queue.enqueue(
                JOB_FUNCTION, project, job_id=job_id, depends_on=depends, job_timeout=self.settings.train_timeout,
                result_ttl=7 * 86400, failure_ttl=30 * 86400, description=f"train project {project}",
            )
            self.r.set(self._key(project, "job-waiting"), job_id)
            self.r.set(self._key(project, "job-last"), job_id)
            log.info("project %s: training job %s enqueued%s", project, job_id, " after " + last[0] if depends else "")
            return Request(job_id, False)

    def _status(self, raw: bytes | None) -> tuple[str, str] | None:
        if raw is None:
            return None
        job_id = raw.decode()
        try:
            return job_id, Job.fetch(job_id, connection=self.r).get_status()
        except NoSuchJobError:
            return None

    def take_resync(self, project: str) -> bool:
        """True once after a START_TRAINING asked for a re-sync (the job that starts next clears it)."""
        return bool(self.r.getdel(self._key(project, "resync")))
