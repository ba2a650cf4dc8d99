"""Which model answers for a project: its current version once this process has it loaded, else
the bootstrap model; a watcher thread swaps in newly promoted versions."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import OrderedDict
from pathlib import Path

import redis

from ..config import Settings
from ..labelstudio.labelconfig import NerControl
from ..labelstudio.labelmap import parse_label_map
from ..ner.checkpoint import ModelFolderError, check_folder
from ..state.quality import QualityLog
from ..state.registry import ModelRegistry, newest_first
from ..ner.checkpoint import orders_tasks
from .cache import UNTRAINED, ModelCache, ServedModel, folder_version

log = logging.getLogger(__name__)
HOST = socket.gethostname()  # with the pid (read at report time: gunicorn forks), a process in the registry's reports
RETRY_MAX_S = 300.0  # the longest wait between two tries to load a version that failed to load


class ModelServer:
    """Answers "which model for project P?": the project's current registry version once this
    process has it loaded, else the bootstrap model.

    A watcher thread polls the registry (one Redis read every SWAP_POLL_SECONDS) for the projects
    this process serves, loads a newly promoted version off the request path, then swaps it in
    with one dict assignment: requests in flight keep the ServedModel they already hold and finish
    on the old model, later ones get the new one.
    """

    def __init__(self, settings: Settings, registry: ModelRegistry | None = None,
                 quality: QualityLog | None = None) -> None:
        self.settings = settings
        self.registry = registry
        self.quality = quality  # the annotators' edits, which set each served version's floor
        self.cache = ModelCache(settings, settings.model_cache_size)
        self.explicit_label_map = parse_label_map(settings.label_map)
        self._bootstrap: ServedModel | None = None
        self._schemas: dict[str, tuple[str, list[NerControl]]] = {}
        self._served: dict[str, ServedModel] = {}
        self._wanted: OrderedDict[str, threading.Event] = OrderedDict()  # most recently asked last
        self._lock = threading.Lock()
        self._broken: set[tuple[str, str]] = set()  # failed the integrity check: never retried
        self._retry: dict[tuple[str, str], tuple[int, float]] = {}  # failed to load: (failures, next try)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._started = False

    def remember_project(self, project: str, schema: str, controls: list[NerControl]) -> None:
        """Keep the labeling config /setup sent, for /predict calls that come without one."""
        self._schemas[project] = (schema, controls)

    def project_schema(self, project: str | None) -> str | None:
        entry = self._schemas.get(project) if project else None
        return entry[0] if entry else None

    def projects(self) -> dict[str, list[NerControl]]:
        return {p: controls for p, (_, controls) in self._schemas.items()}

    def bootstrap(self) -> ServedModel:
        """The configured BOOTSTRAP_MODEL, or an `untrained` placeholder that predicts nothing."""
        if self._bootstrap is None:
            self._bootstrap = self._load_bootstrap()
        return self._bootstrap

    def _load_bootstrap(self) -> ServedModel:
        raw = self.settings.bootstrap_model
        if not raw:
            return ServedModel(UNTRAINED, None, None)
        path = Path(raw)
        try:
            labels = check_folder(path)
            return ServedModel(folder_version("bootstrap", path), self.cache.get(path.resolve()), labels)
        except ModelFolderError as exc:
            log.error("BOOTSTRAP_MODEL unusable, serving no predictions: %s", exc)
            return ServedModel(UNTRAINED, None, None)

    def for_project(self, project: str | None, wait: float = 0.0) -> ServedModel:
        """The model serving `project` now. The first call for a project in this process asks the
        watcher to load its current version and waits at most `wait` seconds for that."""
        if project is None or self.registry is None:
            return self.bootstrap()
        with self._lock:
            ready = self._wanted.get(project)
            first = ready is None
            if first:
                ready = self._wanted[project] = threading.Event()
                while len(self._wanted) > 10_000:  # only ids; the newest ones matter
                    self._wanted.popitem(last=False)
            self._wanted.move_to_end(project)
        if first:
            self._wake.set()
        if wait > 0 and not ready.is_set():
            ready.wait(wait)
        return self.serving(project)

    def serving(self, project: str) -> ServedModel:
        """What `project` gets now, without asking for anything to be loaded (for status pages)."""
        return self._served.get(project) or self.bootstrap()

    # ---- the watcher ----------------------------------------------------------------------

    def start_watching(self) -> None:
        """Start the background thread that swaps in promoted versions (once per process)."""
        if self._started or self.registry is None:
            return
        self._started = True
        threading.Thread(target=self._watch, name="model-watcher", daemon=True).start()

    def stop_watching(self) -> None:
        self._stop.set()
        self._wake.set()

    def _watch(self) -> None:
        first = True
        while not self._stop.is_set():
            try:
                self.refresh(preload=first)
                first = False
            except Exception:  # the watcher must outlive any one bad poll
                log.exception("model watcher: refresh failed; retrying")
            self._wake.wait(self.settings.swap_poll_seconds)
            self._wake.clear()

    def _capacity(self) -> int:
        """Project models kept loaded: the cache's size, less the slot the bootstrap model holds."""
        used = 1 if self._bootstrap is not None and self._bootstrap.predictor is not None else 0
        return max(1, self.cache.capacity - used)

    def refresh(self, preload: bool = False) -> list[str]:
        """Load and swap in every newly promoted version of the projects this process serves;
        returns the projects swapped. `preload` (at start-up) also loads the most recently
        promoted projects, so a restarted process serves them from its first request."""
        try:
            current = self.registry.all_current()
        except redis.RedisError as exc:
            log.warning("model watcher: registry unavailable (%s); serving what is loaded", exc)
            self._answer_waiting()
            return []
        with self._lock:
            # Only projects with a version of their own compete for the slots: ids with none (new
            # projects, made-up ones) get the bootstrap model, which holds its own slot.
            wanted = [p for p in self._wanted if p in current][-self._capacity():]
            if preload and len(wanted) < self._capacity():
                extra = [p for p in newest_first(current) if p not in wanted][: self._capacity() - len(wanted)]
                for project in reversed(extra):  # wanted from now on, as if asked (the newest last)
                    self._wanted[project] = threading.Event()
                    self._wanted.move_to_end(project, last=False)
                wanted = extra + wanted
            for project in list(self._served):
                if project not in wanted:  # out of the memory bound: back to bootstrap until asked again
                    self._drop(project)
        swapped = [p for p in wanted if self._swap(p, current.get(p))]
        self._answer_waiting()
        self._set_floors()
        try:  # retention keeps what any process still holds
            self.registry.report_serving(f"{HOST}:{os.getpid()}", {p: s.version for p, s in list(self._served.items())})
        except redis.RedisError as exc:
            log.warning("model watcher: could not report the versions held: %s", exc)
        return swapped

    def _set_floors(self) -> None:
        """Each served version's floor, from the annotations made on what it served (one pipelined
        Redis read a poll): spans its annotators deleted more than kept stop being shown within seconds."""
        served = {p: s for p, s in list(self._served.items()) if s.predictor is not None}
        if self.quality is None or not served or self.settings.fixed_span_threshold is not None:
            return  # SPAN_THRESHOLD fixes what is served
        try:
            floors = self.quality.floors({p: s.version for p, s in served.items()})
        except redis.RedisError as exc:
            log.warning("model watcher: served floors not read (%s); keeping the last ones", exc)
            return
        for project, floor in floors.items():
            predictor = served[project].predictor
            if predictor.floor != floor.floor:
                log.info("project %s: %s", project, floor.reason)
                predictor.floor = floor.floor

    def _answer_waiting(self) -> None:
        """Every first request waiting on this poll gets what is served now (its version, when it
        has one and fits the slots; else the bootstrap model)."""
        with self._lock:
            for ready in self._wanted.values():
                ready.set()

    def _swap(self, project: str, version: str | None) -> bool:
        served = self._served.get(project)
        key = (project, version)
        if version is None or (served and served.version == version) or key in self._broken:
            return False
        failures, next_try = self._retry.get(key, (0, 0.0))
        if time.monotonic() < next_try:
            return False
        keeping = served.version if served else "bootstrap"

        def later(exc: BaseException) -> bool:
            delay = min(RETRY_MAX_S, self.settings.swap_poll_seconds * 2 ** failures)
            self._retry[key] = (failures + 1, time.monotonic() + delay)
            log.error("project %s: version %s did not load (%s: %s), keeping %s; retrying in %.0f s",
                      project, version, type(exc).__name__, exc, keeping, delay)
            return False

        try:
            path = self.registry.path(project, version)
            labels = check_folder(path)
        except (ModelFolderError, OSError) as exc:
            if isinstance(exc, OSError) or not path.is_dir():
                # a shared filesystem (EFS, NFS) may show a folder renamed elsewhere seconds late, or
                # fail a read for a while: that gets better, unlike a damaged folder
                return later(exc)
            log.error("project %s: version %s fails its integrity check, keeping %s: %s", project, version, keeping, exc)
            self._broken.add(key)
            return False
        except Exception as exc:  # a version name no folder can have: it will not get better
            log.error("project %s: version %s is unusable, keeping %s: %s", project, version, keeping, exc)
            self._broken.add(key)
            return False
        try:
            predictor = self.cache.get(path)  # loads and runs a warm-up prediction: it works
        except Exception as exc:  # e.g. MemoryError while two models are in memory: try again later
            return later(exc)
        self._retry.pop(key, None)
        self._served[project] = ServedModel(version, predictor, labels, orders_tasks(path))
        if served is not None:
            self.cache.discard(self.registry.path(project, served.version))
        log.info("project %s: now serving %s", project, version)
        return True

    def _drop(self, project: str) -> None:
        served = self._served.pop(project, None)
        if served is not None:
            self.cache.discard(self.registry.path(project, served.version))
