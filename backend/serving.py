"""Which model answers for a project, loaded once per process and kept in a bounded LRU cache."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from .config import Settings
from .labelconfig import NerControl
from .labelmap import parse_label_map
from .ner.checkpoint import METRICS_FILE, ModelFolderError, check_folder
from .ner.labels import LabelSet

log = logging.getLogger(__name__)

UNTRAINED = "untrained"


@dataclass(frozen=True)
class ServedModel:
    """A model version and its predictor (None: nothing to serve, predictions are empty)."""

    version: str
    predictor: object | None
    labels: LabelSet | None

    @property
    def types(self) -> list[str]:
        return self.labels.types if self.labels else []


def folder_version(prefix: str, path: Path) -> str:
    """A version name that is stable across restarts and changes whenever the folder's model does."""
    digest = hashlib.sha1((path / METRICS_FILE).read_bytes()).hexdigest()[:10]
    return f"{prefix}-{digest}"


class ModelCache:
    """Predictors by model folder, at most `capacity` of them, least recently used evicted.

    Each folder has its own lock, so loading one model never blocks requests for another.
    """

    def __init__(self, settings: Settings, capacity: int) -> None:
        self.settings = settings
        self.capacity = max(1, capacity)
        self._models: OrderedDict[str, object] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}

    def get(self, path: Path):
        key = str(path)
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
            load_lock = self._loading.setdefault(key, threading.Lock())
        with load_lock:
            with self._lock:
                if key in self._models:
                    return self._models[key]
            predictor = self._load(path)
            predictor.predict(["Warm-up sentence in Paris ."])  # first-call costs off the request path
            with self._lock:
                self._models[key] = predictor
                while len(self._models) > self.capacity:
                    evicted, _ = self._models.popitem(last=False)
                    log.info("evicted model %s from the cache", evicted)
            return predictor

    def _load(self, path: Path):
        from .ner.predictor import Predictor

        s = self.settings
        log.info("loading model %s", path)
        return Predictor.from_folder(
            path, precision=s.precision, max_length=s.max_length, stride=s.window_stride, batch_size=s.predict_batch_size
        )

    def __len__(self) -> int:
        return len(self._models)


class ModelServer:
    """Answers "which model for project P?"; today every project gets the bootstrap model."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.cache = ModelCache(settings, settings.model_cache_size)
        self.explicit_label_map = parse_label_map(settings.label_map)
        self._bootstrap: ServedModel | None = None
        self._schemas: dict[str, tuple[str, list[NerControl]]] = {}

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

    def for_project(self, project: str | None) -> ServedModel:
        return self.bootstrap()
