"""The fast inference path is served only when the version's dev F1 says it costs (almost) nothing."""

from __future__ import annotations

import torch

from backend.config import Settings
from backend.ner import fastpath
from backend.ner.checkpoint import save_model
from backend.ner.evaluation import evaluate_model
from backend.ner.predictor import Predictor
from backend.serving import ModelCache


def test_explicit_precision_wins_and_auto_follows_the_recorded_check():
    record = {"serving": {"precision": "bf16", "reason": "bf16 dev F1 0.80 is within 0.005 of fp32's 0.80"}}
    assert fastpath.served_precision(record, "fp32") == ("fp32", "PRECISION=fp32")
    assert fastpath.served_precision(record, "auto") == ("bf16", record["serving"]["reason"])
    assert fastpath.served_precision({}, "auto")[0] == "fp32"  # no evidence: the exact path
    assert fastpath.served_precision({"serving": {"precision": "int3"}}, "auto")[0] == "fp32"


def test_the_check_serves_bf16_only_within_the_tolerance(trained, gmb_eval):
    device = torch.device("cpu")
    dev = gmb_eval[:40]
    args = (trained.model, trained.tokenizer, trained.labels, trained.transitions)
    assert fastpath.choose(*args, dev, "fp32", device).precision == "fp32"
    assert "no dev split" in fastpath.choose(*args, [], "bf16", device).reason
    choice = fastpath.choose(*args, dev, "bf16", device)
    exact = evaluate_model(Predictor(*args[:3], precision="fp32", transitions=args[3]), dev)["f1"]
    assert choice.fp32_f1 == exact and choice.fast_f1 is not None
    assert choice.precision == ("bf16" if choice.fast_f1 >= exact - fastpath.TOLERANCE else "fp32")


def test_a_version_loads_in_the_precision_its_training_chose(trained, tmp_path):
    chosen = {"precision": "bf16", "reason": "bf16 dev F1 0.9000 is within 0.005 of fp32's 0.9010"}
    folder = save_model(trained.model, trained.tokenizer, trained.labels, {"serving": chosen}, tmp_path / "v1",
                        trained.transitions)
    unchecked = save_model(trained.model, trained.tokenizer, trained.labels, {}, tmp_path / "v0", trained.transitions)
    cache = ModelCache(Settings(), 2)
    assert (cache.get(folder).precision, cache.get(folder).precision_reason) == ("bf16", chosen["reason"])
    assert cache.get(unchecked).precision == "fp32"
    assert ModelCache(Settings(precision="fp32"), 1).get(folder).precision == "fp32"
