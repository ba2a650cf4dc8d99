"""The model store: versioned model folders per project under MODEL_DIR, the current version in Redis."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import redis

from .ner.checkpoint import check_folder
from .store import PREFIX, project_key

_PROJECT_RE = re.compile(r"^\d{1,18}$")
_VERSION_RE = re.compile(r"^v\d{1,9}-\d{8}T\d{6}$")
CURRENT_KEY = f"{PREFIX}:models:current"  # hash: project id -> current version


class RegistryError(ValueError):
    """An unsafe project id or version name, or a folder that may not be promoted."""


class ModelRegistry:
    """Folders `MODEL_DIR/projects/<id>/<version>`; Redis holds each project's current version.

    Project ids are digits and version names are generated here (`v<n>-<UTC time>`), so no name
    from a request can ever reach a path outside the store.
    """

    def __init__(self, model_dir: str | Path, client: redis.Redis) -> None:
        self.root = Path(model_dir).resolve() / "projects"
        self.r = client

    def project_dir(self, project: str) -> Path:
        if not isinstance(project, str) or not _PROJECT_RE.match(project):
            raise RegistryError(f"invalid project id {project!r}")
        return self.root / project

    def path(self, project: str, version: str) -> Path:
        if not isinstance(version, str) or not _VERSION_RE.match(version):
            raise RegistryError(f"invalid model version {version!r}")
        return self.project_dir(project) / version

    def new_version(self, project: str) -> tuple[str, Path]:
        """A fresh version name and the folder a training should save to (not created yet)."""
        n = int(self.r.incr(project_key(project, "version-seq")))
        version = f"v{n}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}"
        return version, self.path(project, version)

    def promote(self, project: str, version: str) -> None:
        """Make `version` current, only if its folder is complete (raises ModelFolderError)."""
        check_folder(self.path(project, version))
        pipe = self.r.pipeline(transaction=True)
        pipe.set(project_key(project, "current"), version)
        pipe.hset(CURRENT_KEY, project, version)  # one read tells a serving process every change
        pipe.rpush(project_key(project, "versions"), version)
        pipe.execute()

    def current(self, project: str) -> str | None:
        raw = self.r.get(project_key(project, "current"))
        return raw.decode() if raw else None

    def all_current(self) -> dict[str, str]:
        """Every project's current version, in one round trip (what serving processes poll)."""
        return {k.decode(): v.decode() for k, v in self.r.hgetall(CURRENT_KEY).items()}

    def discard(self, project: str, version: str) -> None:
        """Remove a version folder that was never promoted (a rejected or failed training)."""
        if version in self.versions(project) or version == self.current(project):
            raise RegistryError(f"{version} was promoted; it is kept")
        shutil.rmtree(self.path(project, version), ignore_errors=True)

    def versions(self, project: str) -> list[str]:
        """Every promoted version, oldest first."""
        return [v.decode() for v in self.r.lrange(project_key(project, "versions"), 0, -1)]
