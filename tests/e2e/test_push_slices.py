"""A push to a real Label Studio 1.23 never holds a training back for longer than one slice: each
push job writes PUSH_SLICE tasks and enqueues the rest behind any waiting training, and a push
of a version that no longer serves stops at its next slice.

The first training and the push's first slice run in this process; the rest runs in a real
`ner-backend worker --burst`, against a real LS, redis-server and model store."""

from __future__ import annotations

import subprocess
import sys

import pytest
from rq.job import Job

from backend.config import Settings
from backend.labelstudio.annotation import Annotation
from backend.state import connect
from tests.support.lsdata import GMB_CONFIG, text_and_regions
from tests.support.servers import ROOT

pytestmark = pytest.mark.slow  # a Label Studio, two trainings and a worker (~1 minute)


def test_a_training_waits_for_one_push_slice_not_the_whole_push(label_studio, gmb_train, own_database, tmp_path,
                                                                  monkeypatch):
    from label_studio_sdk.client import LabelStudio as SDK

    from worker.jobs import push_predictions, train_project

    # a Redis database of its own: LS's project ids (1, 2, ...) would meet other tests' projects
    env = {"REDIS_URL": own_database, "MODEL_DIR": str(tmp_path / "models"), "TRAIN_EPOCHS": "1",
           "MAX_F1_DROP": "1", "LABEL_STUDIO_URL": label_studio.url, "LABEL_STUDIO_API_KEY": label_studio.token,
           "QUEUE_NAME": "push-slices", "BOOTSTRAP_MODEL": "", "ADAPT_STEPS": "0", "PUSH_SLICE": "25",
           "PUSH_INTERVAL_S": "0"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    stores = connect(Settings.from_env())
    client = SDK(base_url=label_studio.url, api_key=label_studio.token)
    project = client.projects.create(title="ner push slices", label_config=GMB_CONFIG).id
    sentences = gmb_train[200:272]
    client.projects.import_tasks(id=project, request=[{"text": text_and_regions(s)[0]} for s in sentences])
    tasks = sorted(t.id for t in client.tasks.list(project=project))
    p = str(project)
    stores.annotations.save_config(p, GMB_CONFIG)

    def annotate(first: int, count: int) -> None:  # stored as the webhooks store them (LS sees none)
        for task, sentence in list(zip(tasks, sentences))[first:first + count]:
            text, regions = text_and_regions(sentence)
            stores.annotations.upsert(p, Annotation(task, task, {"text": text}, regions))

    annotate(0, 12)
    first = train_project(p)  # promotes v1 and asks for its push
    assert first["status"] == "promoted", first
    sliced = push_predictions(p)  # the push's first job: 25 of the 72 unlabelled tasks, then the rest enqueued
    assert sliced["status"] == "running" and (sliced["tasks"], sliced["pushed"]) == (25, 25), sliced
    annotate(12, 12)
    training = stores.queue.request(p).job_id  # a training asked for while the push is under way

    done = subprocess.run([sys.executable, "-m", "backend.cli", "worker", "--burst"], cwd=ROOT,
                          env={**env, "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    rest = Job.fetch(sliced["next"], connection=stores.client)
    trained = Job.fetch(training, connection=stores.client)
    assert trained.get_status() == "finished" and trained.started_at < rest.started_at  # the training went first

    records = {r.version: r for r in stores.history.all(p) if r.version}
    second = trained.return_value()["version"]
    # v1's push stopped at its next slice: v2 served by then, and v2's own push wrote every task
    assert records[first["version"]].push["status"] == "stale" and second in records[first["version"]].push["error"]
    assert records[second].push["status"] == "done" and records[second].push["pushed"] == len(tasks), records[second].push
    assert client.projects.get(id=project).model_version == second
    held = client._client_wrapper.httpx_client.request(f"api/projects/{project}/model-versions/", method="GET").json()
    assert held[second] == len(tasks)
