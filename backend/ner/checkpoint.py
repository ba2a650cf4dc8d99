"""A saved model folder: weights, tokenizer, label map and metrics, written atomically, checked on load."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

from .basemodel import quiet_transformers
from .gazetteer import Gazetteer
from .floor import NONE
from .labels import LabelSet
from .model import NerModel
from .spans import CHANCE, SPAN_SCORES
from .transitions import check_transitions

LABELS_FILE = "labels.json"
METRICS_FILE = "metrics.json"
WEIGHTS_FILE = "model.safetensors"
REQUIRED_FILES = ("config.json", WEIGHTS_FILE, "tokenizer.json", LABELS_FILE, METRICS_FILE)


class ModelFolderError(RuntimeError):
    """A model folder that is missing, incomplete or inconsistent."""


def _fsync_tree(folder: Path) -> None:
    """Every file's data, then the folder's own entries (the names of those files), on disk."""
    for f in folder.iterdir():
        if f.is_file():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
    fsync_dir(folder)


def fsync_dir(folder: Path) -> None:
    """A rename or a new entry in `folder` survives a power loss only once the folder is synced."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_model(ner: NerModel, metrics: dict, out: str | os.PathLike, extra_files: dict[str, Path] | None = None) -> Path:
    """Write the model with `metrics` (and `extra_files`, name -> file to copy) to `out` atomically:
    a reader sees the old folder or the complete new one.

    Everything goes to a temporary sibling first and is synced to disk; then one rename publishes it
    (an existing `out` is moved aside first and removed afterwards).
    """
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        with quiet_transformers():
            ner.model.save_pretrained(tmp, safe_serialization=True)
            ner.tokenizer.save_pretrained(tmp)
        label_map = {"labels": list(ner.labels.labels)}
        if ner.transitions is not None:
            label_map["transitions"] = [list(map(float, row)) for row in ner.transitions]
        if ner.threshold is not None:
            label_map["span_threshold"] = float(ner.threshold)
        if ner.span_score != CHANCE:
            label_map["span_score"] = ner.span_score
        (tmp / LABELS_FILE).write_text(json.dumps(label_map))
        (tmp / METRICS_FILE).write_text(json.dumps(metrics, indent=1, sort_keys=True))
        if ner.gazetteer is not None:
            ner.gazetteer.save(tmp)
        for name, source in (extra_files or {}).items():
            shutil.copyfile(source, tmp / name)
        _fsync_tree(tmp)
        check_folder(tmp)
        old = None
        if out.exists():
            old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
            os.rename(out, old)
        os.rename(tmp, out)
        fsync_dir(out.parent)  # the rename itself: without it a promoted version may vanish on power loss
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def check_folder(path: str | os.PathLike) -> LabelSet:
    """Raise ModelFolderError unless `path` is a complete model folder; return its labels."""
    return _read_label_map(path)[0]


def _span_score(label_map: dict) -> str:
    """The score a version's threshold and floors compare (versions saved before there was a
    choice recorded none: they were scored by chance)."""
    span_score = label_map.get("span_score", CHANCE)
    if span_score not in SPAN_SCORES:
        raise ValueError(f"span_score {span_score!r} is not one of {', '.join(SPAN_SCORES)}")
    return span_score


def served_score(path: str | os.PathLike) -> str | None:
    """The span score of the version saved at `path`, read from its label map alone (None: the
    folder is gone, retired, or its label map unreadable)."""
    try:
        return _span_score(json.loads((Path(path) / LABELS_FILE).read_text()))
    except (OSError, ValueError, AttributeError):  # AttributeError: a label map that is not an object
        return None


def _read_label_map(path: str | os.PathLike) -> tuple[LabelSet, list | None, float | None, str]:
    path = Path(path)
    if not path.is_dir():
        raise ModelFolderError(f"model folder {path} does not exist")
    missing = [f for f in REQUIRED_FILES if not (path / f).is_file()]
    if missing:
        raise ModelFolderError(f"model folder {path} is incomplete: missing {', '.join(missing)}")
    try:
        label_map = json.loads((path / LABELS_FILE).read_text())
        labels = LabelSet(tuple(label_map["labels"]))
        transitions = label_map.get("transitions")
        if transitions is not None:
            check_transitions(transitions, labels)
        threshold = label_map.get("span_threshold")
        if threshold is not None and not 0.0 <= float(threshold) <= NONE:
            raise ValueError(f"span_threshold {threshold!r} is neither a probability nor {NONE} (serve nothing)")
        span_score = _span_score(label_map)
        config = json.loads((path / "config.json").read_text())
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelFolderError(f"model folder {path} has an unreadable label map or config: {exc}") from None
    id2label = {int(k): v for k, v in config.get("id2label", {}).items()}
    if id2label != labels.id2label:
        raise ModelFolderError(f"model folder {path}: {LABELS_FILE} does not match config.json's labels")
    _check_weights(path / WEIGHTS_FILE)
    return labels, transitions, None if threshold is None else float(threshold), span_score


def _check_weights(path: Path) -> None:
    """A cheap integrity check of a safetensors file without loading it: the header must parse and
    the file must be exactly as long as the tensors it declares (catches truncated copies)."""
    size = path.stat().st_size
    try:
        with open(path, "rb") as fh:
            n = int.from_bytes(fh.read(8), "little")
            if not 0 < n <= min(size - 8, 100_000_000):
                raise ValueError("bad header length")
            header = json.loads(fh.read(n))
        end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise ModelFolderError(f"weights {path} are unreadable: {exc}") from None
    if size != 8 + n + end:
        raise ModelFolderError(f"weights {path} are truncated or padded: {size} bytes, expected {8 + n + end}")


def read_metrics(path: str | os.PathLike) -> dict:
    """The metrics.json of a model folder."""
    return json.loads((Path(path) / METRICS_FILE).read_text())


ORDERS_TASKS = "orders_tasks"  # the metrics.json key: the version orders the tasks (coverage.handed_over)


def orders_tasks(path: str | os.PathLike) -> bool:
    """Whether the version in `path` was judged good enough to order the tasks (its training says so)."""
    try:
        return bool(read_metrics(path).get(ORDERS_TASKS))
    except (OSError, ValueError):  # unreadable metrics: the folder check reports it; the cover order stays
        return False


def load_model(path: str | os.PathLike, device=None) -> NerModel:
    """Load a model folder written by save_model, after checking it is complete."""
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    path = Path(path)
    labels, transitions, threshold, span_score = _read_label_map(path)
    try:
        with quiet_transformers():
            tokenizer = AutoTokenizer.from_pretrained(path)
            model = AutoModelForTokenClassification.from_pretrained(path)
    except Exception as exc:  # truncated safetensors, bad JSON, mismatched shapes: all mean unusable
        raise ModelFolderError(f"model folder {path} cannot be loaded: {type(exc).__name__}: {exc}") from None
    if device is not None:
        model.to(device)
    model.eval()
    return NerModel(model, tokenizer, labels, transitions, Gazetteer.load(path), threshold, span_score)
