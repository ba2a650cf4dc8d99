"""The model registry against a real redis-server and real model folders."""

import time

import pytest

from backend.ner.checkpoint import ModelFolderError, save_model
from backend.state.registry import RegistryError


@pytest.fixture()
def registry(stores):
    return stores.registry


def test_versions_are_promoted_only_when_complete(registry, trained, project):
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


def test_promotion_is_monotonic_in_the_data_a_version_saw(registry, trained_folder, project):
    import shutil

    from backend.state.keys import CURRENT_VERSIONS
    from backend.state.registry import StaleVersion

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


def _promoted(registry, project, trained_folder, n):
    import shutil

    made = []
    for _ in range(n):
        version, path = registry.new_version(project)
        shutil.copytree(trained_folder, path)
        registry.promote(project, version)
        made.append(version)
    return made


class FakeClock:
    """Time that moves only when a test says so."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def clocked(registry):
    from backend.state.registry import ModelRegistry

    return ModelRegistry(registry.root.parent, registry.r, clock=FakeClock())


def test_retention_keeps_current_previous_newest_and_pinned_once_each_has_been_released(clocked, trained_folder, project):
    made = _promoted(clocked, project, trained_folder, 7)
    clocked.pin(project, made[0])
    assert clocked.retire(project, keep=2, grace_s=600) == []  # v2-v5 were replaced just now
    clocked.clock.now += 600
    gone = clocked.retire(project, keep=2, grace_s=600)
    assert gone == made[1:5]  # kept: pinned v1, v6 (previous, among the newest 2) and v7 (current)
    on_disk = sorted(p.name for p in clocked.project_dir(project).iterdir())
    assert on_disk == sorted([made[0], made[5], made[6]])
    assert clocked.previous(project) == made[5]
    assert clocked.versions(project) == [made[0], made[5], made[6]]  # the list is bounded too


def test_retention_runs_while_a_project_keeps_training(clocked, trained_folder, project):
    """A training every 5 minutes with a 10-minute grace: each version goes 10 minutes after it was
    replaced, however new the current one is (it used to wait for the current one to age)."""
    import shutil

    on_disk = []
    for _ in range(12):
        version, path = clocked.new_version(project)
        shutil.copytree(trained_folder, path)
        clocked.promote(project, version)
        clocked.retire(project, keep=1, grace_s=600)  # what every training does after promoting
        on_disk.append(len(list(clocked.project_dir(project).iterdir())))
        clocked.clock.now += 300
    # the current one (also the newest 1), the previous one, and the one replaced 300 s ago
    assert max(on_disk) == on_disk[-1] == 3
    assert len(clocked.versions(project)) == 3


@pytest.mark.slow  # five CLI processes (~25 s)
def test_a_rollback_serves_the_previous_version_through_the_registry(registry, trained_folder, redis_url, tmp_path, project):
    import subprocess
    import sys

    from backend.state.keys import CURRENT_VERSIONS
    from tests.support.servers import ROOT

    made = _promoted(registry, project, trained_folder, 3)
    env = {"REDIS_URL": redis_url, "MODEL_DIR": str(registry.root.parent), "PATH": "/usr/bin:/bin"}

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "backend.cli", *args], cwd=ROOT, env=env, capture_output=True,
                              text=True)

    done = cli("rollback", "--project", project)
    assert done.returncode == 0, done.stderr
    assert registry.current(project) == made[1] and registry.r.hget(CURRENT_VERSIONS, project).decode() == made[1]
    assert registry.previous(project) == made[2]  # rolling back again returns to the newer one
    assert cli("rollback", "--project", project, "--to", made[0]).returncode == 0
    assert registry.current(project) == made[0]
    missing = cli("rollback", "--project", project, "--to", "v99-20260101T000000")
    assert missing.returncode != 0 and "cannot roll back" in missing.stderr
    assert cli("pin", "--project", project, made[1]).returncode == 0
    assert made[1] in registry.kept(project, keep=0)


def test_what_a_killed_worker_left_is_removed_and_nothing_else(registry, trained_folder, project):
    import os

    (current,) = _promoted(registry, project, trained_folder, 1)
    folder = registry.project_dir(project)
    scratch = folder / ".v2-20260101T000000.tmp-abcd1234"
    unpromoted = folder / "v3-20260101T000000"
    fresh = folder / ".v4-20260101T000000.tmp-ffff0000"  # a save in progress right now
    for path in (scratch, unpromoted, fresh):
        path.mkdir()
    for path in (scratch, unpromoted):
        os.utime(path, (0, 0))
    removed = registry.remove_orphans(older_than_s=3600)
    assert sorted(p.name for p in removed) == sorted([scratch.name, unpromoted.name])
    assert sorted(p.name for p in folder.iterdir()) == sorted([current, fresh.name])


def test_retention_keeps_what_a_live_serving_process_still_holds(clocked, trained_folder, project):
    """A process that has not swapped away from a version keeps it, and its grace starts again only
    once that process lets go; a process silent past the report TTL holds nothing."""
    import json

    from backend.state.keys import SERVING
    from backend.state.registry import SERVING_REPORT_TTL_S

    made = _promoted(clocked, project, trained_folder, 5)
    clocked.clock.now += 600
    clocked.report_serving("host:1", {project: made[0]})  # a process that has not swapped yet
    gone_report = {"at": time.time() - SERVING_REPORT_TTL_S - 1, "versions": {project: made[1]}}
    clocked.r.hset(SERVING, "host:2", json.dumps(gone_report))  # a process that died long ago
    assert clocked.retire(project, keep=1, grace_s=600) == [made[1], made[2]]
    assert not clocked.r.hexists(SERVING, "host:2")
    clocked.r.hdel(SERVING, "host:1")  # it swapped at last: made[0] has 600 s from now
    clocked.clock.now += 599
    assert clocked.retire(project, keep=1, grace_s=600) == []
    clocked.clock.now += 1
    assert clocked.retire(project, keep=1, grace_s=600) == [made[0]]


def test_a_serving_process_reports_what_it_holds(registry, trained_folder, stores, project):
    import json

    from backend.config import Settings
    from backend.serving import ModelServer
    from backend.state.keys import SERVING

    (version,) = _promoted(registry, project, trained_folder, 1)
    server = ModelServer(Settings(model_cache_size=2), registry)
    server.for_project(project)
    server.refresh()
    reports = [json.loads(raw)["versions"] for raw in registry.r.hvals(SERVING)]
    assert any(r.get(project) == version for r in reports)
