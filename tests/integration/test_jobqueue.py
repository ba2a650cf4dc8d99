"""The retraining policy and job coalescing, on a real redis-server and a real RQ queue."""

from __future__ import annotations

import uuid

import pytest
from rq import Queue
from rq.job import Job

from backend.config import Settings
from backend.labelstudio.annotation import Annotation
from backend.state import connect
from backend.state.keys import ProjectKeys
from backend.state.jobqueue import JOB_FUNCTION


@pytest.fixture()
def setup(redis_url, tmp_path):
    settings = Settings(redis_url=redis_url, model_dir=str(tmp_path / "models"), min_annotations=5, train_every=3,
                        queue_name=f"q-{uuid.uuid4().hex[:8]}")
    stores = connect(settings)
    return stores.annotations, stores.queue, Queue(settings.queue_name, connection=stores.client)


def _add(store, project, task_id, when="2026-11-01T10:00:00Z"):
    return store.upsert(project, Annotation(task_id, task_id, {"text": f"text {task_id}"}, [], 1, when))


def test_policy_first_after_min_then_every_n(setup, project):
    store, trainer, queue = setup
    requests = []
    for task in range(1, 12):
        _add(store, project, task)
        requests.append(trainer.after_change(store, project))
    # nothing before 5 annotations; then one request (coalesced while the job waits), every 3 changes
    assert requests[:4] == [None] * 4
    fired = [i + 1 for i, r in enumerate(requests) if r is not None]
    assert fired == [5, 8, 11]
    assert [r.coalesced for r in requests if r] == [False, True, True]
    (job_id,) = queue.job_ids  # one waiting job carries all of them
    job = Job.fetch(job_id, connection=queue.connection)
    assert job.func_name == JOB_FUNCTION and job.args == (project,) and job_id == f"train-{project}-1"


def test_start_training_always_and_resync_flag_taken_once(setup, project):
    store, trainer, queue = setup
    _add(store, project, 1)
    assert trainer.after_change(store, project) is None  # below MIN_ANNOTATIONS
    first = trainer.request(project, resync=True)
    assert not first.coalesced and trainer.request(project).coalesced
    assert trainer.take_resync(project) is True and trainer.take_resync(project) is False


def test_projects_are_independent_and_a_finished_job_is_not_joined(setup, project, new_project):
    store, trainer, queue = setup
    a, b = trainer.request(project), trainer.request(new_project())
    assert a.job_id != b.job_id and not b.coalesced
    Job.fetch(a.job_id, connection=queue.connection).cancel()
    again = trainer.request(project)
    assert not again.coalesced and again.job_id == f"train-{project}-2"


def _started(queue, job_id: str, seconds_ago: float) -> Job:
    """The job as a worker leaves it when it is killed mid-training: started, no lease renewed."""
    from datetime import datetime, timedelta, timezone

    from rq.job import JobStatus

    job = Job.fetch(job_id, connection=queue.connection)
    job.set_status(JobStatus.STARTED)
    job.started_at = datetime.now(timezone.utc) - timedelta(seconds=seconds_ago)
    job.save()
    return job


def test_a_training_that_died_with_its_worker_is_trained_again(setup, project):
    from backend.state.jobqueue import LEASE_S

    store, trainer, queue = setup
    first = trainer.request(project)
    assert trainer.rescue(project) is None  # waiting to start: nothing to rescue
    _started(queue, first.job_id, 2)
    assert trainer.rescue(project) is None  # started moments ago: its worker may be loading
    trainer.lease(project, first.job_id)
    _started(queue, first.job_id, LEASE_S + 5)
    assert trainer.rescue(project) is None  # an old job that still renews its lease is alive
    trainer.release(project, first.job_id)  # it returned; RQ has not marked it finished yet
    assert trainer.rescue(project) is None  # not dead: no pointless training
    queue.connection.delete(ProjectKeys(project).job_alive)  # its lease lapsed: the worker was killed
    again = trainer.rescue(project)  # killed mid-training, nothing waiting: a new job
    assert again == f"train-{project}-2" and trainer.rescue(project) is None
    # "Start training" pressed right after a kill waits on the job that just died; once its lease
    # has lapsed, rescue replaces the waiting job
    _started(queue, again, 2)
    successor = trainer.request(project)
    assert not successor.coalesced and Job.fetch(successor.job_id, connection=queue.connection).get_status() == "deferred"
    assert trainer.rescue(project) is None
    _started(queue, again, LEASE_S + 5)
    replaced = trainer.rescue(project)
    assert replaced == f"train-{project}-4"
    assert Job.fetch(successor.job_id, connection=queue.connection).get_status() == "canceled"


def test_pushes_coalesce_and_begin_at_most_once_per_interval(redis_url, tmp_path, project):
    """Promotions faster than LS takes a push: one job waits at a time and writes the newest
    version; after a push begins, the next waits PUSH_INTERVAL_S (a worker's loop starts it)."""
    from backend.state.jobqueue import PUSH_FUNCTION

    settings = Settings(redis_url=redis_url, model_dir=str(tmp_path / "models"), push_interval_s=600,
                        queue_name=f"q-{uuid.uuid4().hex[:8]}")
    stores = connect(settings)
    queue = Queue(settings.background_queue, connection=stores.client)  # behind the trainings' queue
    assert stores.queue.want_push(project, "v1-20260101T000000", f"train-{project}-1") is None
    assert stores.queue.want_push(project, "v2-20260101T000100", f"train-{project}-2") == f"train-{project}-1"
    (waiting,) = queue.jobs
    assert waiting.func_name == PUSH_FUNCTION and waiting.args == (project,)
    assert stores.queue.take_push(project) == ("v2-20260101T000100", f"train-{project}-2")  # the job starts
    assert stores.queue.take_push(project) is None  # nothing left for a second job
    queue.empty()
    assert stores.queue.want_push(project, "v3-20260101T000200", f"train-{project}-3") is None
    assert stores.queue.push_due(project) is None and queue.jobs == []  # the last push began just now
    later = connect(Settings(**{**settings.__dict__, "push_interval_s": 0}))
    assert later.queue.push_due(project) is not None and len(queue.jobs) == 1
    assert later.queue.take_push(project) == ("v3-20260101T000200", f"train-{project}-3")
    assert len(Queue(settings.queue_name, connection=stores.client)) == 0  # no push on the trainings' queue


@pytest.mark.slow  # a worker process: about 10 s
def test_a_push_an_older_release_left_on_its_push_queue_is_still_run(redis_url, tmp_path, project):
    """Releases before the background queue put pushes on `<QUEUE_NAME>-push`: one left waiting
    there at an upgrade would hold every later push of its project back (`push_due` sees it waiting)."""
    import subprocess
    import sys

    from backend.state.jobqueue import PUSH_FUNCTION
    from tests.support.servers import ROOT

    settings = Settings(redis_url=redis_url, model_dir=str(tmp_path / "models"), queue_name=f"q-{uuid.uuid4().hex[:8]}")
    stores = connect(settings)
    left = Queue(f"{settings.queue_name}-push", connection=stores.client).enqueue(PUSH_FUNCTION, project)
    env = {"REDIS_URL": redis_url, "MODEL_DIR": settings.model_dir, "QUEUE_NAME": settings.queue_name,
           "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "backend.cli", "worker", "--burst"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert Job.fetch(left.id, connection=stores.client).get_status() == "finished"
