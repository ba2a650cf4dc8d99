"""The RQ job push_predictions: after a promotion, predict the project's unlabelled tasks with the new
version and write those predictions to Label Studio, so that its Data Manager sorts tasks by the
current model's task score."""

from __future__ import annotations

import logging
from itertools import islice
from typing import Iterator

from backend.config import Settings
from backend.labelstudio.client import LabelStudioClient
from backend.labelstudio.protocol import Task
from backend.ner.device import use_threads
from backend.state import Stores, connect
from backend.state.history import PushStatus, Training

from .lswrite import PUSH_BATCH, StalePush, load_version, select_version, serving_check, write_batches

log = logging.getLogger(__name__)


def push_predictions(project: str, version: str | None = None, training_job: str | None = None,
                     after: int | None = None) -> dict:
    """Write the newest promoted version asked for (`ProjectJobs.want_push`) to LS: its
    predictions for up to PUSH_LIMIT unlabelled tasks, in batches, PUSH_SLICE tasks a job (each
    slice enqueues the next, `after` the last task id written, behind any waiting training), then
    that version selected and the predictions of versions older than the one a rollback would return
    to deleted. Progress goes in the training record of the job that promoted it. `version` and
    `training_job` stand in when nothing is asked for (a job an older release enqueued, a direct
    call). Never raises: the promotion stands whatever happens here; a failure is logged and recorded."""
    settings = Settings.from_env()
    use_threads(settings.train_threads)
    stores = connect(settings)
    if after is None:
        asked = stores.queue.take_push(project)
        if asked:
            version, training_job = asked
    if version is None or training_job is None:  # another job took it: nothing left to write
        return {"project": project, "status": "nothing asked"}
    record = stores.history.get(project, training_job) or Training(training_job, version=version)
    if after is None or not record.push:
        record.push = _progress(version, PushStatus.RUNNING)
        stores.history.save(project, record)
    try:
        last = _push(project, version, settings, stores, record, after or 0)
        if last is not None:  # more to write: the worker takes any waiting training first
            record.push["next"] = stores.queue.continue_push(project, version, training_job, last)
            stores.history.save(project, record)
            return {"project": project, **record.push}
        record.push["status"] = PushStatus.DONE
    except StalePush as exc:  # two workers: an older version's push finishing after a newer one's
        record.push.update(status=PushStatus.STALE, error=str(exc))
        log.info("project %s: %s", project, exc)
    except Exception as exc:  # LS down, a refused token, a vanished version: the promotion stands
        record.push.update(status=PushStatus.FAILED, error=f"{type(exc).__name__}: {exc}")
        log.exception("project %s: pushing %s's predictions to Label Studio failed", project, version)
    record.push.pop("next", None)
    stores.history.save(project, record)
    return {"project": project, **record.push}


def _progress(version: str | None, status: PushStatus) -> dict:
    """A push's progress as its training record keeps it, before any task is read."""
    return {"version": version, "status": status, "tasks": 0, "pushed": 0, "error": None}


def request_push(stores: Stores, project: str, record: Training) -> None:
    """Ask for the push of `record`'s promoted version; the record of a promotion whose push had
    not started yet says its push was coalesced into this one."""
    record.push = _progress(record.version, PushStatus.WAITING)
    stores.history.save(project, record)
    replaced = stores.queue.want_push(project, record.version, record.job_id)
    older = stores.history.get(project, replaced) if replaced and replaced != record.job_id else None
    if older is not None and older.push:
        older.push.update(status=PushStatus.COALESCED, error=f"coalesced into the push of {record.version}")
        stores.history.save(project, older)


def _push(project: str, version: str, settings: Settings, stores: Stores, record: Training, after: int) -> int | None:
    """One slice: up to PUSH_SLICE tasks after task id `after`. The last task id written when the
    slice was full and the limit not reached (the rest follows in another job), else None once
    the version is selected in LS."""
    still_current = serving_check(stores, project, version, f"push of {version}")
    still_current()
    served = load_version(project, version, settings, stores)
    ls = LabelStudioClient(settings.label_studio_url, settings.label_studio_api_key)
    budget = min(max(1, settings.push_slice), settings.push_limit - record.push["tasks"])
    read_before = record.push["tasks"]

    def tasks() -> Iterator[tuple[int, dict]]:  # counted as read: `tasks` beside `pushed` shows a batch that failed
        for task in islice(ls.unlabelled_tasks(project, PUSH_BATCH, after), budget):
            record.push["tasks"] += 1
            yield task

    def progress(batch: list[Task]) -> None:
        record.push["pushed"] += len(batch)
        stores.history.save(project, record)

    last = write_batches(project, served, version, tasks(), settings, stores, ls, progress, still_current)
    if record.push["tasks"] - read_before == budget and record.push["tasks"] < settings.push_limit and last is not None:
        return last
    record.push["pruned"] = select_version(project, version, stores, ls, still_current)
    log.info("project %s: %d predictions of %s written to Label Studio, %d older ones deleted", project,
             record.push["pushed"], version, record.push["pruned"])
    return None
