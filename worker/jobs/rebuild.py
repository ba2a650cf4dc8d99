"""The RQ job rebuild_project(project): the project's full training from the encoder, in the
background, REBUILD_SLICE_S seconds a job, so that a training never waits behind it for longer.

Its state lives in the project's folder, `rebuild/`: the data it trains on (`snapshot.json`, read
once when it starts), the run between slices (`run.pt`), and once done the model (`model/`), which
the next training (asked for at once) starts from, fitting what changed since the snapshot.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from backend.clock import utc_now
from backend.config import Settings
from backend.ner.checkpoint import ModelFolderError, load_model, read_metrics, save_model
from backend.ner.device import use_threads
from backend.ner.labels import LabelSet
from backend.ner.readers import Sentence
from backend.state import connect
from worker.training.adapt import project_settings
from worker.training.dataset import project_data
from worker.training.loop import Run
from worker.training.recipe import Current, full_sample, starting_point, training_split

log = logging.getLogger(__name__)
FOLDER = "rebuild"
BACKGROUND = "the background full training"  # its lineage name: no version served it alone


@dataclass
class Snapshot:
    """The training side of the project when the full training began."""

    tasks: int
    labels: LabelSet
    fingerprints: dict[int, str]
    train: list[Sentence]
    at: str

    def save(self, path: Path) -> None:
        raw = {"tasks": self.tasks, "labels": list(self.labels.labels), "at": self.at,
               "fingerprints": {str(t): f for t, f in self.fingerprints.items()},
               "train": [[s.words, s.tags] for s in self.train]}
        partial = path.with_name(path.name + ".partial")
        partial.write_text(json.dumps(raw))
        partial.replace(path)

    @classmethod
    def load(cls, path: Path) -> Snapshot:
        raw = json.loads(path.read_text())
        return cls(raw["tasks"], LabelSet(tuple(raw["labels"])), {int(t): f for t, f in raw["fingerprints"].items()},
                   [Sentence(words, tags) for words, tags in raw["train"]], raw["at"])


def rebuild_project(project: str) -> dict:
    """One slice of the project's background full training; the last slice saves the model and
    asks for a training. A failure removes the rebuild's state (the next due training asks again)."""
    settings = Settings.from_env()
    use_threads(settings.train_threads)
    stores = connect(settings)
    home = stores.registry.project_dir(project)
    folder = home / FOLDER
    try:
        snapshot = _snapshot(project, folder, settings, stores)
        adapted = project_settings(settings, home)
        _, base, _ = starting_point(None, snapshot.tasks, snapshot.labels, adapted)
        run = Run(*full_sample(snapshot.train, adapted), base_model=base, labels=snapshot.labels)
        if (folder / "run.pt").exists():
            run.restore(folder / "run.pt")
        if not run.train(progress=False, deadline=time.monotonic() + settings.rebuild_slice_s):
            run.save(folder / "run.pt")
            job = stores.queue.continue_rebuild(project)
            log.info("project %s: full training at step %d of %d, next slice %s", project, run.steps_done,
                     run.total_steps, job)
            return {"project": project, "status": "running", "steps": run.steps_done, "of": run.total_steps}
        metrics = {"annotations": snapshot.tasks, "labels": list(snapshot.labels.labels),
                   "train_tasks": sorted(snapshot.fingerprints),  # from the encoder: only its own
                   "train_fingerprints": {str(t): f for t, f in snapshot.fingerprints.items()},
                   "lineage": {"version": BACKGROUND, "tasks": snapshot.tasks,
                               "at": utc_now(), "stale": 0},
                   "train": run.result.summary()}
        save_model(run.result.ner, metrics, folder / "model")
        for done in ("run.pt", "snapshot.json"):  # a later rebuild starts from a new snapshot
            (folder / done).unlink(missing_ok=True)
    except Exception:  # a vanished project, a full disk, a bug: drop the state, the next due training asks again
        log.exception("project %s: the background full training failed", project)
        shutil.rmtree(folder, ignore_errors=True)
        stores.queue.end_rebuild(project)
        raise
    stores.queue.end_rebuild(project)
    request = stores.queue.request(project)  # the next training starts from it
    log.info("project %s: full training on %d tasks done; training %s asked for", project, snapshot.tasks, request.job_id)
    return {"project": project, "status": "done", "tasks": snapshot.tasks}


def _snapshot(project: str, folder: Path, settings: Settings, stores) -> Snapshot:
    """The saved snapshot, or (a new rebuild) the project's training split now, saved."""
    path = folder / "snapshot.json"
    if path.exists():
        return Snapshot.load(path)
    shutil.rmtree(folder, ignore_errors=True)  # a finished model not yet taken, or a failed run's leftovers
    folder.mkdir(parents=True)
    from .train import training_controls  # here: the training job imports this module

    data = project_data(stores.annotations.annotations(project), training_controls(stores.annotations, project),
                        settings.max_task_chars)
    split = training_split(data, settings)
    snapshot = Snapshot(data.tasks, data.labels, split.train_fingerprints(), split.train, utc_now())
    snapshot.save(path)
    return snapshot


def finished(project_dir: Path, labels: LabelSet) -> Current | None:
    """The background full training's model once done, as a starting point (None: none, or one
    trained for other labels)."""
    folder = project_dir / FOLDER / "model"
    if not folder.exists():
        return None
    try:
        ner, metrics = load_model(folder), read_metrics(folder)
    except (ModelFolderError, OSError) as exc:  # removed meanwhile by a newer rebuild, or damaged
        log.error("%s: unreadable, not starting from it: %s", folder, exc)
        return None
    if ner.labels != labels:
        return None
    return Current.from_metrics(BACKGROUND, ner, metrics)


def taken(project_dir: Path) -> None:
    """The finished model is in a version now (or was refused by the gate): remove it."""
    shutil.rmtree(project_dir / FOLDER, ignore_errors=True)
