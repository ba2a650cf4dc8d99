"""The RQ jobs of each project: when to train (the retraining policy, coalesced jobs, leases), the
pushes a promotion asks for, and the cold-start order."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone

import redis
from rq import Queue
from rq.job import Dependency, Job, JobStatus
from rq.exceptions import NoSuchJobError

from ..config import Settings
from .annotations import AnnotationStore
from .keys import ProjectKeys

log = logging.getLogger(__name__)

JOB_FUNCTION = "worker.jobs.train_project"  # by name: the web service never imports the worker
PUSH_FUNCTION = "worker.jobs.push_predictions"
COVER_FUNCTION = "worker.jobs.cover_tasks"
REBUILD_FUNCTION = "worker.jobs.rebuild_project"
# A background full training's slice renews this lease as it enqueues the next; a killed worker
# stops renewing it, and the next training that finds the rebuild due asks for it again (it goes on
# from the last slice's saved state).
REBUILD_LEASE_S = 900
COVER_ASK_TTL_S = 3600  # a cover job that never started (no worker) is asked for again after this
WAITING = (JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED)
LEASE_S = 15  # a started job whose lease is this old is dead (its worker was killed)
DONE = (JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED)
# How long RQ keeps a finished job's record (about 5.4 KB each): the training history keeps what a
# job did, so a day is enough to look at RQ's side. With 7 days, 1,000 trainings in a day held
# 5.4 MB of the 7.8 MB Redis used (bench/long_run.py). Failed jobs stay a month, for their traceback.
RESULT_TTL_S = 86400
FAILURE_TTL_S = 30 * 86400


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class Request:
    """The outcome of a trigger: the job that will see the data, and whether it was already waiting."""

    job_id: str
    coalesced: bool


class ProjectJobs:
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
        self.background_queue = Queue(settings.background_queue, connection=client)

    def after_change(self, store: AnnotationStore, project: str) -> Request | None:
        """Apply the policy after the store changed: the first training once MIN_ANNOTATIONS tasks
        are annotated, then one every TRAIN_EVERY changes."""
        if store.count(project) < max(1, self.settings.min_annotations):
            return None
        changes = store.changes(project)
        last = self.r.get(ProjectKeys(project).changes_at_request)
        if last is not None and changes - int(last) < max(1, self.settings.train_every):
            return None
        return self.request(project, changes)

    def request(self, project: str, changes: int | None = None, resync: bool = False) -> Request:
        """Make sure a job that has not started yet will train `project` (START_TRAINING: always)."""
        # Held for a few Redis round trips; waiters poll every 5 ms (the default 100 ms would make a
        # burst of webhooks queue up behind it for most of LS's 1-second budget).
        keys = ProjectKeys(project)
        with self.r.lock(keys.trigger_lock, timeout=10, sleep=0.005, blocking_timeout=5):
            if changes is not None:
                self.r.set(keys.changes_at_request, changes)
            if resync:
                self.r.set(keys.resync, 1)
            waiting = self._job(self.r.get(keys.job_waiting))
            if waiting and waiting.get_status() in WAITING:
                if not self._behind_dead(project, waiting):
                    return Request(waiting.id, True)
                # RQ would release it only when its cleanup fails the dead job, minutes from now
                log.warning("project %s: job %s waits on a killed worker's job; replacing it", project, waiting.id)
                waiting.cancel()
            last = self._job(self.r.get(keys.job_last))
            depends = None
            if last and last.get_status() not in DONE and not self._dead(project, last):
                depends = Dependency(jobs=[last.id], allow_failure=True)
            job_id = f"train-{project}-{self.r.incr(keys.job_seq)}"
            self.queue.enqueue(
                JOB_FUNCTION, project, job_id=job_id, depends_on=depends, job_timeout=self.settings.train_timeout,
                result_ttl=RESULT_TTL_S, failure_ttl=FAILURE_TTL_S, description=f"train project {project}",
            )
            self.r.set(keys.job_waiting, job_id)
            self.r.set(keys.job_last, job_id)
            log.info("project %s: training job %s enqueued%s", project, job_id, f" after {last.id}" if depends else "")
            return Request(job_id, False)

    def rescue(self, project: str) -> str | None:
        """A new training for `project` when its latest one died with its worker (killed, out of
        memory, its machine gone) and nothing would train the project until the next trigger: the
        job that waits on the dead one, or the dead one itself. The new job id, or None."""
        keys = ProjectKeys(project)
        waiting = self._job(self.r.get(keys.job_waiting))
        if waiting and waiting.get_status() in WAITING:
            stuck = self._behind_dead(project, waiting)
        else:
            last = self._job(self.r.get(keys.job_last))
            stuck = last is not None and self._dead(project, last)
        if not stuck:
            return None
        log.warning("project %s: its training died with its worker; training again", project)
        return self.request(project).job_id

    def want_push(self, project: str, version: str, training_job: str) -> str | None:
        """Ask for `version`'s predictions to be written to LS (after its training's record is
        saved). Promotions coalesce: the push that starts next writes the newest version asked
        for. Returns the training job whose push this one replaced, if any."""
        replaced = self.r.getset(ProjectKeys(project).push_wanted, json.dumps({"version": version, "job": training_job}))
        self.push_due(project)
        return json.loads(replaced)["job"] if replaced else None

    def push_due(self, project: str) -> str | None:
        """Enqueue the push asked for, unless one waits already or the last one began less than
        PUSH_INTERVAL_S ago (then a worker's loop calls this again). The job id, or None."""
        keys = ProjectKeys(project)
        with self.r.lock(keys.trigger_lock, timeout=10, sleep=0.005, blocking_timeout=5):
            if not self.r.exists(keys.push_wanted):
                return None
            waiting = self._job(self.r.get(keys.push_waiting))
            if waiting and waiting.get_status() in WAITING:
                return None
            if time.time() - float(self.r.get(keys.push_started) or 0) < self.settings.push_interval_s:
                return None
            job = self._enqueue_push(project)
            self.r.set(keys.push_waiting, job.id)
        log.info("project %s: %s enqueued", project, job.id)
        return job.id

    def continue_push(self, project: str, version: str, training_job: str, after: int) -> str:
        """Enqueue the rest of a push, the tasks after id `after`, behind any training that waits.
        It is not the push that waits (`push_due`): a newer version's push is enqueued beside it,
        and it stops at its first check once that version serves."""
        job = self._enqueue_push(project, version, training_job, after)
        log.info("project %s: %s enqueued, the push of %s after task %d", project, job.id, version, after)
        return job.id

    def _enqueue_push(self, project: str, *args) -> Job:
        return self.background_queue.enqueue(PUSH_FUNCTION, project, *args, job_id=f"push-{project}-{time.time_ns()}",
                                       job_timeout=self.settings.train_timeout, result_ttl=RESULT_TTL_S,
                                       failure_ttl=FAILURE_TTL_S, description=f"push project {project}'s predictions to LS")

    def request_rebuild(self, project: str) -> str | None:
        """Enqueue the project's background full training on the background queue, unless one is
        under way (its lease holds); the job id, or None."""
        job_id = f"rebuild-{project}-{time.time_ns()}"
        if not self.r.set(ProjectKeys(project).rebuild, job_id, nx=True, ex=REBUILD_LEASE_S):
            return None
        self._enqueue_rebuild(project, job_id)
        log.info("project %s: %s enqueued, a full training from the encoder in the background", project, job_id)
        return job_id

    def continue_rebuild(self, project: str) -> str:
        """Enqueue the background full training's next slice behind any waiting training; the lease renews."""
        job_id = f"rebuild-{project}-{time.time_ns()}"
        self.r.set(ProjectKeys(project).rebuild, job_id, ex=REBUILD_LEASE_S)
        self._enqueue_rebuild(project, job_id)
        return job_id

    def end_rebuild(self, project: str) -> None:
        self.r.delete(ProjectKeys(project).rebuild)

    def _enqueue_rebuild(self, project: str, job_id: str) -> Job:
        return self.background_queue.enqueue(REBUILD_FUNCTION, project, job_id=job_id,
                                             job_timeout=self.settings.train_timeout, result_ttl=RESULT_TTL_S,
                                             failure_ttl=FAILURE_TTL_S,
                                             description=f"a slice of project {project}'s full training")

    def take_push(self, project: str) -> tuple[str, str] | None:
        """For the push job as it starts: the newest (version, training job) asked for, or None when
        another job took it; the interval to the next push counts from now."""
        keys = ProjectKeys(project)
        pipe = self.r.pipeline()
        pipe.getdel(keys.push_wanted).delete(keys.push_waiting).set(keys.push_started, time.time())
        wanted = pipe.execute()[0]
        if not wanted:
            return None
        asked = json.loads(wanted)
        return asked["version"], asked["job"]

    def cover(self, project: str, first: bool = False) -> str | None:
        """Enqueue ordering the project's unlabelled tasks for the cold start, unless one is waiting
        (a burst of imports asks once); the job id, or None when one waits. `first`: the order a
        connection asks for, once (LS calls /setup again and again while that job runs)."""
        keys = ProjectKeys(project)
        if first and not self.r.set(keys.cover_first, 1, nx=True, ex=COVER_ASK_TTL_S):
            return None
        if not self.r.set(keys.cover_asked, 1, nx=True, ex=COVER_ASK_TTL_S):
            return None
        job = self.queue.enqueue(COVER_FUNCTION, project, job_id=f"cover-{project}-{time.time_ns()}",
                                 job_timeout=self.settings.train_timeout, result_ttl=RESULT_TTL_S, failure_ttl=FAILURE_TTL_S,
                                 description=f"order project {project}'s tasks for the cold start")
        log.info("project %s: %s enqueued", project, job.id)
        return job.id

    def cover_started(self, project: str) -> None:
        """A cover job has begun reading the tasks: imports from now on ask for another."""
        self.r.delete(ProjectKeys(project).cover_asked)

    def _job(self, raw: bytes | None) -> Job | None:
        """The job whose id a Redis key holds (None: no id, or the job expired)."""
        return self._job_by_id(raw.decode()) if raw is not None else None

    def _job_by_id(self, job_id: str) -> Job | None:
        try:
            return Job.fetch(job_id, connection=self.r)
        except NoSuchJobError:
            return None

    def _behind_dead(self, project: str, job: Job) -> bool:
        """A deferred job whose dependency is a dead job (see `_dead`)."""
        if job.get_status() != JobStatus.DEFERRED:
            return False
        return any(dep is not None and self._dead(project, dep) for dep in map(self._job_by_id, job.dependency_ids))

    def _dead(self, project: str, job: Job) -> bool:
        """A started job whose worker was killed: no lease renewed for LEASE_S (waiting on it
        would wait for RQ's own cleanup, minutes later)."""
        if job.get_status() != JobStatus.STARTED or self.alive(project, job.id):
            return False
        started = job.started_at
        return started is None or (datetime.now(timezone.utc) - _utc(started)).total_seconds() > LEASE_S

    def lease(self, project: str, job_id: str) -> None:
        """Called by a running job every LEASE_S / 3 seconds: "I am alive"."""
        self.r.set(ProjectKeys(project).job_alive, job_id, ex=LEASE_S)

    def release(self, project: str, job_id: str) -> None:
        """Called by a job as it returns: its lease is renewed once more rather than dropped. RQ
        marks the job finished only after the function returns; a lease dropped here would let a
        worker's rescue loop see a started job without a lease in between, and train again."""
        if self.r.get(ProjectKeys(project).job_alive) == job_id.encode():
            self.lease(project, job_id)

    def alive(self, project: str, job_id: str) -> bool:
        return self.r.get(ProjectKeys(project).job_alive) == job_id.encode()

    def take_resync(self, project: str) -> bool:
        """True once after a START_TRAINING asked for a re-sync (the job that starts next clears it)."""
        return bool(self.r.getdel(ProjectKeys(project).resync))

    def keep_resync(self, project: str) -> None:
        """A re-sync that failed stays asked for: the next job tries it again."""
        self.r.set(ProjectKeys(project).resync, 1)
