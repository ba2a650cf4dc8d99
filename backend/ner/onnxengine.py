"""The int8 engine: a version's model exported to ONNX with int8 weights, run by ONNX Runtime on the CPU."""

from __future__ import annotations

import logging
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

INT8_FILE = "model.int8.onnx"  # in the version's folder, when its fast-path check chose int8
FP32_FILE = "model.fp32.onnx"  # the traced graph both engines start from; a scratch file, never kept
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def available() -> bool:
    """True when ONNX Runtime and the ONNX exporter's package are installed."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def export_int8(model, folder: Path) -> Path:
    """Write `model` (on the CPU) to folder/INT8_FILE: traced to ONNX in fp32, then the weights of
    every matrix product quantized to int8 with one scale per output channel; activations are
    quantized on the fly, so no calibration data is needed. The embedding tables stay fp32. On two
    GMB models (test F1, 1,000 sentences) this cost 0.001-0.002 against fp32, where one scale per
    tensor cost 0.005, and quantizing the embeddings as well 0.004 (docs/benchmarks.md, "Inference speed").

    Weights use 7 bits (-64..64, `reduce_range`): ONNX Runtime's AVX2 kernel, which CPUs without
    VNNI (AMD Zen 3, older Intel) run, adds pairs of uint8 x int8 products in 16 bits and saturates
    past 32,767; 2 x 255 x 64 fits, 2 x 255 x 127 does not. So every x86 CPU computes the same
    logits, and the dev F1 that training checked holds wherever the version is served.

    The graph is traced from the eager attention (matrix products and a softmax), not from torch's
    fused kernel: that one exports with a NaN guard (IsNaN, Where) on every attention row, which
    cost 7 % of ONNX Runtime's time; without it the engine made 754 texts/s where it made 682
    (MiniLM, GMB batches of 16, Intel AMX), its argmax tags agreeing with fp32's as often."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    folder = Path(folder)
    plain, out = export_fp32(model, folder / FP32_FILE), folder / INT8_FILE
    root = logging.getLogger()
    level, root.level = root.level, logging.ERROR  # the quantizer logs advice meant for vision models
    try:
        quantize_dynamic(str(plain), str(out), weight_type=QuantType.QInt8, per_channel=True, reduce_range=True,
                         op_types_to_quantize=["MatMul"])
    finally:
        root.setLevel(level)
    return out


def export_fp32(model, path: Path) -> Path:
    """Trace `model` (on the CPU) to an fp32 ONNX graph at `path`, from the eager attention (see
    `export_int8`), batch and length dynamic; kept when it is already there (one trace serves
    both engines a check scores)."""
    if path.is_file():
        return path
    example = torch.ones(1, 8, dtype=torch.long)
    attention = model.config._attn_implementation
    model.set_attn_implementation("eager")
    with _restored(model, attention), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on Python control flow it fixes to one shape
        torch.onnx.export(
            model.eval(), (), str(path), kwargs={name: example for name in INPUTS},
            input_names=list(INPUTS), output_names=["logits"],
            dynamic_axes={name: {0: "batch", 1: "tokens"} for name in (*INPUTS, "logits")},
            opset_version=17, dynamo=False,
        )
    return path


@contextmanager
def _restored(model, attention: str):
    """Give `model` back its attention implementation however the export ends."""
    try:
        yield
    finally:
        model.set_attn_implementation(attention)


class OnnxEngine:
    """An ONNX model in an ONNX Runtime session on the CPU, with as many threads as torch has here."""

    def __init__(self, path: str | Path | None) -> None:
        import onnxruntime as ort

        if path is None or not Path(path).is_file():
            raise FileNotFoundError(f"no int8 model file at {path}")

        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.names = [i.name for i in self.session.get_inputs()]

    def logits(self, inputs: dict[str, torch.Tensor]) -> np.ndarray:
        """Logits (batch x tokens x labels) for a padded batch; token types are 0 when not given."""
        return self.session.run(["logits"], feed(inputs, self.names))[0]


def feed(inputs: dict[str, torch.Tensor], names) -> dict[str, np.ndarray]:
    """A padded batch as an exported graph takes it: arrays by input name, token types 0 when not given."""
    ids = inputs["input_ids"].numpy()
    return {name: inputs[name].numpy() if name in inputs else np.zeros_like(ids) for name in names}
