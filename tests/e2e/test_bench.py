"""The benchmarks in bench/ do not rot: each runs its --quick mode (or a tiny input) and prints
its result lines. Figures are not checked here: speed lives in docs/benchmarks.md."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from backend.ner.readers import read_gmb
from tests.support.servers import ROOT


def bench(*args: str, timeout: float = 600, **env: str) -> str:
    """Runs a bench with a temporary folder of its own: a bench that succeeds leaves no scratch
    folder behind there (each left 0.2-0.5 GB, and every suite ran them)."""
    with tempfile.TemporaryDirectory(prefix="bench-tmp-") as tmp:
        done = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, "TMPDIR": tmp, **env})
        assert done.returncode == 0, done.stderr[-3000:]
        # torch's compile cache may stay (a folder), and a 51-byte session file some library writes
        left = [p.name for p in Path(tmp).iterdir() if p.is_dir() and not p.name.startswith("torchinductor_")]
        assert not left, f"{args[0]} left {left} behind"
    return done.stdout


def test_gmb_slice_keeps_the_sentences_asked_for(data_dir, tmp_path):
    out = tmp_path / "slice.csv"
    bench("bench/gmb_slice.py", str(data_dir / "gmb_train.csv"), str(out), "--first", "3", "--last", "7")
    assert [s.words for s in read_gmb(out)] == [s.words for s in read_gmb(data_dir / "gmb_train.csv")[2:7]]


@pytest.mark.slow
def test_predict_speed_quick():
    out = bench("bench/predict_speed.py", "--quick")
    assert "| batched |" in out and "| one at a time |" in out and "| ratio |" in out


@pytest.mark.slow
def test_predict_http_quick():
    out = bench("bench/predict_http.py", "--quick")
    assert "/predict over HTTP" in out and "one task per request" in out


@pytest.mark.slow
def test_engines_quick():
    out = bench("bench/engines.py", "--quick")
    assert "| int8 (ONNX Runtime) |" in out and "| ov-bf16 (OpenVINO) |" in out and "agreeing with torch fp32's" in out


@pytest.mark.slow
def test_loop_quick():
    out = bench("bench/loop.py", "--quick", "--load", "2")
    assert "| 12 | 2 |" in out  # 12 annotated sentences, 2 epochs, then the timings and F1s
    assert "Under a load of 2 one-task /predict clients" in out and "p50" in out


@pytest.mark.slow
def test_strategies_report_from_two_tiny_simulations(data_dir, tmp_path):
    runs = tmp_path / "runs.jsonl"
    simulate = ["-m", "backend.cli", "simulate", "--pool", str(data_dir / "gmb_train.csv"), "--test",
                str(data_dir / "gmb_eval.csv"), "--limit-pool", "60", "--limit-test", "20", "--rounds", "12,20",
                "--strategy", "random,mnlp", "--json"]
    runs.write_text(bench(*simulate, TRAIN_EPOCHS="1", ADAPT_STEPS="0"))
    plot = tmp_path / "al.svg"
    out = bench("bench/strategies.py", str(runs), "--plot", str(plot))
    assert "| tasks | random | mnlp |" in out and "| 20 |" in out and "random's mean test F1 at 20 tasks" in out
    assert plot.read_text().startswith("<svg") and "mnlp" in plot.read_text()


@pytest.mark.slow
def test_soak_quick_keeps_folders_and_label_studio_bounded():
    """Six trainings with pushes into a real Label Studio, a 5 s grace: in real time, retention
    removes each replaced version and LS keeps two versions' predictions."""
    out = bench("bench/soak.py", "--quick")
    rows = [[c.strip() for c in line.split("|")[1:-1]] for line in out.splitlines()
            if line.startswith("| ") and line[2].isdigit()]
    assert [int(r[0]) for r in rows] == [2, 4, 6]  # trainings
    assert all(r[2] == r[0] for r in rows)  # every promotion pushed (all promote on this data)
    assert all(r[4].endswith("(2)") or r[4].endswith("(1)") for r in rows)  # LS: two versions at most
    assert int(rows[-1][4].split()[0]) < int(rows[-1][3])  # fewer rows than were written
    # at most the newest KEEP_VERSIONS (current and previous among them) and one in its grace
    assert all(int(r[5]) <= 3 + 1 for r in rows)
