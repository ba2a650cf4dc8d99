"""Where and in what precision the model runs: CUDA when present, bf16 only where it pays."""

from __future__ import annotations

import contextlib
import logging
import os
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

log = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
INT8 = "int8"  # not a torch precision: the ONNX Runtime engine a version's fast-path check may choose
OV_BF16 = "ov-bf16"  # nor this: OpenVINO computing in bf16, which CPU servers with AMX take first


def pick_device(name: str | None = None) -> torch.device:
    """`name` if given, else the first CUDA device when there is one, else the CPU."""
    if name:
        return torch.device(name)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def describe_device() -> str:
    """Where trainings here will run, in one line: the GPU's name, or why it is the CPU (a CUDA
    build of torch with no GPU visible falls back to the CPU, and says so) and in which precision.
    On a CPU it measures bf16 in a child interpreter (`measure_bf16_apart`), so a process that forks
    its trainings, the RQ worker, calls it before the forks and they inherit the figure."""
    if torch.cuda.is_available():
        return f"training on the GPU: {torch.cuda.get_device_name(0)} (torch {torch.__version__})"
    measure_bf16_apart()
    if torch.version.cuda:
        return (f"no GPU visible to this CUDA build of torch ({torch.__version__}, CUDA {torch.version.cuda}): "
                f"training falls back to the CPU ({os.cpu_count()} cores; {describe_bf16()})")
    return f"training on the CPU ({os.cpu_count()} cores, torch {torch.__version__}; {describe_bf16()})"


def describe_bf16() -> str:
    """Why "auto" trains and serves this CPU in bf16 or fp32, with the probe's figure."""
    speedup = bf16_speedup()
    if speedup is None:
        return "bf16 not measured: fp32" if cpu_has_bf16_instructions() else "no AMX or AVX512-BF16: fp32"
    return f"bf16 autocast measured {speedup:.2f}x fp32's speed here: {'bf16' if cpu_has_fast_bf16() else 'fp32'}"


# bf16 autocast is not faster on every CPU with bf16 instructions, so "auto" measures it. On a 2-core
# Intel Xeon with AMX, `ner-backend train` on 2,000 GMB sentences took 0.80x fp32's time in bf16; on a
# 2-core Intel Xeon with AVX512-BF16 but no AMX exposed (Emerald Rapids), 1.56x, and batched
# prediction ran at 0.6x fp32's speed; this probe measured bf16 at 0.62-0.75x fp32's speed there
# (docs/benchmarks.md, "Training precision on this CPU"). A CPU without AMX or AVX512-BF16 only
# emulates bf16 and is not probed.
BF16_MARGIN = 1.1  # bf16 is chosen when the probe runs at least this much faster than fp32
_PROBE_ROWS, _PROBE_REPEATS = 640, 5  # a batch of 16 sentences of 40 pieces, median of 5 interleaved


def cpu_has_bf16_instructions() -> bool:
    """AMX or AVX512-BF16, as torch sees them (a VM may hide AMX that the chip has)."""
    return cpu_has_amx() or _torch_sees("_is_avx512_bf16_supported")


def cpu_has_amx() -> bool:
    """AMX tiles, as torch sees them."""
    return _torch_sees("_is_amx_tile_supported")


def _torch_sees(probe: str) -> bool:
    return bool(getattr(torch.cpu, probe, lambda: False)())


_UNMEASURED = object()
_speedup: float | None | object = _UNMEASURED  # this process's measure, inherited by its forks


def bf16_speedup() -> float | None:
    """How many times faster bf16 autocast runs than fp32 on this CPU (`_probe_bf16`); None where
    bf16 is only emulated. Measured once per process, in it, unless `measure_bf16_apart` ran."""
    global _speedup
    if _speedup is _UNMEASURED:
        _speedup = _probe_bf16() if cpu_has_bf16_instructions() else None
    return _speedup  # type: ignore[return-value]


def measure_bf16_apart() -> float | None:
    """`bf16_speedup`, measured in a child interpreter (1.6 s with its imports): a process that
    forks a child per training, the RQ worker, must make no tensor before the fork, or its children
    inherit an OpenMP pool without its threads and hang at their first parallel op (seen: a probe run
    in the worker itself hung its first training). If the child fails, fp32."""
    global _speedup
    if _speedup is _UNMEASURED and cpu_has_bf16_instructions():
        _speedup = _probe_in_child()
    return bf16_speedup()


def _probe_in_child() -> float | None:
    code = "from backend.ner.device import _probe_bf16; print(_probe_bf16())"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    try:
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                              timeout=120, check=True)
        return float(done.stdout.split()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError) as exc:  # fp32 is always right
        log.warning("could not measure bf16 against fp32 here (%s): fp32", exc)
        return None


def _probe_bf16() -> float:
    """fp32's time over bf16 autocast's for a MiniLM-sized feed-forward block (384 -> 1,536 -> 384),
    forward and backward, median of interleaved rounds; about 0.5 s. Its own generator, so no
    training's seed moves."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(_PROBE_ROWS, 384, generator=gen)
    w1 = (torch.randn(1536, 384, generator=gen) / 20).requires_grad_()
    w2 = (torch.randn(384, 1536, generator=gen) / 40).requires_grad_()

    def step(dtype) -> float:
        started = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == "bf16"):
            out = F.linear(F.gelu(F.linear(x, w1)), w2)
        out.float().sum().backward()
        w1.grad = w2.grad = None
        return time.perf_counter() - started

    times: dict[str, list[float]] = {"fp32": [], "bf16": []}
    for repeat in range(_PROBE_REPEATS + 1):  # the first round warms the kernels up and is dropped
        for dtype in times:
            elapsed = step(dtype)
            if repeat:
                times[dtype].append(elapsed)
    return statistics.median(times["fp32"]) / statistics.median(times["bf16"])


def cpu_has_fast_bf16() -> bool:
    """True where bf16 autocast measures at least BF16_MARGIN times faster than fp32 here."""
    speedup = bf16_speedup()
    return speedup is not None and speedup >= BF16_MARGIN


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
