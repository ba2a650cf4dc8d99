"""The `ner-backend` command: run as a real subprocess where the process is what is checked
(training, serving speed choices, output streams), in-process where only its answer is."""

import io
import json
import os
import subprocess
import sys

import pytest

from backend import cli
from backend.config import Settings


def run_cli(*args, stdin: str | None = None):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, "-m", "backend.cli", *map(str, args)],
        input=stdin, capture_output=True, text=True, env=env, timeout=600,
    )


@pytest.fixture()
def in_process(capsys, monkeypatch):
    """Runs `ner-backend ARGS` in this process (no interpreter and torch start-up, about 4 s each):
    (exit code, stdout, stderr). The OpenMP variables it sets are put back after the test."""
    for key in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT"):
        monkeypatch.delenv(key, raising=False)  # as a shell starts it; monkeypatch restores them after

    def run(*args) -> tuple[int, str, str]:
        capsys.readouterr()
        code = cli.main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err
    return run


def test_train_evaluate_predict(tmp_path, data_dir, in_process, monkeypatch):
    out = tmp_path / "model"
    r = run_cli("train", "--data", data_dir / "gmb_train.csv", "--limit", "60", "--epochs", "1",
                "--dev-fraction", "0.2", "--out", out)
    assert r.returncode == 0, r.stderr
    assert "saved" in r.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["train_sentences"] == 48 and metrics["dev_sentences"] == 12
    assert metrics["evaluated_on"] == "dev" and 0.0 <= metrics["f1"] <= 1.0
    assert metrics["base_model"] == "minilm" and metrics["epochs_run"] == 1
    for key in ("created_at", "duration_s", "labels", "per_label", "macro_f1"):
        assert key in metrics

    code, printed, err = in_process("evaluate", "--model", out, "--data", data_dir / "gmb_eval.csv", "--limit", "20", "--json")
    assert code == 0, err
    figures = json.loads(printed)
    assert figures["sentences"] == 20
    assert {"f1", "precision", "recall", "per_label"} <= figures.keys()

    code, printed, _ = in_process("evaluate", "--model", out, "--data", data_dir / "gmb_eval.csv", "--limit", "5")
    assert code == 0 and "micro" in printed

    texts = ["Iraqi officials met in Baghdad .", "", "😀  Obama\tin Paris"]
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(texts) + "\n"))
    code, printed, err = in_process("predict", "--model", out)
    assert code == 0, err
    lines = [json.loads(line) for line in printed.splitlines()]
    assert len(lines) == 3
    for text, line in zip(texts, lines):
        for span in line["spans"]:
            assert text[span["start"] : span["end"]] == span["text"]
        assert 0.0 <= line["uncertainty"] <= 1.0


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--data", "/nonexistent.csv", "--out", "/tmp/x"], "no such file"),
        (["train", "--data", "{data}/gmb_train.csv", "--format", "conll", "--out", "/tmp/x"], "unknown label"),
        (["train", "--data", "{data}/empty.conll", "--out", "/tmp/x"], "no sentences"),
        (["evaluate", "--model", "/nonexistent", "--data", "{data}/gmb_eval.csv"], "does not exist"),
        (["check", "--model", "/nonexistent"], "keeps no held-out sentences"),
        (["check", "--model", "/nonexistent", "--data", "{data}/gmb_eval.csv"], "does not exist"),
    ],
)
def test_errors_print_one_line_and_exit_non_zero(tmp_path, data_dir, args, message, in_process):
    (tmp_path / "empty.conll").write_text("\n\n")
    data = data_dir if "empty" not in " ".join(args) else tmp_path
    code, _, err = in_process(*[a.replace("{data}", str(data)) for a in args])
    assert code == 1
    assert err.strip().count("\n") == 0 and message in err, err


def test_evaluate_counts_labels_the_model_does_not_know_as_misses(trained_folder, data_dir, in_process):
    code, out, err = in_process("evaluate", "--model", trained_folder, "--data", data_dir / "conll4_sample.conll", "--json")
    assert code == 0, err
    assert "does not know the label(s) LOC, ORG, PER" in err and "count as misses" in err
    figures = json.loads(out)
    for label in ("LOC", "ORG", "PER"):
        assert figures["per_label"][label]["recall"] == 0.0 and figures["per_label"][label]["support"] > 0
    assert figures["recall"] == 0.0 and figures["support"] == sum(v["support"] for v in figures["per_label"].values())


@pytest.mark.parametrize("command, given, expected", [
    ("serve", {}, {"GOMP_SPINCOUNT": "20000"}),  # brief spinning: batched /predict keeps its speed
    ("worker", {}, {"OMP_WAIT_POLICY": "PASSIVE"}),  # a training next to a busy server never spins
    ("train", {}, {"OMP_WAIT_POLICY": "PASSIVE"}),
    ("up", {}, {}),  # its parts choose for themselves
    ("worker", {"OMP_WAIT_POLICY": "ACTIVE"}, {"OMP_WAIT_POLICY": "ACTIVE"}),  # the environment wins
    ("serve", {"GOMP_SPINCOUNT": "5"}, {"GOMP_SPINCOUNT": "5"}),
])
def test_openmp_waiting_is_chosen_per_command_unless_given(monkeypatch, command, given, expected):
    for key in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT"):
        monkeypatch.delenv(key, raising=False)
    for key, value in given.items():
        monkeypatch.setenv(key, value)
    cli._omp_waiting(command)
    assert {k: os.environ[k] for k in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT") if k in os.environ} == expected


def _serving(folder) -> dict:
    return json.loads((folder / "metrics.json").read_text())["serving"]


@pytest.mark.slow  # trains 3 epochs and tries int8 (about 20 s): tests/integration/test_fastpath.py is the quick check
def test_train_with_default_options_checks_the_fast_path_and_keeps_its_evidence(tmp_path, data_dir):
    from backend.ner.checkpoint import load_model
    from backend.ner.fastpath import load_served, read_heldout

    out = tmp_path / "model"
    r = run_cli("train", "--data", data_dir / "gmb_train.csv", "--limit", "150", "--epochs", "3", "--lr", "3e-4",
                "--out", out)
    assert r.returncode == 0, r.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["dev_sentences"] == 15 and metrics["train_sentences"] == 135  # a tenth held out by default
    serving = _serving(out)
    assert serving["fp32_f1"] is not None and "int8" in serving["tried"]  # checked: no longer fp32 for want of evidence
    assert len(read_heldout(out)) == 15
    loaded = load_served(out, "auto")
    passed = serving["tried"]["int8"] >= serving["fp32_f1"] - 0.005
    assert (loaded.precision == "int8") == passed, (loaded.precision, loaded.precision_reason)
    assert f"served here in {loaded.precision}" in r.stdout
    assert load_model(out).span_score == Settings().span_score  # scored as the worker's versions score their spans


@pytest.mark.slow  # exports and scores int8 (about 18 s): tests/integration/test_fastpath.py is the quick check
def test_check_gives_a_folder_trained_on_everything_its_fast_path(trained_folder, tmp_path, data_dir):
    import shutil

    from backend.ner.checkpoint import load_model
    from backend.ner.fastpath import load_served

    folder = tmp_path / "unchecked"
    shutil.copytree(trained_folder, folder)
    assert load_served(folder, "auto").precision == "fp32"  # nothing recorded: fp32, and the reason says how to fix it
    assert "ner-backend check" in load_served(folder, "auto").precision_reason
    r = run_cli("check", "--model", folder)
    assert r.returncode == 1 and "--data" in r.stderr  # no evidence kept: it must be named
    r = run_cli("check", "--model", folder, "--data", data_dir / "gmb_eval.csv", "--limit", "100")
    assert r.returncode == 0, r.stderr
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["note"] == "test fixture"  # what the folder recorded before is kept
    assert "int8" in metrics["serving"]["tried"] and (folder / "model.int8.onnx").exists() == \
        (metrics["serving"]["tried"]["int8"] >= metrics["serving"]["fp32_f1"] - 0.005)
    assert load_model(folder).labels.labels == load_model(trained_folder).labels.labels
    assert load_served(folder, "auto").precision == metrics["serving"]["precision"]
