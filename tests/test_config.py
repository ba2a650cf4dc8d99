import pytest

from backend.config import Settings
from backend.ner.device import resolve_precision


def test_defaults_and_overrides():
    assert Settings.from_env({}) == Settings()
    s = Settings.from_env({"BASE_MODEL": " /models/bert ", "PRECISION": "FP32", "MAX_LENGTH": "128"})
    assert (s.base_model, s.precision, s.max_length) == ("/models/bert", "fp32", 128)


def test_bad_integers_are_named():
    with pytest.raises(ValueError, match="WINDOW_STRIDE"):
        Settings.from_env({"WINDOW_STRIDE": "many"})


def test_precision_resolution_on_cpu():
    import torch

    cpu = torch.device("cpu")
    assert resolve_precision("fp32", cpu) == "fp32"
    assert resolve_precision("auto", cpu) in ("fp32", "bf16")
    with pytest.raises(ValueError, match="precision"):
        resolve_precision("int3", cpu)


def test_data_dir_holds_the_model_store_unless_model_dir_is_set():
    assert Settings.from_env({"DATA_DIR": "/srv/ner"}).model_dir == "/srv/ner/models"
    assert Settings.from_env({"DATA_DIR": "/srv/ner", "MODEL_DIR": "/efs/models"}).model_dir == "/efs/models"


def test_secrets_stay_out_of_the_settings_repr():
    s = Settings.from_env({"BASIC_AUTH_PASS": "hunter2", "LABEL_STUDIO_API_KEY": "tok-123"})
    assert "hunter2" not in repr(s) and "tok-123" not in repr(s)
