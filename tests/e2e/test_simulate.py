"""`ner-backend simulate`: the simulated annotator, run as a user runs it, on the shipped corpora."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from backend.ner.effort import Effort, effort
from backend.ner.floor import EVERY, FLOORS, NONE
from backend.ner.spans import SPAN_SCORES
from tests.support.servers import ROOT, Service, Worker

KEYS = {"strategy", "annotations", "f1", "precision", "recall", "edits_per_task", "effort_saved", "train_seconds"}


def run(*args: str, epochs: int = 2) -> subprocess.CompletedProcess:
    env = {**os.environ, "TRAIN_EPOCHS": str(epochs), "ADAPT_STEPS": "2"}  # the adapted encoder's path, not its minutes
    return subprocess.run([sys.executable, "-m", "backend.cli", "simulate", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


def test_two_tiny_rounds_print_json_and_draw_the_plot(data_dir, tmp_path):
    plot = tmp_path / "curve.svg"
    done = run("--pool", str(data_dir / "gmb_train.csv"), "--test", str(data_dir / "gmb_eval.csv"),
               "--limit-pool", "40", "--limit-test", "25", "--rounds", "12,16", "--seed", "3",
               "--json", "--plot", str(plot), "--floors")
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["annotations"] for r in rows] == [12, 16]
    for r in rows:
        assert KEYS <= set(r) and r["strategy"] == "random" and r["seed"] == 3
        assert 0.0 <= r["f1"] <= 1.0 and r["train_seconds"] > 0 and r["epochs"] == 2
        spent = r["effort"]
        assert spent["gold"] > 0
        edits = spent["deletes"] + spent["creates"] + spent["relabels"]
        assert r["edits_per_task"] == round(edits / 25, 4)
        assert r["effort_saved"] == round(1 - edits / spent["gold"], 4)
        # --floors: what each served floor would save, under each score; nothing shown saves nothing,
        # and every span shown is the same spans whatever scores them
        by_score = r["floors"]
        assert set(by_score) == set(SPAN_SCORES) and all(len(f) == len(FLOORS) for f in by_score.values())
        assert {f[f"{NONE:g}"] for f in by_score.values()} == {0.0}
        assert len({f[f"{EVERY:g}"] for f in by_score.values()}) == 1
    # chained as the worker chains them: 12 of 16 tasks is enough of today's data to warm-start
    assert [r["warm_start"] for r in rows] == ["base", "current:v1"]
    assert [r["version"] for r in rows] == ["v1", "v2"] or not rows[1]["promoted"]
    svg = plot.read_text()
    assert svg.startswith("<svg") and "random" in svg and "effort saved" in svg and svg.count("<circle") == 4
    assert "round 1/2" in done.stderr and "round 2/2" in done.stderr  # progress on stderr, not stdout


def test_import_order_and_the_cold_start_order(data_dir):
    """sequential takes the pool as imported; coldstart takes a covering order, chosen once."""
    from backend.ner.readers import read_corpus

    pool = read_corpus(data_dir / "gmb_train.csv", limit=40)
    done = run("--pool", str(data_dir / "gmb_train.csv"), "--test", str(data_dir / "gmb_eval.csv"),
               "--limit-pool", "40", "--limit-test", "10", "--rounds", "12", "--strategy", "sequential,coldstart",
               "--json", epochs=1)
    assert done.returncode == 0, done.stderr[-2000:]
    sequential, cold = [json.loads(line) for line in done.stdout.splitlines()]
    assert sequential["words_per_task"] == round(sum(len(s.words) for s in pool[:12]) / 12, 2)
    assert cold["strategy"] == "coldstart" and not cold["handed_over"]  # 12 tasks: no dev split to judge by
    assert cold["words_per_task"] != sequential["words_per_task"]


def test_bad_options_get_one_clear_line(data_dir, capsys):
    from backend.cli import main

    pool, test = str(data_dir / "gmb_train.csv"), str(data_dir / "gmb_eval.csv")
    cases = [
        (["--strategy", "psychic"], "unknown strategy psychic"),
        (["--rounds", "20,10"], "--rounds must be increasing"),
        (["--rounds", "10,x"], "--rounds must be comma-separated integers"),
        (["--limit-pool", "5", "--rounds", "10"], "the pool has 5 sentences"),
        (["--pool", str(data_dir / "missing.csv")], "no such file"),
    ]
    for extra, message in cases:
        code = main(["simulate", "--pool", pool, "--test", test, *extra])
        out, err = capsys.readouterr()
        assert code == 1 and message in err and err.count("\n") == 1 and not out, (extra, err[-500:])


def test_effort_counts_deletes_creates_and_relabels():
    gold = [(0, 2, "per"), (3, 4, "gpe"), (5, 7, "org"), (9, 10, "tim")]
    predicted = [(0, 2, "per"), (3, 4, "geo"), (5, 6, "org")]
    spent = effort(predicted, gold)
    # per is right; geo->gpe is a relabel; 5-6 is a wrong boundary (delete + create); tim is missing
    assert spent == Effort(deletes=1, creates=2, relabels=1, gold=4)
    assert spent.edits == 4 and spent.saved == 0.0
    assert effort(gold, gold).saved == 1.0 and effort([], gold).saved == 0.0
    assert effort([(1, 2, "x")], []).saved is None and effort([(1, 2, "x")], []).deletes == 1
    assert effort([], gold) + effort(gold, gold) == Effort(creates=4, gold=8)


@pytest.mark.slow
def test_through_the_real_service_webhooks_worker_and_hot_swap(data_dir, redis_url, tmp_path, project):
    env = {"REDIS_URL": redis_url, "MODEL_DIR": str(tmp_path / "models"), "TRAIN_EPOCHS": "2", "BOOTSTRAP_MODEL": "",
           "SWAP_POLL_SECONDS": "0.5", "MIN_ANNOTATIONS": "100000", "QUEUE_NAME": "simulate-test"}
    service = Service(env, log_path=tmp_path / "service.log")
    worker = Worker(env, tmp_path / "worker.log")
    try:
        done = run("--pool", str(data_dir / "gmb_train.csv"), "--test", str(data_dir / "gmb_eval.csv"),
                   "--limit-pool", "40", "--limit-test", "20", "--rounds", "12,16", "--json",
                   "--service", service.url, "--project", project)
    finally:
        worker.stop()
        service.stop()
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["annotations"] for r in rows] == [12, 16]
    for r in rows:
        assert KEYS <= set(r) and 0.0 <= r["f1"] <= 1.0 and r["epochs"] == 2 and r["train_seconds"] > 0
        spent = r["effort"]
        assert r["edits_per_task"] == round((spent["deletes"] + spent["creates"] + spent["relabels"]) / 20, 4)
    # the service trained twice and every process swapped to what it promoted
    assert rows[0]["version"].startswith("v1-") and rows[1]["warm_start"].startswith("current:v1-")
    assert rows[1]["version"].startswith("v2-") or not rows[1]["promoted"]
