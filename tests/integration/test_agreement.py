"""Two annotators on the same tasks: the training reads how far they agree (the worker's job
in-process on a real redis-server) and the status page says it."""

from __future__ import annotations

from backend.labelstudio.annotation import Annotation, result_spans
from backend.ner.readers import text_and_regions


def test_a_training_reads_how_far_two_annotators_agree_and_the_status_page_says_it(
        app, client, gmb_train, redis_url, monkeypatch, project):
    from worker.jobs import train_project

    ours = app.extensions["ner"]
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("MODEL_DIR", ours.settings.model_dir)  # the app's store: its status page lists the version
    monkeypatch.setenv("TRAIN_EPOCHS", "1")
    store = ours.stores.annotations
    regions = [text_and_regions(s) for s in gmb_train if set(s.tags) != {"O"}][:12]
    for task, (text, result) in enumerate(regions, start=1):
        store.upsert(project, Annotation(task, task, {"text": text}, result, completed_by=1,
                                         updated_at="2026-12-06T10:00:00Z"))
    second = [(text, result if task < 4 else result[1:]) for task, (text, result) in enumerate(regions[:4], start=1)]
    for task, (text, result) in enumerate(second, start=1):  # a second person, later: one span fewer on task 4
        store.upsert(project, Annotation(task, 100 + task, {"text": text}, result,
                                         completed_by={"id": 7, "email": "b@example.org"},
                                         updated_at="2026-12-06T11:00:00Z"))
    assert len(store.others(project)) == 4  # the first person's, kept beside the newest

    assert train_project(project)["status"] == "promoted"
    (record,) = ours.stores.history.all(project)
    mine = [len(result_spans(result)) for _, result in regions[:4]]
    matched, spans = sum(mine) - 1, 2 * sum(mine) - 1
    assert record.agreement == [
        {"annotators": ["1", "b@example.org"], "tasks": 4, "f1": round(2 * matched / spans, 4)}]
    page = client.get("/").get_data(as_text=True)
    assert f"Annotators: 1 and b@example.org agree at span F1 {2 * matched / spans:.2f} over 4 tasks both annotated" in page
