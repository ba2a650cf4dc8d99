"""The flat loop through the worker's job: a grown project's next version fits only what changed
(with a replay sample) from the serving one, and says what still weighs from before."""

from __future__ import annotations

from backend.config import Settings
from backend.labelstudio.annotation import Annotation
from backend.ner.readers import Sentence, text_and_regions
from backend.ops.lsdemo import DEMO_CONFIG
from backend.state import connect
from worker.training.recipe import INCREMENTAL_FROM, INCREMENTAL_STEPS


def _store(stores, project: str, task: int, sentence: Sentence) -> None:
    text, regions = text_and_regions(sentence)
    stores.annotations.upsert(project, Annotation(task, task, {"text": text}, regions))


def test_a_grown_project_trains_incrementally_and_a_deleted_annotation_is_counted_until_a_full_training(
        gmb_train, redis_url, tmp_path, monkeypatch, project, app):
    from worker.jobs import train_project

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
    assert step.plan["steps"] >= INCREMENTAL_STEPS * 0.9
    assert step.lineage == {**full.lineage, "stale": 1}  # the deleted task weighs until the next full training
    assert gone not in set(map(int, _metrics(stores, project, step.version)["train_fingerprints"]))

    page = app.test_client().get("/").get_data(as_text=True)  # the status page, over the same Redis
    assert f"{step.version} trained incremental ({step.plan['changed']} tasks added or changed" in page
    assert f"the last full training: {full.version} on {len(first)} tasks" in page and "1 annotations deleted" in page


def _metrics(stores, project: str, version: str) -> dict:
    from backend.ner.checkpoint import read_metrics

    return read_metrics(stores.registry.path(project, version))
