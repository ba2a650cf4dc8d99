"""The per-process model server on real Redis and real model folders: what a restarted process
serves, and versions that fail to load once."""

from __future__ import annotations

import shutil

import pytest
import redis

from backend.config import Settings
from backend.state.registry import ModelRegistry
from backend.serving import ModelServer
from tests.support.servers import wait_until


@pytest.fixture()
def store(own_database, tmp_path):
    """A registry of its own (a Redis database of its own), so other tests' projects stay out."""
    settings = Settings(redis_url=own_database, model_dir=str(tmp_path / "store"), model_cache_size=3,
                        swap_poll_seconds=0.05)
    return settings, ModelRegistry(settings.model_dir, redis.Redis.from_url(own_database))


def promote_copy(registry: ModelRegistry, project: str, folder) -> str:
    version, path = registry.new_version(project)
    shutil.copytree(folder, path)
    registry.promote(project, version)
    return version


def test_projects_preloaded_at_start_stay_served(store, trained_folder):
    settings, registry = store
    versions = {p: promote_copy(registry, p, trained_folder) for p in ("41", "42")}
    server = ModelServer(settings, registry)  # a process (re)started after both were promoted
    server.refresh(preload=True)
    assert {p: server.serving(p).version for p in versions} == versions
    for _ in range(3):  # later polls must not drop what the start-up loaded
        server.refresh()
    assert {p: server.serving(p).version for p in versions} == versions
    assert server.for_project("41").version == versions["41"]  # no wait, no bootstrap answer


def test_a_version_that_failed_to_load_once_is_tried_again(store, trained_folder, monkeypatch):
    settings, registry = store
    version = promote_copy(registry, "43", trained_folder)
    server = ModelServer(settings, registry)
    server.for_project("43")
    real_get, calls = server.cache.get, []

    def flaky_get(path):
        calls.append(path)
        if len(calls) == 1:
            raise MemoryError("two models in memory during a swap")
        return real_get(path)

    monkeypatch.setattr(server.cache, "get", flaky_get)
    assert server.refresh() == [] and server.serving("43").version != version
    def retried() -> bool:  # after a short backoff
        server.refresh()
        return server.serving("43").version == version

    wait_until("the version to be tried again", retried, timeout=30, every=0.02)
    assert len(calls) == 2


def serving_then_promoted(store, project: str, folder):
    """A process serving `project`'s first version, then a second promoted: (server, first,
    second, the second's folder); the server has not polled since."""
    settings, registry = store
    first = promote_copy(registry, project, folder)
    server = ModelServer(settings, registry)
    server.for_project(project)
    server.refresh()
    second = promote_copy(registry, project, folder)
    return server, first, second, registry.path(project, second)


def test_a_version_that_fails_its_integrity_check_is_given_up(store, trained_folder):
    server, good, bad, path = serving_then_promoted(store, "44", trained_folder)
    (path / "labels.json").unlink()  # damaged after promotion
    for _ in range(3):
        assert server.refresh() == []
    assert server.serving("44").version == good and ("44", bad) in server._broken


def test_a_folder_the_shared_filesystem_shows_late_is_tried_again(store, trained_folder):
    server, good, late, path = serving_then_promoted(store, "45", trained_folder)
    hidden = path.with_name(path.name + ".elsewhere")
    path.rename(hidden)  # promoted by another node; not visible here yet
    assert server.refresh() == [] and server.serving("45").version == good and ("45", late) not in server._broken
    hidden.rename(path)

    def swapped() -> bool:
        server.refresh()
        return server.serving("45").version == late

    wait_until("the late folder to be served", swapped, timeout=30, every=0.02)


def test_only_projects_with_a_version_compete_for_the_slots(store, trained_folder):
    settings, registry = store  # MODEL_CACHE_SIZE=3
    versions = {p: promote_copy(registry, p, trained_folder) for p in ("46", "47", "48")}
    server = ModelServer(settings, registry)
    for project in versions:
        server.for_project(project)
    server.refresh()
    for made_up in range(900, 960):  # /setup or /predict for new or made-up ids
        assert server.for_project(str(made_up)).version == "untrained"
    server.refresh()
    assert {p: server.serving(p).version for p in versions} == versions


def test_spans_annotators_keep_deleting_stop_being_shown(store, trained_folder):
    """The annotators' edits of a version's spans set its floor in every serving process: when
    they delete what it shows and create what it missed, it shows nothing; edits that keep its
    spans bring them back."""
    from backend.ner import floor
    from backend.state.quality import QualityLog

    settings, registry = store
    quality = QualityLog(registry.r)
    version = promote_copy(registry, "44", trained_folder)
    server = ModelServer(settings, registry, quality)
    server.for_project("44")
    server.refresh()
    text = "Iraqi officials met U.S. envoys in Baghdad on Sunday while Bush flew to London ."
    spans = server.serving("44").predictor.predict([text])[0].spans
    assert len(spans) >= 2, spans
    shown = [{"type": "labels", "score": s.score, "value": {"start": s.start, "end": s.end, "labels": [s.label]}}
             for s in spans]
    missed = [{"type": "labels", "value": {"start": 6, "end": 15, "labels": ["PER"]}}] * 3
    for task in range(1, floor.MIN_TASKS + 2):
        quality.record_served("44", version, {task: shown})
        quality.record_annotation("44", task, 100 + task, missed)  # every span deleted, three created
    server.refresh()
    # the lowest floor that shows none of these spans (NONE where one scored 0.99 or more)
    assert server.serving("44").predictor.floor > max(s.score for s in spans)
    assert server.serving("44").predictor.predict([text])[0].spans == []
    for task in range(1, floor.MIN_TASKS + 2):  # the same annotations updated: every span kept
        quality.record_annotation("44", task, 100 + task, shown + missed[:1])
    server.refresh()
    assert server.serving("44").predictor.floor is None
    assert len(server.serving("44").predictor.predict([text])[0].spans) == len(spans)
