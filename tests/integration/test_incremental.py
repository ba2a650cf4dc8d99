"""The flat loop through the worker's job: a grown project's next version fits only what changed
(with a replay sample) from the serving one, and says what still weighs from before."""

from __future__ import annotations

import pytest

from backend.config import Settings
from backend.labelstudio.annotation import Annotation
from backend.ner.readers import Sentence, text_and_regions
from backend.ops.lsdemo import DEMO_CONFIG
from backend.state import connect
from worker.training import recipe
from worker.training.recipe import INCREMENTAL_FROM

STEPS = 16  # INCREMENTAL_STEPS here: what is checked is which tasks are fitted, not how well


def _store(stores, project: str, task: int, sentence: Sentence) -> None:
    text, regions = text_and_regions(sentence)
    stores.annotations.upsert(project, Annotation(task, task, {"text": text}, regions))


@pytest.mark.slow  # about 20 s: two trainings of 210 tasks; tests/unit/test_recipe_rules.py keeps the rules quick
def test_a_grown_project_trains_incrementally_and_a_deleted_annotation_is_counted_until_a_full_training(
        gmb_train, redis_url, tmp_path, monkeypatch, project, app):
    from worker.jobs import train_project

    monkeypatch.setattr(recipe, "INCREMENTAL_STEPS", STEPS)
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("MODEL_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("TRAIN_EPOCHS", "1")  # the first, full training: one pass is enough to serve
    stores = connect(Settings.from_env())
    stores.annotations.save_config(project, DEMO_CONFIG)  # the labels stay as the project grows
    first = gmb_train[:INCREMENTAL_FROM + 10]
    for task, sentence in enumerate(first, 1):
        _store(stores, project, task, sentence)
    assert train_project(project)["status"] == "promoted"
    full = stores.history.all(project)[-1]
    assert full.plan["incremental"] is False and full.lineage["version"] == full.version
    assert full.lineage["tasks"] == len(first) and full.lineage["stale"] == 0

    for task, sentence in enumerate(gmb_train[len(first):len(first) + 12], len(first) + 1):
        _store(stores, project, task, sentence)  # 12 new tasks
    trained_on = set(map(int, _metrics(stores, project, full.version)["train_fingerprints"]))
    gone = min(trained_on)
    stores.annotations.delete_annotations(project, [gone])  # an annotation the serving version learned
    assert train_project(project)["status"] == "promoted"
    step = stores.history.all(project)[-1]
    assert step.plan["incremental"] is True, step.plan["why"]
    assert step.warm_start == f"incremental:{full.version}"
    new_in_train = set(map(int, _metrics(stores, project, step.version)["train_fingerprints"])) - trained_on
    assert step.plan["changed"] == len(new_in_train) > 0
    assert STEPS / 2 <= step.plan["steps"] <= STEPS * 1.5  # the budget, rounded to whole passes over the sample
    assert step.lineage == {**full.lineage, "stale": 1}  # the deleted task weighs until the next full training
    assert gone not in set(map(int, _metrics(stores, project, step.version)["train_fingerprints"]))

    page = app.test_client().get("/").get_data(as_text=True)  # the status page, over the same Redis
    assert f"{step.version} trained incremental ({step.plan['changed']} tasks added or changed" in page
    assert f"the last full training: {full.version} on {len(first)} tasks" in page
    assert "1 annotation deleted or changed since still weighs on the model" in page


def _metrics(stores, project: str, version: str) -> dict:
    from backend.ner.checkpoint import read_metrics

    return read_metrics(stores.registry.path(project, version))


@pytest.mark.slow  # about 20 s: three trainings and the slices of a fourth
def test_a_doubled_project_gets_its_full_training_in_background_slices_and_the_next_version_starts_from_it(
        gmb_train, redis_url, tmp_path, monkeypatch, project):
    from rq import Queue

    from worker.jobs import rebuild_project, train_project
    from worker.jobs.rebuild import BACKGROUND, FOLDER

    monkeypatch.setattr(recipe, "INCREMENTAL_FROM", 20)  # the rule at a size a test trains in seconds
    monkeypatch.setattr(recipe, "INCREMENTAL_STEPS", STEPS)
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("MODEL_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("TRAIN_EPOCHS", "1")
    monkeypatch.setenv("REBUILD_SLICE_S", "0")  # a step a slice: the slicing shows in a few steps
    settings = Settings.from_env()
    stores = connect(settings)
    stores.annotations.save_config(project, DEMO_CONFIG)
    for task, sentence in enumerate(gmb_train[:24], 1):
        _store(stores, project, task, sentence)
    assert train_project(project)["status"] == "promoted"
    for task, sentence in enumerate(gmb_train[24:50], 25):  # 50 tasks: more than twice the 24 of the last full one
        _store(stores, project, task, sentence)
    assert train_project(project)["status"] == "promoted"
    served = stores.history.all(project)[-1]
    assert served.plan["incremental"] and served.plan["rebuild"]  # served at once; the full one is due
    background = Queue(settings.background_queue, connection=stores.client)
    assert [j.func_name for j in background.jobs] == ["worker.jobs.rebuild_project"]
    assert stores.queue.request_rebuild(project) is None  # one at a time

    slices = []
    while not slices or slices[-1]["status"] == "running":
        slices.append(rebuild_project(project))
        assert len(slices) < 50
    assert len(slices) > 2 and slices[-1] == {"project": project, "status": "done", "tasks": 50}
    assert len(background.jobs) == len(slices)  # each slice enqueued the next (no worker runs them here)
    home = stores.registry.project_dir(project)
    assert (home / FOLDER / "model").is_dir() and not (home / FOLDER / "run.pt").exists()

    _store(stores, project, 51, gmb_train[50])
    assert train_project(project)["status"] == "promoted"
    after = stores.history.all(project)[-1]
    assert after.warm_start == f"incremental:{BACKGROUND}" and not after.plan["rebuild"]
    assert after.lineage["version"] == BACKGROUND and after.lineage["tasks"] == 50 and after.lineage["stale"] == 0
    assert after.plan["changed"] <= 2  # task 51 (and no other: the full one trained on the rest)
    assert not (home / FOLDER).exists()  # taken
