"""The model registry against a real redis-server and real model folders."""

import pytest
import redis

from backend.ner.checkpoint import ModelFolderError, save_model
from backend.registry import ModelRegistry, RegistryError


@pytest.fixture()
def registry(redis_url, tmp_path):
    return ModelRegistry(tmp_path / "models", redis.Redis.from_url(redis_url))


def test_versions_are_promoted_only_when_complete(registry, trained):
    project = "41"
    version, path = registry.new_version(project)
    assert path.parent == registry.root / project and version.startswith("v1-")
    with pytest.raises(ModelFolderError):
        registry.promote(project, version)  # nothing saved yet
    assert registry.current(project) is None
    save_model(trained.model, trained.tokenizer, trained.labels, {"n": 1}, path, trained.transitions)
    registry.promote(project, version)
    second, path2 = registry.new_version(project)
    assert second.startswith("v2-")
    (path2).mkdir(parents=True)
    (path2 / "config.json").write_text("{}")  # a half-written folder
    with pytest.raises(ModelFolderError):
        registry.promote(project, second)
    assert registry.current(project) == version
    assert registry.versions(project) == [version]


@pytest.mark.parametrize("project, version", [("../etc", "v1-20260101T000000"), ("1", "../../x"),
                                              ("1/2", "v1-20260101T000000"), ("1", "v1-20260101T000000/..")])
def test_names_from_requests_never_reach_outside_the_store(registry, project, version):
    with pytest.raises(RegistryError):
        registry.path(project, version)
