"""Label Studio 1.23's own editor in a real Chromium: the regions it draws from our predictions
cover exactly the words we predicted, and a region made there with the mouse reaches /webhook with
offsets that cut the same word. Emoji, flags and ZWJ sequences before the entities are what made
UTF-16 offsets land one character to the right per emoji; Label Studio counts code points."""

from __future__ import annotations

import os
import shutil

import pytest
import redis

from backend.state.annotations import AnnotationStore
from tests.support.browser import chrome, highlights, label_with_mouse, log_in, open_task, submit
from tests.support.servers import Service, wait_until
from tests.support.lsdata import CONFIG

pytestmark = pytest.mark.slow

TEXTS = [
    "😀 Iraqi officials met 🇺🇸 U.S. envoys in 👩‍👩‍👧 Baghdad on Sunday and 🎉 flew to Tehran .",
    "Talks in Paris\r\nended .\r\n\r\n🇮🇶 Iraqi  officials\tmet in  Baghdad on Sunday .",
    "Jose\u0301 met 🇩🇪 Merkel in Bogota\u0301 on Monday .",
]
# (task index, label, word): regions an annotator adds with the mouse, after emoji and line breaks
MOUSE_REGIONS = [(0, "PER", "envoys"), (1, "PER", "officials")]


@pytest.fixture(scope="module")
def backend(trained_folder, redis_url, tmp_path_factory):
    logs = tmp_path_factory.mktemp("browser-backend")
    env = {"BOOTSTRAP_MODEL": str(trained_folder), "LABEL_MAP": "geo=LOC,gpe=LOC", "REDIS_URL": redis_url,
           "MODEL_DIR": str(logs / "models"), "MIN_ANNOTATIONS": "1000", "QUEUE_NAME": "browser-test"}
    svc = Service(env, log_path=logs / "backend.log")
    yield svc
    svc.stop()


@pytest.fixture(scope="module")
def project(label_studio, backend):
    """A project with TEXTS, our backend connected, and LS's stored predictions for every task."""
    ls = label_studio
    pid = ls.api("POST", "/api/projects", {"title": "browser", "label_config": CONFIG})["id"]
    ls.api("POST", f"/api/projects/{pid}/import", [{"text": t} for t in TEXTS])
    ls.api("POST", "/api/ml", {"project": pid, "url": backend.url, "title": "ner-backend", "is_interactive": False})
    ls.api("POST", f"/api/dm/actions?id=retrieve_tasks_predictions&project={pid}",
           {"selectedItems": {"all": True, "excluded": []}})
    reply = ls.api("GET", f"/api/tasks?project={pid}&page_size=100")
    tasks = sorted((t for t in (reply["tasks"] if isinstance(reply, dict) else reply)), key=lambda t: t["id"])
    assert [t["data"]["text"] for t in tasks] == TEXTS  # LS kept \r\n, tabs and combining marks
    predicted = {}
    for task in tasks:
        (prediction,) = ls.api("GET", f"/api/predictions?task={task['id']}")
        predicted[task["id"]] = [r["value"] for r in prediction["result"]]
    return pid, [t["id"] for t in tasks], predicted


@pytest.fixture(scope="module")
def browser(label_studio):
    driver = chrome()
    try:
        log_in(driver, label_studio)
        yield driver
    finally:
        driver.quit()


def test_the_editor_highlights_exactly_the_words_we_predicted(label_studio, project, browser, tmp_path_factory):
    pid, task_ids, predicted = project
    first = {v["text"] for v in predicted[task_ids[0]]}
    assert {"Baghdad", "Tehran"} <= first, f"the test model should find the places after the emoji: {first}"
    for task_id, text in zip(task_ids, TEXTS):
        values = predicted[task_id]
        shown = open_task(browser, label_studio, pid, task_id, len(values))
        # what the editor highlights, in its DOM, is the text each region says it covers ...
        drawn = sorted((h["text"], int(h["start"]), int(h["end"])) for h in shown)
        assert drawn == sorted((v["text"], v["start"], v["end"]) for v in values), text
        # ... and the same slice of the task's text in Python: offsets are code points
        for value in values:
            assert text[value["start"]:value["end"]] == value["text"]
        if task_id == task_ids[0]:
            shot = tmp_path_factory.mktemp("screens") / "labelstudio-preannotated.png"
            browser.save_screenshot(str(shot))
            if os.environ.get("BROWSER_SCREENSHOT"):  # how docs/ gets its picture
                shutil.copy(shot, os.environ["BROWSER_SCREENSHOT"])


@pytest.mark.parametrize("index, label, word", MOUSE_REGIONS)
def test_a_region_drawn_with_the_mouse_is_stored_cutting_the_same_word(label_studio, project, browser, redis_url,
                                                                      index, label, word):
    pid, task_ids, predicted = project
    task_id, text = task_ids[index], TEXTS[index]
    open_task(browser, label_studio, pid, task_id, len(predicted[task_id]))
    label_with_mouse(browser, label, word)
    wait_until(f"the editor to draw {word!r}", lambda: word in [h["text"] for h in highlights(browser)])
    submit(browser)
    store = AnnotationStore(redis.Redis.from_url(redis_url))

    def stored():
        return next((a for a in store.annotations(str(pid)) if a.task_id == task_id), None)

    annotation = wait_until(f"task {task_id}'s annotation to reach /webhook", stored)
    assert annotation.data["text"] == text
    values = [r["value"] for r in annotation.result]
    for value in values:
        assert text[value["start"]:value["end"]] == value["text"], (text, value)
    offered = sorted((v["start"], v["end"], v["labels"][0]) for v in predicted[task_id])
    mine = [v for v in values if (v["start"], v["end"], v["labels"][0]) not in offered]
    assert [(v["text"], v["start"], v["labels"]) for v in mine] == [(word, text.index(word), [label])]
    # the pre-annotations the annotator kept come back as they were sent
    assert sorted((v["start"], v["end"], v["labels"][0]) for v in values if v not in mine) == offered
