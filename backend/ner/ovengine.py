"""The AMX engine: a version's model in OpenVINO, computing in bf16, for CPU servers with AMX."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import torch

from . import onnxengine
from .device import cpu_has_amx, cpu_has_bf16_instructions

OV_FILE = "model.ov.xml"  # in the version's folder (its weights in model.ov.bin), when the check passed it
# On a 2-core Xeon with AMX, MiniLM's GMB batches of 16 ran at 1,067-1,146 texts/s in OpenVINO bf16
# against ONNX Runtime int8's 901-903 (its argmax tags agreeing with fp32's on 99.98 % of the
# tokens, int8's on 99.44 %), and `/predict` went from 5.0x to 5.9x the per-task pipeline in
# process. Without AMX it is slower than int8 (443 against 634 on a Zen 4 with AVX512-BF16), so
# only a server with AMX takes it (docs/benchmarks.md, "Inference speed").


def available() -> bool:
    """True when OpenVINO and ONNX (which the graph is traced to first) are installed."""
    try:
        import onnx  # noqa: F401
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


def serves_here() -> bool:
    """True where a server would rather use this engine than int8: OpenVINO and AMX tiles here."""
    return available() and cpu_has_amx()


def checkable_here() -> bool:
    """True where scoring this engine measures what an AMX server computes: bf16 in hardware
    (AMX or AVX512-BF16; elsewhere OpenVINO would quietly compute in fp32)."""
    return available() and cpu_has_bf16_instructions()


def export(model, folder: Path) -> Path:
    """Write `model` (on the CPU) to folder/OV_FILE from its fp32 ONNX graph, weights stored in fp16
    (half the size; the engine computes in bf16, which has fewer mantissa bits than fp16). Read from
    ONNX with OpenVINO's runtime, not its model converter, which sends usage telemetry."""
    import openvino as ov

    folder = Path(folder)
    graph = ov.Core().read_model(str(onnxengine.export_fp32(model, folder / onnxengine.FP32_FILE)))
    out = folder / OV_FILE
    ov.save_model(graph, str(out), compress_to_fp16=True)
    return out


def files(xml: Path) -> dict[str, Path]:
    """The files an exported graph is made of, by name in a version's folder."""
    return {xml.name: xml, xml.with_suffix(".bin").name: xml.with_suffix(".bin")}


class OvEngine:
    """An OpenVINO graph compiled for this CPU in bf16, with as many threads as torch has here."""

    def __init__(self, path: str | Path | None) -> None:
        import openvino as ov

        if path is None or not Path(path).is_file():
            raise FileNotFoundError(f"no OpenVINO model file at {path}")
        core = ov.Core()
        self.compiled = core.compile_model(core.read_model(str(path)), "CPU", {
            "INFERENCE_PRECISION_HINT": "bf16",
            "INFERENCE_NUM_THREADS": torch.get_num_threads(),
            "PERFORMANCE_HINT": "LATENCY",  # one request at a time per serving process
            # unpinned: a training beside the server takes the same cores (one task per request from 4
            # clients during a training: p50 / p95 32-33 / 52-55 ms against 38 / 84 pinned; the same alone)
            "ENABLE_CPU_PINNING": False,
        })
        self.local = threading.local()  # an infer request holds its buffers: one per serving thread
        self.names = [i.get_any_name() for i in self.compiled.inputs]

    def logits(self, inputs: dict[str, torch.Tensor]) -> np.ndarray:
        """Logits (batch x tokens x labels) for a padded batch; token types are 0 when not given."""
        request = getattr(self.local, "request", None)
        if request is None:
            request = self.local.request = self.compiled.create_infer_request()
        return request.infer(onnxengine.feed(inputs, self.names))[self.compiled.output(0)]
