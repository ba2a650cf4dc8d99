"""Which precision a model version is served in: the machine's fast paths (int8 in ONNX Runtime on a
CPU, bf16 where the CPU or GPU has it), fastest first, only while its dev micro-F1 stays within
TOLERANCE of fp32's, measured at training time and kept in the version's metrics.json; fp32
otherwise, and whenever there is no evidence."""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch

from . import onnxengine
from .checkpoint import save_model
from .device import INT8, resolve_precision
from .evaluation import evaluate_model
from .predictor import Predictor
from .readers import Sentence

TOLERANCE = 0.005  # the most dev micro-F1 the fast path may give up against fp32
METRICS_KEY = "serving"  # where the choice lives in metrics.json


@dataclass(frozen=True)
class ServingChoice:
    """The precision to serve a version in, and the evidence."""

    precision: str  # fp32 | bf16 | fp16 | int8
    reason: str
    fp32_f1: float | None = None
    fast_f1: float | None = None  # of the chosen fast path
    tried: dict[str, float] = field(default_factory=dict)  # dev F1 of each fast path tried

    def to_dict(self) -> dict:
        return asdict(self)


def choose(model, tokenizer, labels, transitions, dev: list[Sentence], wanted: str, device: torch.device,
           gazetteer=None, workdir: Path | None = None) -> ServingChoice:
    """Score `dev` in fp32 and in each fast path, fastest first: int8 (with PRECISION=auto on a CPU
    with ONNX Runtime installed, exported to `workdir`/INT8_FILE), then the precision `wanted`
    resolves to on `device`. Serve the first within TOLERANCE; the caller keeps the int8 file with
    the version when that is the choice."""
    fast = resolve_precision(wanted, device)
    paths = [fast] if fast != "fp32" else []
    if wanted == "auto" and device.type == "cpu" and workdir is not None and onnxengine.available():
        paths.insert(0, INT8)
    if not paths:
        return ServingChoice("fp32", "fp32 asked for, or no faster path on this machine")
    if not dev:
        return ServingChoice("fp32", f"no dev split to check {' or '.join(paths)} against fp32 on")

    def f1(precision: str) -> float:
        if precision == INT8:
            onnxengine.export_int8(model, workdir)
        predictor = Predictor(model, tokenizer, labels, precision=precision, transitions=transitions,
                              gazetteer=gazetteer, onnx_file=workdir / onnxengine.INT8_FILE if workdir else None)
        return evaluate_model(predictor, dev)["f1"]

    exact, tried = f1("fp32"), {}
    for path in paths:
        quick = tried[path] = f1(path)
        if quick >= exact - TOLERANCE:
            return ServingChoice(path, f"{path} dev F1 {quick:.4f} is within {TOLERANCE} of fp32's {exact:.4f}",
                                 exact, quick, tried)
    scores = ", ".join(f"{path} {f:.4f}" for path, f in tried.items())
    return ServingChoice("fp32", f"dev F1 {scores}: more than {TOLERANCE} below fp32's {exact:.4f}", exact, None, tried)


def files_to_keep(choice: ServingChoice, workdir: Path) -> dict[str, Path]:
    """The files `choose` wrote to `workdir` that the version's folder needs for its choice."""
    return {onnxengine.INT8_FILE: workdir / onnxengine.INT8_FILE} if choice.precision == INT8 else {}


def save_checked(model, tokenizer, labels, transitions, dev: list[Sentence], wanted: str, device: torch.device,
                 out: Path, metrics: Callable[[ServingChoice], dict], gazetteer=None) -> ServingChoice:
    """`choose` how to serve the model, then save it to `out` with `metrics(choice)` and the files
    that choice needs (the int8 export, exported to a scratch folder removed afterwards)."""
    with tempfile.TemporaryDirectory(prefix="ner-fastpath-") as scratch:
        work = Path(scratch)
        choice = choose(model, tokenizer, labels, transitions, dev, wanted, device, gazetteer, work)
        save_model(model, tokenizer, labels, metrics(choice), out, transitions, gazetteer, files_to_keep(choice, work))
    return choice


def served_precision(metrics: dict, wanted: str) -> tuple[str, str]:
    """(precision, why) to load a version in: an explicit PRECISION wins; "auto" follows the choice
    its training recorded, and fp32 without one."""
    if wanted != "auto":
        return wanted, f"PRECISION={wanted}"
    choice = metrics.get(METRICS_KEY)
    if isinstance(choice, dict) and choice.get("precision") in ("fp32", "bf16", "fp16", INT8):
        return choice["precision"], str(choice.get("reason") or "")
    return "fp32", "no fast-path check recorded for this version"
