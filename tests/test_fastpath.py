"""The fast inference path is served only when the version's dev F1 says it costs (almost) nothing."""

from __future__ import annotations

import torch

from backend.config import Settings
from backend.ner import fastpath, onnxengine
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


def test_int8_is_tried_first_and_kept_with_the_version_only_when_chosen(trained, gmb_eval, tmp_path):
    device, dev = torch.device("cpu"), gmb_eval[:40]
    args = (trained.model, trained.tokenizer, trained.labels, trained.transitions)
    work = tmp_path / "work"
    work.mkdir()
    choice = fastpath.choose(*args, dev, "auto", device, workdir=work)
    assert list(choice.tried)[0] == "int8" and (work / onnxengine.INT8_FILE).is_file()
    int8 = evaluate_model(Predictor(*args[:3], precision="int8", transitions=args[3],
                                    onnx_file=work / onnxengine.INT8_FILE), dev)["f1"]
    assert choice.tried["int8"] == int8
    assert (choice.precision == "int8") == (int8 >= choice.fp32_f1 - fastpath.TOLERANCE)
    kept = fastpath.files_to_keep(choice, work)
    assert set(kept) == ({onnxengine.INT8_FILE} if choice.precision == "int8" else set())
    # PRECISION=fp32 (or an explicit torch precision) never exports
    other = tmp_path / "other"
    other.mkdir()
    assert "int8" not in fastpath.choose(*args, dev, "fp32", device, workdir=other).tried
    assert not any(other.iterdir())


def test_an_int8_version_serves_from_its_onnx_file_and_falls_back_to_fp32_without_it(trained, gmb_eval, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    onnxengine.export_int8(trained.model, work)
    chosen = {"precision": "int8", "reason": "int8 dev F1 0.9 is within 0.005 of fp32's 0.9"}
    folder = save_model(trained.model, trained.tokenizer, trained.labels, {"serving": chosen}, tmp_path / "v1",
                        trained.transitions, extra_files={onnxengine.INT8_FILE: work / onnxengine.INT8_FILE})
    broken = save_model(trained.model, trained.tokenizer, trained.labels, {"serving": chosen}, tmp_path / "v2",
                        trained.transitions)
    cache = ModelCache(Settings(), 2)
    served = cache.get(folder)
    assert served.precision == "int8" and served.engine is not None
    exact = Predictor(trained.model, trained.tokenizer, trained.labels, precision="fp32", transitions=trained.transitions)
    texts = [" ".join(s.words) for s in gmb_eval[:20]]
    def entities(prediction):
        return [(s.start, s.end, s.label) for s in prediction.spans]

    agree = sum(entities(a) == entities(b) for a, b in zip(served.predict(texts), exact.predict(texts)))
    assert agree >= 15  # the same model in 8 bits: most texts get exactly the same entities
    fallback = cache.get(broken)
    assert fallback.precision == "fp32" and "cannot run here" in fallback.precision_reason
