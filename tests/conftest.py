"""Shared fixtures: the packaged MiniLM, the data shipped in tests/data, and one small trained model."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def tokenizer():
    from backend.ner.basemodel import load_tokenizer

    return load_tokenizer(None)


@pytest.fixture(scope="session")
def gmb_train():
    from backend.ner.readers import read_corpus

    return read_corpus(DATA / "gmb_train.csv")


@pytest.fixture(scope="session")
def gmb_eval():
    from backend.ner.readers import read_corpus

    return read_corpus(DATA / "gmb_eval.csv")


@pytest.fixture(scope="session")
def trained(gmb_train):
    """MiniLM fine-tuned for 5 epochs on the 303 shipped GMB sentences (about 70 s on 2 cores)."""
    from worker.training import TrainConfig, fine_tune

    return fine_tune(gmb_train, TrainConfig(epochs=5, learning_rate=3e-4, seed=7), progress=False)


@pytest.fixture(scope="session")
def trained_folder(trained, tmp_path_factory) -> Path:
    from backend.ner.checkpoint import save_model

    out = tmp_path_factory.mktemp("models") / "gmb-small"
    return save_model(trained.model, trained.tokenizer, trained.labels, {"note": "test fixture"}, out, trained.transitions)


@pytest.fixture(scope="session")
def predictor(trained):
    from backend.ner.predictor import Predictor

    return Predictor(trained.model, trained.tokenizer, trained.labels, precision="fp32", transitions=trained.transitions)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """The product's embedded redis-server (AOF, fsync per write) on a free loopback port (never 6379)."""
    from backend.stack import StackError, start_redis, wait_for_redis
    from tests.servers import free_port

    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    try:
        proc = start_redis(tmp_path_factory.mktemp("redis"), port).proc
        wait_for_redis(url, proc)
    except StackError as exc:
        pytest.fail(str(exc))
    yield url
    proc.terminate()
    proc.wait(timeout=10)
