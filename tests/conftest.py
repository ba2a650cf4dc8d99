"""Shared fixtures: the packaged MiniLM, the data shipped in tests/data, one small trained model, a
real Redis and its stores, the Flask app, and Label Studio.

Tiers, by folder: unit/ (no trained model, no Redis), integration/ (the small model, Redis, Flask's
test client, the CLI), e2e/ (gunicorn, RQ workers, Label Studio, the browser)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Callable

import pytest

from tests.support.strays import kill_strays, mark_session

DATA = Path(__file__).parent / "data"


def pytest_configure(config):
    mark_session()


@pytest.fixture(scope="module", autouse=True)
def nothing_outlives_its_module(request):
    """Kills, and warns of, any ner-backend process a module left running (its module-scoped
    services are stopped by then), so that one leak cannot slow every test after it."""
    yield
    left = kill_strays()
    if left:
        warnings.warn(f"{request.module.__name__} left {len(left)} ner-backend process(es) running, killed: "
                      + "; ".join(f"{pid} {command[:120]}" for pid, command in left.items()), stacklevel=1)


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
    from worker.training.loop import TrainConfig, fine_tune

    return fine_tune(gmb_train, TrainConfig(epochs=5, learning_rate=3e-4, seed=7), progress=False)


@pytest.fixture(scope="session")
def trained_folder(trained, tmp_path_factory) -> Path:
    from backend.ner.checkpoint import save_model

    out = tmp_path_factory.mktemp("models") / "gmb-small"
    return save_model(trained.ner, {"note": "test fixture"}, out)


@pytest.fixture(scope="session")
def predictor(trained):
    from backend.ner.predictor import Predictor

    return Predictor(trained.ner, precision="fp32")


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """The product's embedded redis-server (AOF, fsync per write) on a free loopback port (never 6379)."""
    from backend.ops.processes import StackError, free_port, start_redis, wait_for_redis

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


_FREE_DATABASES = set(range(1, 16))  # redis-server's databases besides 0, which the shared fixtures use


@pytest.fixture()
def own_database(redis_url):
    """A Redis database no other running test uses, empty (for a test that counts every key or
    project in it, or flushes it), as a URL on the session's redis-server; emptied and freed after."""
    import redis

    if not _FREE_DATABASES:
        pytest.fail("more tests at once want a database of their own than redis-server has (15)")
    number = min(_FREE_DATABASES)
    _FREE_DATABASES.discard(number)
    url = redis_url.rsplit("/", 1)[0] + f"/{number}"
    redis.Redis.from_url(url).flushdb()
    yield url
    redis.Redis.from_url(url).flushdb()
    _FREE_DATABASES.add(number)


@pytest.fixture()
def new_project() -> Callable[[], str]:
    """Makes project ids no other test of the session has had (tests/support/projects.py)."""
    from tests.support.projects import fresh_project_id

    return fresh_project_id


@pytest.fixture()
def project(new_project) -> str:
    """A project id of this test's own (`new_project` makes more)."""
    return new_project()


@pytest.fixture()
def stores(redis_url, tmp_path):
    """The stores over the session's Redis (what the `app` fixture uses too), models under tmp_path."""
    from backend.config import Settings
    from backend.state import connect

    return connect(Settings(redis_url=redis_url, model_dir=str(tmp_path / "models")))


@pytest.fixture(scope="session")
def label_studio(tmp_path_factory):
    """A real Label Studio 1.23 on loopback, shared by the end-to-end and browser tests."""
    from tests.support.labelstudio import LabelStudio

    root = tmp_path_factory.mktemp("labelstudio")
    ls = LabelStudio(root, root / "labelstudio.log")
    yield ls
    ls.stop()


@pytest.fixture(scope="session")
def app(trained_folder, redis_url, tmp_path_factory):
    """The Flask app itself (no gunicorn), as a serving process runs it (bootstrap model loaded,
    registry watcher started): real Redis, the small trained model as bootstrap."""
    from backend.web.app import create_app, start_serving
    from backend.config import Settings

    settings = Settings(redis_url=redis_url, model_dir=str(tmp_path_factory.mktemp("app-models")),
                        bootstrap_model=str(trained_folder), label_map="geo=LOC,gpe=LOC")
    application = start_serving(create_app(settings))
    yield application
    application.extensions["ner"].server.stop_watching()


@pytest.fixture()
def client(app):
    return app.test_client()
