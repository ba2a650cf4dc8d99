"""The model store: versioned model folders per project under MODEL_DIR, the current version in Redis."""

from __future__ import annotations

import json
import logging
import re
import shutil
import time
from pathlib import Path
from typing import Callable

import redis

from ..clock import utc_stamp
from ..labelstudio.protocol import PROJECT_ID
from ..ner.checkpoint import check_folder
from .keys import CURRENT_VERSIONS, SERVING, ProjectKeys

_PROJECT_RE = re.compile(PROJECT_ID, re.ASCII)
VERSION_RE = re.compile(r"v\d{1,9}-\d{8}T\d{6}", re.ASCII)  # the names new_version makes
# A serving process says what it holds every SWAP_POLL_SECONDS; one silent this long is gone.
SERVING_REPORT_TTL_S = 120


log = logging.getLogger(__name__)


class RegistryError(ValueError):
    """An unsafe project id or version name, or a folder that may not be promoted."""


class StaleVersion(RegistryError):
    """A version trained on older data than the one already current (two trainings overlapped)."""


# Promote only what saw at least as much of the store as the current version did (its change
# counter when its training read the data), all in one atomic step: a training that overlapped a
# newer one (a worker cut off from Redis past its lease looks dead and is replaced) cannot put
# older data back in front. The version it replaces is released now (retention's grace starts).
# Returns the current version's counter when it refuses, else -1.
_PROMOTE = """
if ARGV[2] ~= '' then
  local seen = tonumber(redis.call('GET', KEYS[4]) or '-1')
  if tonumber(ARGV[2]) < seen then return seen end
  redis.call('SET', KEYS[4], ARGV[2])
end
local before = redis.call('GET', KEYS[1])
if before and before ~= ARGV[1] then redis.call('HSET', KEYS[5], before, ARGV[4]) end
redis.call('HDEL', KEYS[5], ARGV[1])
redis.call('SET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[3], ARGV[1])
redis.call('RPUSH', KEYS[3], ARGV[1])
return -1
"""


def _number(version: str) -> int:
    """The n of `v<n>-<time>`."""
    return int(version[1:].split("-", 1)[0])


def _previous(current: str | None, promoted: list[str]) -> str | None:
    """The version that served before `current`, from the promoted versions, oldest first."""
    for version in reversed(promoted[:-1] if promoted and promoted[-1] == current else promoted):
        if version != current:
            return version
    return None


def newest_first(current: dict[str, str]) -> list[str]:
    """Projects of an `all_current()` answer, the most recently promoted version first (version
    names end in their UTC creation time)."""
    return sorted(current, key=lambda p: current[p].split("-", 1)[-1], reverse=True)


class ModelRegistry:
    """Folders `MODEL_DIR/projects/<id>/<version>`; Redis holds each project's current version.

    Project ids are digits and version names are generated here (`v<n>-<UTC time>`), so no name
    from a request can ever reach a path outside the store.
    """

    def __init__(self, model_dir: str | Path, client: redis.Redis, clock: Callable[[], float] = time.time) -> None:
        self.root = Path(model_dir).resolve() / "projects"
        self.r = client
        self.clock = clock

    def project_dir(self, project: str) -> Path:
        if not isinstance(project, str) or not _PROJECT_RE.fullmatch(project):
            raise RegistryError(f"invalid project id {project!r}")
        return self.root / project

    def path(self, project: str, version: str) -> Path:
        if not isinstance(version, str) or not VERSION_RE.fullmatch(version):
            raise RegistryError(f"invalid model version {version!r}")
        return self.project_dir(project) / version

    def new_version(self, project: str) -> tuple[str, Path]:
        """A fresh version name and the folder a training should save to (not created yet)."""
        n = int(self.r.incr(ProjectKeys(project).version_seq))
        version = f"v{n}-{utc_stamp()}"
        return version, self.path(project, version)

    def promote(self, project: str, version: str, changes: int | None = None) -> None:
        """Make `version` current, only if its folder is complete (raises ModelFolderError) and,
        given `changes` (the store's change counter when its training read the data), only if no
        current version saw more (raises StaleVersion); without it (a version put there by hand),
        unconditionally. The hash CURRENT_VERSIONS, which every serving process polls, changes in the
        same atomic step."""
        check_folder(self.path(project, version))
        own = ProjectKeys(project)
        keys = [own.current, CURRENT_VERSIONS, own.versions, own.current_changes, own.released]
        seen = int(self.r.eval(_PROMOTE, len(keys), *keys, version, "" if changes is None else changes, project,
                               self.clock()))
        if seen >= 0:
            raise StaleVersion(f"{version} read the store at change {changes}; the current version "
                               f"{self.current(project)} read it at change {seen}")

    def previous(self, project: str) -> str | None:
        """The version that served before the current one (what a rollback returns to)."""
        return _previous(self.current(project), self.versions(project))

    def pin(self, project: str, version: str, pinned: bool = True) -> None:
        """Keep `version` whatever the retention (or stop keeping it)."""
        self.path(project, version)  # a name no folder can have is refused
        key = ProjectKeys(project).pinned
        self.r.sadd(key, version) if pinned else self.r.srem(key, version)

    def kept(self, project: str, keep: int, promoted: list[str] | None = None) -> set[str]:
        """What retention keeps: the current version, the previous one, the newest `keep` of the
        `promoted` versions (oldest first; default: read them) and every pinned one."""
        promoted = self.versions(project) if promoted is None else promoted
        current = self.current(project)
        newest = sorted(set(promoted), key=_number, reverse=True)[:max(0, keep)]
        pinned = {v.decode() for v in self.r.smembers(ProjectKeys(project).pinned)}
        return {v for v in (current, _previous(current, promoted)) if v} | set(newest) | pinned

    def retire(self, project: str, keep: int, grace_s: float) -> list[str]:
        """Remove the folders of promoted versions retention does not keep, each once `grace_s` has
        passed since it last served: since a promotion replaced it, or since a live serving process
        last reported holding it, whichever is later. Returns the versions removed.

        The grace is each version's own, so retention works while a project keeps training: a
        version replaced ten minutes ago goes at the next training however new the current one is."""
        folder = self.project_dir(project)
        if not folder.is_dir():
            return []
        promoted = self.versions(project)
        kept, held = self.kept(project, keep, promoted), self.in_use(project)
        key, now = ProjectKeys(project).released, self.clock()
        released = {k.decode(): float(v) for k, v in self.r.hgetall(key).items()}
        # held by a process that has not swapped yet, or released before this rule was kept: timed from now
        restart = (held - {self.current(project)}) | (set(promoted) - kept - set(released))
        if restart:
            self.r.hset(key, mapping={v: now for v in restart})
            released.update(dict.fromkeys(restart, now))
        due = {v for v in set(promoted) - kept - held if now - released[v] >= grace_s}
        gone = sorted(due, key=_number)
        for version in gone:
            shutil.rmtree(folder / version, ignore_errors=True)
            self.r.pipeline(transaction=False).lrem(ProjectKeys(project).versions, 0, version).hdel(key, version).execute()
        if gone:
            log.info("project %s: removed versions %s (kept: %s)", project, ", ".join(gone), ", ".join(sorted(kept)))
        return gone

    def report_serving(self, process: str, versions: dict[str, str]) -> None:
        """What serving process `process` holds loaded now ({project: version})."""
        self.r.hset(SERVING, process, json.dumps({"at": time.time(), "versions": versions}))

    def in_use(self, project: str) -> set[str]:
        """The versions of `project` some live serving process still holds (reports of processes
        silent for SERVING_REPORT_TTL_S are dropped)."""
        held, stale = set(), []
        for process, raw in self.r.hgetall(SERVING).items():
            report = json.loads(raw)
            if time.time() - report["at"] > SERVING_REPORT_TTL_S:
                stale.append(process)
            elif project in report["versions"]:
                held.add(report["versions"][project])
        if stale:
            self.r.hdel(SERVING, *stale)
        return held

    def remove_orphans(self, older_than_s: float) -> list[Path]:
        """Remove what a worker killed mid-save leaves in the store: `.v*.tmp-*` folders older than
        `older_than_s`, and version folders never promoted (a rejected or failed training's)."""
        removed = []
        if not self.root.is_dir():
            return removed
        cutoff = time.time() - older_than_s
        for project_dir in (p for p in self.root.iterdir() if p.is_dir() and _PROJECT_RE.fullmatch(p.name)):
            promoted = set(self.versions(project_dir.name)) | {self.current(project_dir.name)}
            for entry in project_dir.iterdir():
                scratch = entry.name.startswith(".v") and ".tmp-" in entry.name
                unpromoted = VERSION_RE.fullmatch(entry.name) and entry.name not in promoted
                if (scratch or unpromoted) and entry.stat().st_mtime < cutoff:
                    shutil.rmtree(entry, ignore_errors=True)
                    removed.append(entry)
        return removed

    def current(self, project: str) -> str | None:
        raw = self.r.get(ProjectKeys(project).current)
        return raw.decode() if raw else None

    def all_current(self) -> dict[str, str]:
        """Every project's current version, in one round trip (what serving processes poll)."""
        return {k.decode(): v.decode() for k, v in self.r.hgetall(CURRENT_VERSIONS).items()}

    def discard(self, project: str, version: str) -> None:
        """Remove a version folder that was never promoted (a rejected or failed training)."""
        if version in self.versions(project) or version == self.current(project):
            raise RegistryError(f"{version} was promoted; it is kept")
        shutil.rmtree(self.path(project, version), ignore_errors=True)

    def versions(self, project: str) -> list[str]:
        """Every promoted version retention has not removed, oldest first."""
        return [v.decode() for v in self.r.lrange(ProjectKeys(project).versions, 0, -1)]
