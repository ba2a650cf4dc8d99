import json
import os
from pathlib import Path

import pytest

from backend.ner.checkpoint import ModelFolderError, check_folder, load_model, save_model
from backend.ner.predictor import Predictor

TEXTS = ["Iraqi officials met U.S. envoys in Baghdad on Sunday .", "Nothing here", "😀 Obama  spoke in Paris"]


def test_round_trip_gives_identical_predictions(trained, trained_folder, predictor):
    loaded = Predictor.from_folder(trained_folder, precision="fp32")
    assert loaded.labels == trained.ner.labels
    for a, b in zip(predictor.predict(TEXTS), loaded.predict(TEXTS)):
        assert a == b


def test_saving_is_atomic_and_replaces_the_old_folder(trained, tmp_path):
    out = tmp_path / "m"
    save_model(trained.ner, {"round": 1}, out)
    save_model(trained.ner, {"round": 2}, out)
    assert json.loads((out / "metrics.json").read_text()) == {"round": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # no temp or old folders left behind
    assert check_folder(out) == trained.ner.labels


def test_incomplete_folders_are_refused(trained, tmp_path):
    out = save_model(trained.ner, {}, tmp_path / "m")
    (out / "labels.json").write_text(json.dumps({"labels": ["O", "B-x", "I-x"]}))
    with pytest.raises(ModelFolderError, match="does not match"):
        load_model(out)
    (out / "labels.json").unlink()
    with pytest.raises(ModelFolderError, match="missing labels.json"):
        load_model(out)
    with pytest.raises(ModelFolderError, match="does not exist"):
        load_model(tmp_path / "absent")


def test_truncated_weights_are_refused(trained, tmp_path):
    out = save_model(trained.ner, {}, tmp_path / "m")
    weights = out / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(ModelFolderError, match="truncated"):
        load_model(out)


def test_a_span_threshold_travels_with_the_version_and_is_served(trained, tmp_path):
    from dataclasses import replace

    out = save_model(replace(trained.ner, threshold=0.97), {}, tmp_path / "m")
    assert load_model(out).threshold == 0.97
    strict = Predictor.from_folder(out, precision="fp32").predict(TEXTS)
    every = Predictor(trained.ner, precision="fp32").predict(TEXTS)
    def spans(predictions):
        return {(n, s.start, s.end, s.label) for n, p in enumerate(predictions) for s in p.spans}

    assert spans(strict) < spans(every)  # only the surest spans are left
    label_map = json.loads((out / "labels.json").read_text())
    (out / "labels.json").write_text(json.dumps({**label_map, "span_threshold": 7}))
    with pytest.raises(ModelFolderError, match="neither a probability"):
        load_model(out)


def test_the_span_score_a_threshold_was_chosen_on_travels_with_the_version(trained, tmp_path):
    from dataclasses import replace

    assert load_model(save_model(trained.ner, {}, tmp_path / "chance")).span_score == "chance"
    out = save_model(replace(trained.ner, threshold=0.9, span_score="boundaries"), {}, tmp_path / "m")
    assert load_model(out).span_score == "boundaries"
    loaded = Predictor.from_folder(out, precision="fp32")
    (words,) = loaded.tag_words([TEXTS[0].split()])
    assert loaded.boundaries and all(b is not None for b in words.begins)
    label_map = json.loads((out / "labels.json").read_text())
    (out / "labels.json").write_text(json.dumps({**label_map, "span_score": "vibes"}))
    with pytest.raises(ModelFolderError, match="span_score 'vibes'"):
        load_model(out)


def test_a_saved_folder_and_its_rename_reach_the_disk(trained, tmp_path, monkeypatch):
    # Each fsync and rename in order, by path: a power loss right after the save must find the new
    # folder, so its parent folder is synced after the rename that publishes it.
    events, real_fsync, real_rename = [], os.fsync, os.rename

    def fsync(fd):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def rename(src, dst):
        events.append(("rename", str(dst)))
        real_rename(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "rename", rename)
    out = save_model(trained.ner, {"f1": 0.5}, tmp_path / "store" / "v1")
    published = events.index(("rename", str(out)))
    assert ("fsync", str(tmp_path / "store")) in events[published:]
    synced_before = {path for kind, path in events[:published] if kind == "fsync"}
    assert {p.name for p in map(Path, synced_before)} >= {"model.safetensors", "labels.json", "metrics.json"}
