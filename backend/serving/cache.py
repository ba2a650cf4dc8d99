"""Models by folder, loaded once per process as serving runs them, in a bounded LRU cache."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from ..config import Settings
from ..ner.checkpoint import METRICS_FILE
from ..ner.fastpath import load_served
from ..ner.labels import LabelSet
from ..ner.predictor import Predictor

log = logging.getLogger(__name__)

UNTRAINED = "untrained"


@dataclass(frozen=True)
class ServedModel:
    """A model version and its predictor (None: nothing to serve, predictions are empty)."""

    version: str
    predictor: Predictor | None
    labels: LabelSet | None
    orders_tasks: bool = False  # its task scores order LS's tasks; else the cold-start order does

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
        self._models: OrderedDict[str, Predictor] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}

    def get(self, path: Path) -> Predictor:
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

    def _load(self, path: Path) -> Predictor:
        s = self.settings
        predictor = load_served(path, s.precision, fallback=True, max_length=s.max_length, stride=s.window_stride,
                                batch_size=s.predict_batch_size)
        log.info("loaded model %s in %s (%s)", path, predictor.precision, predictor.precision_reason)
        return predictor

    def discard(self, path: Path) -> None:
        """Forget a model (requests still holding it finish on it; then it is freed)."""
        with self._lock:
            self._models.pop(str(path), None)
            self._loading.pop(str(path), None)

    def __len__(self) -> int:
        return len(self._models)


