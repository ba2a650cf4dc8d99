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
