"""Settings: parsed from the environment field by field, validated, and documented exactly in the README."""

import re
import subprocess
import sys
from dataclasses import fields

import pytest

from backend.config import PRECISIONS, Settings, env_name
from backend.ner import device
from backend.ner.device import resolve_precision
from tests.support.servers import ROOT


def test_defaults_and_overrides():
    assert Settings.from_env({}) == Settings()
    s = Settings.from_env({"BASE_MODEL": " /models/bert ", "PRECISION": "FP32", "MAX_LENGTH": "128",
                           "LABEL_STUDIO_URL": "http://ls:8080/ ", "TRAIN_LR": "1e-4", "GAZETTEER": " OFF"})
    assert (s.base_model, s.precision, s.max_length, s.train_lr) == ("/models/bert", "fp32", 128, 1e-4)
    assert (s.label_studio_url, s.gazetteer) == ("http://ls:8080", "off")
    assert Settings.from_env({"PORT": "  ", "HOST": ""}) == Settings()  # blank means the default
    assert Settings().fixed_span_threshold is None and Settings.from_env({"SPAN_THRESHOLD": " AUTO"}).span_threshold == "auto"
    assert Settings.from_env({"SPAN_THRESHOLD": "0"}).fixed_span_threshold == 0.0


@pytest.mark.parametrize("name, raw, message", [
    ("WINDOW_STRIDE", "many", "WINDOW_STRIDE must be an integer"),
    ("DEV_FRACTION", "a fifth", "DEV_FRACTION must be a number"),
    ("PRECISION", "int3", "PRECISION must be one of auto, fp32, bf16, fp16"),
    ("GAZETTEER", "maybe", "GAZETTEER must be one of auto, off"),
    ("BASIC_AUTH_USER", "ls", "BASIC_AUTH_USER and BASIC_AUTH_PASS are set together"),
    ("BASIC_AUTH_PASS", "s3cret", "BASIC_AUTH_USER and BASIC_AUTH_PASS are set together"),
    ("SPAN_THRESHOLD", "high", "SPAN_THRESHOLD must be auto or a score from 0 to 1"),
    ("SPAN_THRESHOLD", "1.5", "SPAN_THRESHOLD must be auto or a score from 0 to 1"),
    ("SPAN_THRESHOLD", "nan", "SPAN_THRESHOLD must be auto or a score from 0 to 1"),
])
def test_bad_values_are_named(name, raw, message):
    with pytest.raises(ValueError, match=message):
        Settings.from_env({name: raw})


def test_precision_choices_are_the_engine_s():
    assert PRECISIONS == device.PRECISIONS


def test_precision_resolution_on_cpu():
    import torch

    cpu = torch.device("cpu")
    assert resolve_precision("fp32", cpu) == "fp32"
    speedup = device.bf16_speedup()
    assert resolve_precision("auto", cpu) == ("bf16" if speedup and speedup >= device.BF16_MARGIN else "fp32")
    assert device.describe_bf16().endswith(resolve_precision("auto", cpu))
    with pytest.raises(ValueError, match="precision"):
        resolve_precision("int3", cpu)


def test_bf16_probe_measures_without_moving_the_seed(monkeypatch):
    import torch

    monkeypatch.setattr(device, "_speedup", device._UNMEASURED)
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    speedup = device.bf16_speedup()
    assert torch.equal(torch.rand(3), expected)  # a training seeded before the probe draws the same
    assert speedup is None or speedup > 0
    monkeypatch.setattr(device, "_speedup", device._UNMEASURED)
    monkeypatch.setattr(device, "cpu_has_bf16_instructions", lambda: False)  # an AVX2-only CPU
    assert device.bf16_speedup() is None and not device.cpu_has_fast_bf16()
    assert resolve_precision("auto", torch.device("cpu")) == "fp32" and "fp32" in device.describe_bf16()


FORK_AFTER_PROBE = """
import os, sys, torch
from backend.ner import device
device.describe_device()  # as the worker starts: its first log line
speedup = device.bf16_speedup()
pid = os.fork()
if pid == 0:
    x = torch.randn(640, 384)
    os._exit(0 if float((x @ x.T).sum()) != 0 else 1)
print(speedup, os.waitpid(pid, 0)[1])
"""


def test_the_worker_measures_bf16_in_a_child_so_its_forks_can_train():
    """Measured in the worker's own process, the probe left an OpenMP pool that hung each forked job."""
    done = subprocess.run([sys.executable, "-c", FORK_AFTER_PROBE], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    speedup, status = done.stdout.split()
    assert status == "0", done.stderr
    assert speedup == "None" or float(speedup) > 0


def test_data_dir_holds_the_model_store_unless_model_dir_is_set():
    assert Settings.from_env({"DATA_DIR": "/srv/ner"}).model_dir == "/srv/ner/models"
    assert Settings.from_env({"DATA_DIR": "/srv/ner", "MODEL_DIR": "/efs/models"}).model_dir == "/efs/models"
    assert Settings().model_dir == "data/models"


def test_secrets_stay_out_of_the_settings_repr_and_are_taken_as_given():
    s = Settings.from_env({"BASIC_AUTH_USER": "ls", "BASIC_AUTH_PASS": " hunter2", "LABEL_STUDIO_API_KEY": "tok-123"})
    assert "hunter2" not in repr(s) and "tok-123" not in repr(s)
    assert s.basic_auth_pass == " hunter2"


def readme_table() -> dict[str, str | None]:
    """variable -> its default as README.md's configuration table writes it (None: no value)."""
    section = (ROOT / "README.md").read_text().split("\n## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        names = re.findall(r"`([A-Z0-9_]+)`", cells[0]) if line.startswith("| `") else []
        defaults = re.findall(r"`([^`]*)`", cells[1]) if len(cells) > 1 else []
        for i, name in enumerate(names):
            rows[name] = defaults[i] if len(defaults) >= len(names) else None
    return rows


def test_the_readme_lists_exactly_the_settings_with_their_defaults():
    table = readme_table()
    assert set(table) == {env_name(f.name) for f in fields(Settings)}
    for f in fields(Settings):
        shown = table[env_name(f.name)]
        if f.metadata["shown"]:
            assert shown == f.metadata["shown"], f.name
        elif f.default == "":
            assert shown is None, f"{f.name}: the README gives {shown!r}, the default is empty"
        else:
            assert shown is not None and type(f.default)(shown) == f.default, f"{f.name}: README {shown!r}, code {f.default!r}"
