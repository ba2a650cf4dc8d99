"""Which precision a model version is served in. Training scores the version's dev split in fp32
and in each fast path a server might use (int8 in ONNX Runtime for CPU servers, bf16 in OpenVINO
for CPU servers with AMX, bf16 or fp16 where the training device has it) and keeps the figures in
metrics.json; each serving process then takes the fastest path its own machine has whose dev
micro-F1 is within TOLERANCE of fp32's, and fp32 otherwise, and whenever there is no evidence."""

from __future__ import annotations

import copy
import json
import logging
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch

from ..jsonvalues import is_number
from . import onnxengine, ovengine
from .checkpoint import load_model, read_metrics, save_model
from .device import INT8, OV_BF16, cpu_has_fast_bf16, pick_device, resolve_precision
from .evaluation import evaluate_model
from .model import NerModel
from .predictor import Predictor
from .readers import Sentence

log = logging.getLogger(__name__)

TOLERANCE = 0.005  # the most dev micro-F1 the fast path may give up against fp32
METRICS_KEY = "serving"  # where the evidence lives in metrics.json
FAST_PATHS = (INT8, OV_BF16, "bf16", "fp16")
# The CPU engines, each with the export that makes its file and the Predictor option that takes it:
# scored on every CPU that can check them, whatever else passed, for servers unlike the trainer.
ENGINES = {INT8: (onnxengine.export_int8, "onnx_file"), OV_BF16: (ovengine.export, "ov_file")}
# Held-out gold sentences a `train`ed folder keeps, so that `ner-backend check` can check it again
# later (ONNX Runtime installed since, another machine): at most HELDOUT_KEPT of them, ~0.1 MB per
# 1,000 GMB sentences; checking 1,000 takes about a minute on 2 cores, 100 about 10 s.
HELDOUT_FILE = "heldout.jsonl"
HELDOUT_KEPT = 1000


@dataclass(frozen=True)
class ServingChoice:
    """The dev F1 of fp32 and of each fast path tried, and what the training machine would serve."""

    precision: str  # fp32 | bf16 | fp16 | int8, as a server like the training machine picks it
    reason: str
    fp32_f1: float | None = None
    fast_f1: float | None = None  # of the path chosen here
    tried: dict[str, float] = field(default_factory=dict)  # dev F1 of each fast path tried

    def passes(self, path: str) -> bool:
        """True when `path` was tried and scored within TOLERANCE of fp32."""
        return _passes(self.tried.get(path), self.fp32_f1)

    def to_dict(self) -> dict:
        return asdict(self)


def _passes(fast, exact) -> bool:
    return is_number(fast) and is_number(exact) and fast >= exact - TOLERANCE


def server_paths(device: torch.device) -> list[str]:
    """The paths a server on `device` would rather use than fp32, fastest first."""
    if device.type == "cuda":
        return [resolve_precision("auto", device)]
    paths = [OV_BF16] if ovengine.serves_here() else []
    paths += [INT8] if onnxengine.available() else []
    return paths + (["bf16"] if cpu_has_fast_bf16() else [])


def pick(fp32_f1, tried: dict, paths: list[str]) -> tuple[str, str]:
    """(precision, why): the first of `paths` whose recorded dev F1 passes, else fp32."""
    for path in paths:
        if _passes(tried.get(path), fp32_f1):
            return path, f"{path} dev F1 {tried[path]:.4f} is within {TOLERANCE} of fp32's {fp32_f1:.4f}"
    if not paths:
        return "fp32", "no faster path on this machine"
    checked = [p for p in paths if is_number(tried.get(p))]
    if not checked:
        return "fp32", f"{' and '.join(paths)} not checked when this version was trained"
    if not is_number(fp32_f1):
        return "fp32", "no fp32 dev F1 recorded to check the fast paths against"
    scores = ", ".join(f"{p} {tried[p]:.4f}" for p in checked)
    return "fp32", f"dev F1 {scores}: more than {TOLERANCE} below fp32's {fp32_f1:.4f}"


def choose(ner: NerModel, dev: list[Sentence], wanted: str, workdir: Path | None = None) -> ServingChoice:
    """Score `dev` in fp32 and in the fast paths: with PRECISION=auto, int8 (when ONNX Runtime is
    installed; exported to `workdir`/INT8_FILE), OpenVINO's bf16 (when it is installed and this
    CPU computes bf16 in hardware; exported to `workdir`/OV_FILE) and the training device's own fast
    torch path; else the precision `wanted` names. On a CPU, an engine passing makes torch's bf16
    moot (every server with one prefers it); a GPU's bf16/fp16 is scored as well, for GPU servers."""
    device = ner.device
    paths = _candidates(wanted, device, workdir)
    if not paths:
        return ServingChoice("fp32", "fp32 asked for, or no faster path on this machine")
    if not dev:
        return ServingChoice("fp32", f"no dev split to check {' or '.join(paths)} against fp32 on")
    exact, tried = _dev_f1(ner, dev, "fp32", workdir), {}
    for path in paths:
        if device.type == "cpu" and path not in ENGINES and any(_passes(tried[p], exact) for p in tried):
            break
        tried[path] = _dev_f1(ner, dev, path, workdir)
    here = server_paths(device) if wanted == "auto" else paths
    precision, reason = pick(exact, tried, here)
    return ServingChoice(precision, reason, exact, tried.get(precision), tried)


def _candidates(wanted: str, device: torch.device, workdir: Path | None) -> list[str]:
    fast = resolve_precision(wanted, device)
    paths = [fast] if fast != "fp32" else []
    if wanted == "auto" and workdir is not None:
        engines = [INT8] if onnxengine.available() else []
        paths[:0] = engines + ([OV_BF16] if ovengine.checkable_here() else [])
    return paths


def _dev_f1(ner: NerModel, dev: list[Sentence], precision: str, workdir: Path | None) -> float:
    files = {}
    if precision in ENGINES:  # exported from a CPU copy: the engines serve on CPUs, whatever trained it
        on_cpu = ner.model if ner.device.type == "cpu" else copy.deepcopy(ner.model).cpu()
        export, option = ENGINES[precision]
        files[option] = export(on_cpu, workdir)
    predictor = Predictor(ner, precision=precision, **files)
    return evaluate_model(predictor, dev)["f1"]


def files_to_keep(choice: ServingChoice, workdir: Path) -> dict[str, Path]:
    """The files `choose` wrote to `workdir` that the version's folder needs: each engine's export
    whenever it passed, so that CPU servers can use it wherever the version was trained."""
    keep = {onnxengine.INT8_FILE: workdir / onnxengine.INT8_FILE} if choice.passes(INT8) else {}
    return keep | (ovengine.files(workdir / ovengine.OV_FILE) if choice.passes(OV_BF16) else {})


def save_checked(ner: NerModel, dev: list[Sentence], wanted: str, out: Path,
                 metrics: Callable[[ServingChoice], dict], keep_heldout: bool = False) -> ServingChoice:
    """`choose` how to serve the model, then save it to `out` with `metrics(choice)` and the files
    that choice needs (the int8 export, exported to a scratch folder removed afterwards); with
    `keep_heldout`, the dev sentences too (the first HELDOUT_KEPT), for a later `recheck`."""
    with tempfile.TemporaryDirectory(prefix="ner-fastpath-") as scratch:
        work = Path(scratch)
        choice = choose(ner, dev, wanted, work)
        files = files_to_keep(choice, work)
        if keep_heldout and dev:
            files[HELDOUT_FILE] = write_heldout(dev[:HELDOUT_KEPT], work / HELDOUT_FILE)
        save_model(ner, metrics(choice), out, files)
    return choice


def write_heldout(sentences: list[Sentence], path: Path) -> Path:
    with open(path, "w", encoding="utf-8") as out:
        for s in sentences:
            out.write(json.dumps({"words": s.words, "tags": s.tags, "text": s.text}, ensure_ascii=False) + "\n")
    return path


def read_heldout(folder: str | Path) -> list[Sentence]:
    """The held-out sentences a folder keeps ([] when it keeps none)."""
    path = Path(folder) / HELDOUT_FILE
    if not path.is_file():
        return []
    with open(path, encoding="utf-8") as lines:
        return [Sentence(r["words"], r["tags"], f"{HELDOUT_FILE}:{n}", r.get("text"))
                for n, r in enumerate(map(json.loads, lines), start=1)]


def recheck(folder: str | Path, dev: list[Sentence], wanted: str) -> ServingChoice:
    """Check a saved folder's fast paths on `dev` (gold sentences it was not trained on) and save
    it again, atomically, with the evidence and the files the choice needs; what else it holds
    (gazetteer, threshold, transitions, held-out sentences, its other metrics) is kept."""
    folder = Path(folder).resolve()
    ner = load_model(folder, device=torch.device("cpu"))  # first: it says what is wrong with a folder
    metrics = read_metrics(folder)
    keep = {HELDOUT_FILE: folder / HELDOUT_FILE} if (folder / HELDOUT_FILE).is_file() else {}
    with tempfile.TemporaryDirectory(prefix="ner-fastpath-") as scratch:
        work = Path(scratch)
        if keep:  # the folder is replaced as a whole: its held-out file travels through the scratch
            keep[HELDOUT_FILE] = Path(shutil.copyfile(keep[HELDOUT_FILE], work / HELDOUT_FILE))
        choice = choose(ner, dev, wanted, work)
        save_model(ner, {**metrics, METRICS_KEY: choice.to_dict()}, folder, {**keep, **files_to_keep(choice, work)})
    return choice


def served_precision(metrics: dict, wanted: str, device: torch.device | None = None) -> tuple[str, str]:
    """(precision, why) to load a version in on `device` (default: where this process serves): an
    explicit PRECISION wins; "auto" takes the fastest path this machine has that the version's
    training checked and passed, and fp32 without evidence."""
    if wanted != "auto":
        return wanted, f"PRECISION={wanted}"
    record = metrics.get(METRICS_KEY)
    if not isinstance(record, dict):
        return "fp32", "no fast-path check recorded for this version (`ner-backend check --model DIR` adds one)"
    tried = dict(record.get("tried") or {})
    if record.get("precision") in FAST_PATHS and record.get("fast_f1") is not None:
        tried.setdefault(record["precision"], record["fast_f1"])  # records written before `tried`
    return pick(record.get("fp32_f1"), tried, server_paths(device or pick_device()))


def load_served(path: str | Path, wanted: str, *, fallback: bool = False, **options) -> Predictor:
    """The version at `path` as a server here runs it: in `served_precision`'s pick, with the reason
    in `precision_reason`. With `fallback`, an int8 engine that cannot run here (ONNX Runtime or
    the file missing; OpenVINO's likewise) gives fp32 and says so, where a serving process must keep
    answering."""
    try:
        metrics = read_metrics(path)
    except (OSError, ValueError):  # from_folder says what is wrong with the folder
        metrics = {}
    precision, why = served_precision(metrics, wanted)
    try:
        predictor = Predictor.from_folder(path, precision=precision, **options)
    except (ImportError, OSError, RuntimeError) as exc:
        if precision not in ENGINES or not fallback:
            raise
        log.warning("model %s: %s engine unavailable (%s); serving fp32", path, precision, exc)
        predictor = Predictor.from_folder(path, precision="fp32", **options)
        why = f"{precision} was chosen ({why}) but cannot run here: {exc}"
    predictor.precision_reason = why
    return predictor
