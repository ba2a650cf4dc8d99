"""Nothing broken is ever served: corrupt or partial model folders in the store, on real Redis."""

from __future__ import annotations

import json
import shutil

import pytest
import redis

from backend.config import Settings
from backend.ner.checkpoint import ModelFolderError, check_folder
from backend.state.keys import CURRENT_VERSIONS
from backend.state.registry import ModelRegistry
from backend.serving import ModelServer


def _truncate(folder):
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])


def _drop_label_map(folder):
    (folder / "labels.json").unlink()


def _garble_label_map(folder):
    (folder / "labels.json").write_text('{"labels": ["O", "B-x"')


@pytest.mark.parametrize("damage", [_truncate, _drop_label_map, _garble_label_map])
def test_a_damaged_version_is_never_promoted_nor_served(damage, trained_folder, redis_url, tmp_path):
    client = redis.Redis.from_url(redis_url)
    settings = Settings(redis_url=redis_url, model_dir=str(tmp_path / "store"), model_cache_size=3)
    registry = ModelRegistry(settings.model_dir, client)
    project = str(7000 + len(damage.__name__))
    good, path = registry.new_version(project)
    shutil.copytree(trained_folder, path)
    registry.promote(project, good)
    server = ModelServer(settings, registry)
    server.for_project(project)
    server.refresh()
    assert server.serving(project).version == good

    bad, path = registry.new_version(project)
    shutil.copytree(trained_folder, path)
    damage(path)
    with pytest.raises(ModelFolderError):
        registry.promote(project, bad)
    assert registry.current(project) == good

    # Even if something wrote the pointer behind the registry's back, a serving process keeps
    # the working version and keeps answering.
    client.hset(CURRENT_VERSIONS, project, bad)
    assert server.refresh() == []
    served = server.for_project(project)
    assert served.version == good
    assert served.predictor.predict(["Angela Merkel flew to Paris ."])[0].spans


def test_weights_check_catches_truncation_and_accepts_the_real_file(trained_folder, tmp_path):
    assert check_folder(trained_folder)  # a real folder passes
    copy = tmp_path / "copy"
    shutil.copytree(trained_folder, copy)
    with open(copy / "model.safetensors", "ab") as fh:
        fh.write(b"\0")  # one byte too many is as wrong as one too few
    with pytest.raises(ModelFolderError, match="truncated or padded"):
        check_folder(copy)
    (copy / "model.safetensors").write_bytes(json.dumps({"not": "safetensors"}).encode())
    with pytest.raises(ModelFolderError, match="unreadable"):
        check_folder(copy)


def _annotated_project(project: str, sentences, redis_url, tmp_path, monkeypatch):
    """The stores a worker job uses (one-epoch trainings), with `sentences` annotated as tasks 1..n."""
    from backend.labelstudio.annotation import Annotation
    from backend.ner.readers import text_and_regions
    from backend.state import connect

    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("MODEL_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("TRAIN_EPOCHS", "1")
    stores = connect(Settings.from_env())
    for i, sentence in enumerate(sentences):
        text, regions = text_and_regions(sentence)
        stores.annotations.upsert(project, Annotation(i + 1, i + 1, {"text": text}, regions))
    return stores


def test_a_stored_annotation_no_check_foresaw_is_skipped_and_the_project_still_learns(
        gmb_train, redis_url, tmp_path, monkeypatch, project):
    """What an older version stored (the webhook now refuses it) cannot fail every later training."""
    from backend.labelstudio.annotation import Annotation
    from worker.jobs import train_project

    stores = _annotated_project(project, gmb_train[:12], redis_url, tmp_path, monkeypatch)
    poison = {"from_name": "label", "to_name": "text", "type": "labels",
              "value": {"start": float("inf"), "end": 5, "labels": ["geo"]}}
    stores.annotations.upsert(project, Annotation(99, 99, {"text": "Paris is big"}, [poison]))
    assert train_project(project)["status"] == "promoted"
    (record,) = stores.history.all(project)
    assert record.annotations == 12 and record.skipped == 1
    assert "task 99" in record.skipped_why[0] and "OverflowError" in record.skipped_why[0]


def test_a_push_of_a_version_that_no_longer_serves_stops_before_selecting_it(trained_folder, redis_url, tmp_path,
                                                                             monkeypatch, project):
    """Two workers: v1's push finishing after v2's would select v1 in LS while v2 serves."""
    from backend.state import connect
    from backend.state.history import Training
    from worker.jobs import push_predictions

    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("MODEL_DIR", str(tmp_path / "store"))
    monkeypatch.setenv("LABEL_STUDIO_URL", "http://127.0.0.1:9")  # never reached: the push stops first
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "token")
    stores = connect(Settings.from_env())
    versions = []
    for _ in range(2):
        version, path = stores.registry.new_version(project)
        shutil.copytree(trained_folder, path)
        stores.registry.promote(project, version)
        versions.append(version)
    job = f"train-{project}-1"
    stores.history.save(project, Training(job, version=versions[0]))
    pushed = push_predictions(project, versions[0], job)
    assert pushed["status"] == "stale" and versions[1] in pushed["error"]
    assert stores.history.get(project, job).push["status"] == "stale"


class _RacingLabelStudio:
    """Label Studio as the cover job sees it, where another worker promotes a version while the
    cold-start predictions are being written (the race needs a hook between two calls)."""

    def __init__(self, texts: list[str], meanwhile) -> None:
        self.texts, self.meanwhile, self.selected, self.imported = texts, meanwhile, [], 0

    def unlabelled_tasks(self, project, page_size):
        yield from ((i + 1, {"text": t}) for i, t in enumerate(self.texts))

    def import_predictions(self, project, predictions):
        self.imported += len(predictions)
        self.meanwhile()

    def select_version(self, project, version):
        self.selected.append(version)


def test_a_cold_start_order_is_never_selected_over_a_version_promoted_while_it_wrote(
        trained_folder, gmb_train, redis_url, tmp_path, monkeypatch, project):
    """Two workers: the cover job reads the current version, then writes for minutes; a version
    promoted meanwhile (and its push) must stay selected in LS."""
    from backend.ner.readers import text_and_regions
    from backend.state import connect
    from tests.support.lsdata import CONFIG
    from worker.jobs import cover as cover_job

    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("MODEL_DIR", str(tmp_path / "store"))
    monkeypatch.setenv("LABEL_STUDIO_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "token")
    monkeypatch.setenv("ADAPT_STEPS", "0")  # the order is what this checks
    stores = connect(Settings.from_env())
    stores.annotations.save_config(project, CONFIG)

    def promote_one():
        if stores.registry.current(project) is None:
            version, path = stores.registry.new_version(project)
            shutil.copytree(trained_folder, path)  # its metrics do not say it orders the tasks
            stores.registry.promote(project, version)

    ls = _RacingLabelStudio([text_and_regions(s)[0] for s in gmb_train[:150]], promote_one)
    monkeypatch.setattr(cover_job, "LabelStudioClient", lambda url, key: ls)
    done = cover_job.cover_tasks(project)
    assert done["status"] == "stale" and stores.registry.current(project) in done["reason"]
    assert ls.selected == [] and ls.imported == 100  # stopped before the second batch


def test_a_full_disk_during_a_save_fails_that_training_and_nothing_else(gmb_train, redis_url, tmp_path, monkeypatch, project):
    import errno

    from backend.ner import fastpath
    from worker.jobs import train_project

    stores = _annotated_project(project, gmb_train[:12], redis_url, tmp_path, monkeypatch)
    assert train_project(project)["status"] == "promoted"
    served = stores.registry.current(project)

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fastpath, "save_model", disk_full)
    with pytest.raises(OSError):
        train_project(project)
    last = stores.history.all(project)[-1]
    assert last.status == "failed" and "No space left on device" in last.error
    assert stores.registry.current(project) == served and stores.annotations.count(project) == 12
    assert sorted(p.name for p in stores.registry.project_dir(project).iterdir()) == [served]
