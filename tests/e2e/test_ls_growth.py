"""What the backend writes into a real Label Studio 1.23 stays bounded: each push deletes the
predictions of versions older than the one a rollback returns to, and a rollback reaches LS.

The jobs run in this process (`train_project`, `push_predictions`, `cover_tasks`, as a worker runs
them), one-epoch trainings on 12 tasks, against a real LS, redis-server and model store."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import pytest

from backend.config import Settings
from backend.labelstudio.annotation import Annotation
from backend.state import connect
from tests.support.lsdata import GMB_CONFIG, text_and_regions
from tests.support.servers import ROOT

pytestmark = pytest.mark.slow  # a Label Studio and six trainings (~2 minutes)


def _predictions_per_task(client, tasks) -> Counter:
    return Counter({task: len(list(client.predictions.list(task=task))) for task in tasks})


def test_pushes_keep_two_predictions_per_task_and_a_rollback_reaches_label_studio(
        label_studio, gmb_train, redis_url, tmp_path, monkeypatch):
    from label_studio_sdk.client import LabelStudio as SDK

    from worker.jobs import cover_tasks, push_predictions, train_project

    env = {"REDIS_URL": redis_url, "MODEL_DIR": str(tmp_path / "models"), "TRAIN_EPOCHS": "1", "MAX_F1_DROP": "1",
           "LABEL_STUDIO_URL": label_studio.url, "LABEL_STUDIO_API_KEY": label_studio.token,
           "QUEUE_NAME": "ls-growth", "BOOTSTRAP_MODEL": ""}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    stores = connect(Settings.from_env())
    client = SDK(base_url=label_studio.url, api_key=label_studio.token)
    project = client.projects.create(title="ner growth", label_config=GMB_CONFIG).id
    sentences = gmb_train[100:172]  # 60 annotated over 5 rounds, 12 never
    client.projects.import_tasks(id=project, request=[{"text": text_and_regions(s)[0]} for s in sentences])
    tasks = sorted(t.id for t in client.tasks.list(project=project))
    p = str(project)
    stores.annotations.save_config(p, GMB_CONFIG)
    assert cover_tasks(p)["status"] == "done"  # the cold start writes one prediction per task

    versions = []
    for round_ in range(5):  # 12 more annotated tasks each round (stored as the webhooks store them)
        for task, sentence in list(zip(tasks, sentences))[12 * round_ : 12 * (round_ + 1)]:
            text, regions = text_and_regions(sentence)
            stores.annotations.upsert(p, Annotation(task, task, {"text": text}, regions))
        trained = train_project(p)
        assert trained["status"] == "promoted", trained
        pushed = push_predictions(p)  # the job the promotion asked for: the newest version
        assert pushed["status"] == "done" and pushed["version"] == trained["version"], pushed
        versions.append(trained["version"])
        per_task = _predictions_per_task(client, tasks)
        assert max(per_task.values()) <= 2, (round_, per_task)
    assert client.projects.get(id=project).model_version == versions[-1]
    held = client._client_wrapper.httpx_client.request(f"api/projects/{project}/model-versions/", method="GET").json()
    # the current version and the one a rollback returns to, on every task (LS saw no annotation:
    # they reached the store only): 144 rows, where 6 writes of 72 used to stay
    assert held == {versions[-1]: len(tasks), versions[-2]: len(tasks)}, held

    def rollback(*args):
        done = subprocess.run([sys.executable, "-m", "backend.cli", "rollback", "--project", p, *args], cwd=ROOT,
                              env={**env, "PATH": "/usr/bin:/bin"}, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout

    # the previous version's predictions are still in LS: selected at once
    assert "stored predictions again (selected)" in rollback()
    assert client.projects.get(id=project).model_version == versions[-2]
    # a version whose predictions were deleted: the worker's next push writes and selects it
    assert "from the worker's next push" in rollback("--to", versions[-3])
    pushed = push_predictions(p)
    assert pushed["status"] == "done" and pushed["version"] == versions[-3], pushed
    assert client.projects.get(id=project).model_version == versions[-3]
    assert max(_predictions_per_task(client, tasks).values()) <= 2
