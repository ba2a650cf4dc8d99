"""The model registry against a real redis-server and real model folders."""

import pytest

from backend.ner.checkpoint import ModelFolderError, save_model
from backend.state.registry import RegistryError


@pytest.fixture()
def registry(stores):
    return stores.registry


def test_versions_are_promoted_only_when_complete(registry, trained):
    project = "41"
    version, path = registry.new_version(project)
    assert path.parent == registry.root / project and version.startswith("v1-")
    with pytest.raises(ModelFolderError):
        registry.promote(project, version)  # nothing saved yet
    assert registry.current(project) is None
    save_model(trained.ner, {"n": 1}, path)
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


def test_promotion_is_monotonic_in_the_data_a_version_saw(registry, trained_folder):
    import shutil

    from backend.state.keys import CURRENT_VERSIONS
    from backend.state.registry import StaleVersion

    project = "46"
    made = []
    for _ in range(3):
        version, path = registry.new_version(project)
        shutil.copytree(trained_folder, path)
        made.append(version)
    older, newer, same = made
    # two trainings overlapped: the one that read the store at change 20 is promoted first ...
    registry.promote(project, newer, changes=20)
    # ... and the one that read it at change 12 finishes later: it must not go back in front
    with pytest.raises(StaleVersion, match="change 12.*change 20"):
        registry.promote(project, older, changes=12)
    assert registry.current(project) == newer and registry.versions(project) == [newer]
    assert registry.r.hget(CURRENT_VERSIONS, project).decode() == newer  # what serving processes poll
    registry.promote(project, same, changes=20)  # a retraining on the same data may replace it
    assert registry.current(project) == same
