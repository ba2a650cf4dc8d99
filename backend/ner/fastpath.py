"""Which precision a model version is served in: the machine's fast path (bf16 where the CPU or GPU
has it) only while its dev micro-F1 stays within TOLERANCE of fp32's, measured at training time
and kept in the version's metrics.json; fp32 otherwise, and whenever there is no evidence."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from .device import resolve_precision
from .evaluation import evaluate_model
from .predictor import Predictor
from .readers import Sentence

TOLERANCE = 0.005  # the most dev micro-F1 the fast path may give up against fp32
METRICS_KEY = "serving"  # where the choice lives in metrics.json


@dataclass(frozen=True)
class ServingChoice:
    """The precision to serve a version in, and the evidence."""

    precision: str  # fp32 | bf16 | fp16
    reason: str
    fp32_f1: float | None = None
    fast_f1: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def choose(model, tokenizer, labels, transitions, dev: list[Sentence], wanted: str, device: torch.device,
           gazetteer=None) -> ServingChoice:
    """Score `dev` in fp32 and in the precision `wanted` resolves to on `device`; serve the fast one
    only when it is within TOLERANCE."""
    fast = resolve_precision(wanted, device)
    if fast == "fp32":
        return ServingChoice("fp32", "fp32 asked for, or no faster path on this machine")
    if not dev:
        return ServingChoice("fp32", f"no dev split to check {fast} against fp32 on")

    def f1(precision: str) -> float:
        predictor = Predictor(model, tokenizer, labels, precision=precision, transitions=transitions,
                              gazetteer=gazetteer)
        return evaluate_model(predictor, dev)["f1"]

    exact, quick = f1("fp32"), f1(fast)
    if quick >= exact - TOLERANCE:
        return ServingChoice(fast, f"{fast} dev F1 {quick:.4f} is within {TOLERANCE} of fp32's {exact:.4f}", exact, quick)
    return ServingChoice("fp32", f"{fast} dev F1 {quick:.4f} is more than {TOLERANCE} below fp32's {exact:.4f}",
                         exact, quick)


def served_precision(metrics: dict, wanted: str) -> tuple[str, str]:
    """(precision, why) to load a version in: an explicit PRECISION wins; "auto" follows the choice
    its training recorded, and fp32 without one."""
    if wanted != "auto":
        return wanted, f"PRECISION={wanted}"
    choice = metrics.get(METRICS_KEY)
    if isinstance(choice, dict) and choice.get("precision") in ("fp32", "bf16", "fp16"):
        return choice["precision"], str(choice.get("reason") or "")
    return "fp32", "no fast-path check recorded for this version"
