"""The training worker's process: warm imports, a tidy model store, the rescue loop, then RQ's `Worker`."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import redis
from rq import Queue, Worker

import worker.jobs  # noqa: F401  (imported once here, so each forked job starts warm)
from backend.config import Settings
from backend.ner.basemodel import preload
from backend.ner.device import describe_device
from backend.state import connect
from backend.state.jobqueue import LEASE_S

log = logging.getLogger("ner_backend")
ORPHAN_AGE_S = 3600  # a save takes seconds: what a worker left half-written for an hour is an orphan


def run(settings: Settings, name: str | None = None, burst: bool = False) -> None:
    """A real RQ worker on the training queue (forks one work horse per job)."""
    log.info("%s", describe_device())  # measures bf16 in a child: no tensor here before the forks
    try:
        preload(settings.base_model or None)
    except Exception as exc:  # a bad BASE_MODEL fails each job, with the reason in its record
        log.warning("could not preload the base model %r: %s", settings.base_model or "minilm", exc)
    if settings.worker_nice:
        os.nice(settings.worker_nice)
    try:
        tidy_store(settings)
    except (OSError, redis.RedisError) as exc:  # tidying is housekeeping: the worker trains anyway
        log.warning("could not tidy the model store: %s", exc)
    threading.Thread(target=rescue_dead_trainings, args=(settings,), name="rescue", daemon=True).start()
    # A bare client: RQ's worker loop blocks on the queue for minutes, past the stores' socket timeout.
    client = redis.Redis.from_url(settings.redis_url)
    # RQ takes from the first queue with a job: a training never waits behind more than one push slice
    # and, last, `<QUEUE_NAME>-push`, where releases before the background queue put their pushes: a
    # push left waiting there at an upgrade would otherwise hold every later push of its project back
    names = [settings.queue_name, settings.background_queue, f"{settings.queue_name}-push"]
    queues = [Queue(queue, connection=client) for queue in names]
    log.info("worker on queues %s at %s", ", then ".join(map(repr, names)), settings.redis_url.split("@")[-1])
    Worker(queues, connection=client, name=name).work(burst=burst, logging_level="INFO")


def rescue_dead_trainings(settings: Settings) -> None:
    """At start and every LEASE_S after: retire old versions whose grace has passed, and train
    again each project whose latest training died with its worker, recording the dead one
    abandoned. A worker killed mid-training leaves a started job, and a successor waiting on it,
    that nothing else would replace until the project's next trigger after the lease lapsed
    (`ProjectJobs.rescue`)."""
    stores = connect(settings)
    while True:
        try:
            for project in stores.annotations.projects():
                job_id = stores.queue.rescue(project)
                if job_id:  # jobs of a project never overlap: any other running record is dead
                    stores.history.abandon_running(project, keep=job_id)
                # and each version's grace is checked here too, so a project that stopped training
                # does not keep the versions its last trainings replaced
                stores.registry.retire(project, settings.keep_versions, settings.retire_grace_s)
                if settings.pushes_to_ls:  # a push held back by PUSH_INTERVAL_S starts once it is due
                    stores.queue.push_due(project)
        except redis.RedisError as exc:  # Redis restarting: the next round tries again
            log.warning("could not look for dead trainings: %s", exc)
        except OSError as exc:  # a folder retention could not remove: the next round tries again
            log.warning("could not remove old versions: %s", exc)
        time.sleep(LEASE_S + 1)  # a job is dead once its lease has lapsed


def tidy_store(settings: Settings) -> None:
    """At worker start: remove what killed workers left (scratch and unpromoted folders older than
    an hour, the fast-path check's scratch under the temp folder) and retire old versions."""
    stores = connect(settings)
    for path in stores.registry.remove_orphans(ORPHAN_AGE_S):
        log.info("removed %s, left by a worker that died while saving", path)
    cutoff = time.time() - ORPHAN_AGE_S
    for scratch in Path(tempfile.gettempdir()).glob("ner-fastpath-*"):
        if scratch.stat().st_mtime < cutoff:
            shutil.rmtree(scratch, ignore_errors=True)
    for project in stores.annotations.projects():
        stores.registry.retire(project, settings.keep_versions, settings.retire_grace_s)
