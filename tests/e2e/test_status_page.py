"""The status page in a real browser, for a project with trainings, a push and a failure: at a glance
it says whether the project learns, what its pre-annotations save, and what is stuck or failing."""

from __future__ import annotations

import os
import shutil
import threading

import pytest
from werkzeug.serving import make_server

from backend.state.history import PushStatus, Training, TrainingStatus
from tests.support.browser import chrome

pytestmark = pytest.mark.slow  # a browser


def region(start: int, end: int, label: str, score: float | None = None) -> dict:
    out = {"from_name": "label", "to_name": "text", "type": "labels",
           "value": {"start": start, "end": end, "labels": [label]}}
    return out if score is None else {**out, "score": score}


@pytest.fixture()
def page_url(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()
    thread.join(timeout=10)


def test_a_team_lead_reads_learning_savings_and_failures_at_a_glance(app, page_url, trained_folder, tmp_path, project):
    stores = app.extensions["ner"].stores
    history, quality = stores.history, stores.quality
    current, path = stores.registry.new_version(project)
    shutil.copytree(trained_folder, path)
    stores.registry.promote(project, current)
    for n, (version, tasks, f1) in enumerate([("v0-20261205T100000", 20, 0.41), (current, 50, 0.58)], 1):
        record = Training(f"job-{n}", status=TrainingStatus.PROMOTED, version=version,
                          annotations=tasks, dev={"f1": f1, "support": 60}, threshold=0.9, duration_s=48.0,
                          push={"status": PushStatus.DONE if n == 1 else PushStatus.RUNNING, "tasks": 400,
                                "pushed": 400 if n == 1 else 100})
        history.save(project, record)
    history.save(project, Training("job-3", status=TrainingStatus.FAILED, annotations=60,
                                   error="MemoryError: the training ran out of memory"))
    shown = [region(0, 5, "PER", 0.97), region(9, 14, "LOC", 0.91), region(30, 35, "GPE", 0.95)]
    for task in range(1, 31):  # the current version's spans: two kept, one deleted; one created
        quality.record_served(project, current, {task: shown})
        quality.record_annotation(project, task, 700 + task, [region(0, 5, "PER"), region(30, 35, "GPE"), region(20, 26, "ORG")])
    browser = chrome()
    try:
        browser.get(page_url)
        glance = [e.text for e in browser.find_elements("css selector", ".project .glance div")]
        text = browser.find_element("css selector", "body").text
        shot = tmp_path / "status-page.png"
        browser.save_screenshot(str(shot))
        if os.environ.get("STATUS_SCREENSHOT"):  # how the README gets its picture
            shutil.copy(shot, os.environ["STATUS_SCREENSHOT"])
    finally:
        browser.quit()
    mine = next(g for g in zip(*[iter(glance)] * 3) if "0.41 -> 0.58" in g[0])
    assert "dev F1 0.41 -> 0.58 from 20 to 50 tasks (2 versions)" in mine[0]
    assert f"save 33% of the edits ({current}, 30 tasks)" in mine[1]  # 2 edits where 3 spans were to draw
    assert f"push of {current} running: 100 of 400 tasks" in mine[2]
    assert "the last training failed: MemoryError: the training ran out of memory" in mine[2]
    assert "MemoryError: the training ran out of memory" in text and f"Project {project}" in text
    assert "Spans served: spans scored 0.93 or more now" in text  # the deleted spans scored 0.91
    assert shot.stat().st_size > 10_000
