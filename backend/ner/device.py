"""Where and in what precision the model runs: CUDA when present, bf16 only where it pays."""

from __future__ import annotations

import contextlib
import os

import torch

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
INT8 = "int8"  # not a torch precision: the ONNX Runtime engine a version's fast-path check may choose


def pick_device(name: str | None = None) -> torch.device:
    """`name` if given, else the first CUDA device when there is one, else the CPU."""
    if name:
        return torch.device(name)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def describe_device() -> str:
    """Where trainings here will run, in one line: the GPU's name, or why it is the CPU (a CUDA
    build of torch with no GPU visible falls back to the CPU, and says so)."""
    if torch.cuda.is_available():
        return f"training on the GPU: {torch.cuda.get_device_name(0)} (torch {torch.__version__})"
    if torch.version.cuda:
        return (f"no GPU visible to this CUDA build of torch ({torch.__version__}, CUDA {torch.version.cuda}): "
                f"training falls back to the CPU ({os.cpu_count()} cores)")
    return f"training on the CPU ({os.cpu_count()} cores, torch {torch.__version__})"


def cpu_has_fast_bf16() -> bool:
    """True on CPUs with AMX or AVX512-BF16, where bf16 autocast is faster than fp32."""
    probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(getattr(torch.cpu, p, lambda: False)() for p in probes)


def resolve_precision(precision: str, device: torch.device) -> str:
    """Turn "auto" into fp32/bf16/fp16 for `device`; reject unknown names."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "bf16" if cpu_has_fast_bf16() else "fp32"


def autocast(device: torch.device, precision: str):
    """A context that runs matmuls in the resolved precision (a no-op for fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def use_threads(threads: int, share: int = 1) -> int:
    """Give torch `threads` threads; with 0, the cores divided by `share` processes, or torch's own
    default (OMP_NUM_THREADS, else the cores) when nothing is shared. Returns the number in use."""
    if threads <= 0 and share > 1:
        threads = max(1, (os.cpu_count() or 1) // share)
    if threads > 0:
        torch.set_num_threads(threads)
    return torch.get_num_threads()
