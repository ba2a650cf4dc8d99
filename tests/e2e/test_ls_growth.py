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
        label_studio, gmb_train, own_database, tmp_path, monkeypatch):
    from label_studio_sdk.client import LabelStudio as SDK

    from worker.jobs import cover_tasks, push_predictions, train_project

    # a Redis database of its own: LS's project ids (1, 2, ...) would meet other tests' projects
    env = {"REDIS_URL": own_database, "MODEL_DIR": str(tmp_path / "models"), "TRAIN_EPOCHS": "1",
           "MAX_F1_DROP": "1",
           "LABEL_STUDIO_URL": label_studio.url, "LABEL_STUDIO_API_KEY": label_studio.token,
           "QUEUE_NAME": "ls-growth", "BOOTSTRAP_MODEL": "", "ADAPT_STEPS": "3"}
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
    covered = cover_tasks(p)
    assert covered["status"] == "done"  # the cold start writes one prediction per task ...
    assert covered["adapted"]["texts"] == len(tasks)  # ... then adapts the encoder to the tasks, once
    assert "adapted" not in cover_tasks(p)

    versions = []
    for round_ in range(5):  # 12 more annotated tasks each round (stored as the webhooks store them)
        for task, sentence in list(zip(tasks, sentences))[12 * round_ : 12 * (round_ + 1)]:
            text, regions = text_and_regions(sentence)
            stores.annotations.upsert(p, Annotation(task, task, {"text": text}, regions))
        trained = train_project(p)
        assert trained["status"] == "promoted", trained
        if round_ == 0:  # from the encoder adapted to the project's texts
            assert stores.history.all(p)[-1].warm_start == "base, adapted to the project's texts"
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


SSRF_CHECK = """
import os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings.label_studio")
import django
django.setup()
from django.conf import settings
from core.utils.io import validate_upload_url
for url in sys.argv[1:]:
    try:
        validate_upload_url(url, block_local_urls=settings.ML_BLOCK_LOCAL_IP)
        print(url, "allowed")
    except Exception as exc:
        print(url, type(exc).__name__)
"""


@pytest.mark.parametrize("where", ["demo", "compose"])
def test_label_studio_may_call_the_backends_network_and_no_other_private_address(where, tmp_path):
    """LS 1.23's own URL check (what connecting an ML backend runs), under the environment the
    demo and compose give it: its SSRF protection stays on, one network excepted. IP literals only:
    nothing is resolved or contacted."""
    import yaml

    from backend.ops import lsdemo
    from tests.support.labelstudio import LS_VENV

    if where == "demo":
        env, allowed = lsdemo.ssrf_environment(lsdemo.LOCAL_BACKEND), "http://127.0.0.1:9090"
    else:
        compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
        env = {k: v for k, v in compose["services"]["label-studio"]["environment"].items() if "SUBNET" in k or
               k in ("SSRF_PROTECTION_ENABLED", "ML_BLOCK_LOCAL_IP")}
        allowed = "http://172.31.90.5:9090"
    package = next((LS_VENV / "lib").glob("python3*/site-packages/label_studio"))
    refused = ["http://169.254.169.254/", "http://10.1.2.3:9090", "http://192.168.1.1/",
               "http://127.0.0.1:9090" if where == "compose" else "http://172.31.90.5:9090"]
    done = subprocess.run([str(LS_VENV / "bin" / "python"), "-c", SSRF_CHECK, allowed, *refused],
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(package),
                               "LABEL_STUDIO_BASE_DATA_DIR": str(tmp_path), **env},
                          capture_output=True, text=True, timeout=120)
    verdicts = dict(line.split() for line in done.stdout.splitlines() if line.startswith("http"))
    assert verdicts == {allowed: "allowed", **{url: "SsrfBlockedUrlError" for url in refused}}, done.stderr[-2000:]


def test_a_resync_catches_a_missed_deletion_of_a_tasks_newest_annotation(label_studio, gmb_train, own_database,
                                                                         tmp_path):
    """Two annotators annotated a task; the newer annotation is deleted in LS and its webhook is
    lost. The task still has the older one, so the re-sync used to keep training on the deleted."""
    from label_studio_sdk.client import LabelStudio as SDK

    from worker.jobs.resync import resync_project

    stores = connect(Settings(redis_url=own_database, model_dir=str(tmp_path / "models")))
    client = SDK(base_url=label_studio.url, api_key=label_studio.token)
    project = client.projects.create(title="ner missed deletion", label_config=GMB_CONFIG).id
    text, regions = text_and_regions(gmb_train[5])
    client.projects.import_tasks(id=project, request=[{"text": text}])
    (task,) = [t.id for t in client.tasks.list(project=project)]
    older = client.annotations.create(id=task, result=regions)
    newer = client.annotations.create(id=task, result=[])
    p = str(project)
    for made in (older, newer):  # what their webhooks stored
        ann = client.annotations.get(id=made.id).model_dump()
        stores.annotations.upsert(p, Annotation.from_ls(task, made.id, {"text": text}, ann))
    assert [a.annotation_id for a in stores.annotations.annotations(p)] == [newer.id]
    client.annotations.delete(id=newer.id)  # its ANNOTATIONS_DELETED never arrives
    done = resync_project(stores.annotations, p, label_studio.url, label_studio.token)
    assert done.removed == 1
    (trained,) = stores.annotations.annotations(p)
    assert trained.annotation_id == older.id and trained.result
