"""What pre-annotations save: served predictions compared with the annotations that follow, per
version and label, through /predict, /webhook, GET /projects/<id>/quality, the status page and /metrics."""

from __future__ import annotations

import redis

from backend.labelstudio import bodies
from backend.labelstudio.annotation import Annotation
from backend.ner.effort import edits, effort
from backend.state.keys import ProjectKeys
from backend.state.quality import QualityLog, summarise, version_order
from tests.support.lsdata import CONFIG, ls_predict_body

TEXT = "Iraqi officials met U.S. envoys in Baghdad on Sunday while Bush flew to London ."


def region(start: int, end: int, label: str, text: str = TEXT) -> dict:
    return {"from_name": "label", "to_name": "text", "type": "labels",
            "value": {"start": start, "end": end, "text": text[start:end], "labels": [label]}}


def webhook(project: int, task: int, ann_id: int, result: list, action=bodies.CREATED, when="2026-11-27T10:00:00Z"):
    return bodies.annotation_event(project, task, TEXT, result, ann_id=ann_id, when=when, action=action, config=CONFIG)


def test_edits_pair_each_span_once():
    predicted = [(0, 5, "PER"), (10, 15, "LOC"), (20, 25, "ORG"), (20, 25, "ORG")]
    final = [(0, 5, "PER"), (10, 15, "ORG"), (30, 35, "LOC"), (20, 25, "ORG")]
    done = edits(predicted, final)
    assert done.kept == [(0, 5, "PER"), (20, 25, "ORG")]
    assert done.relabelled == [((10, 15, "LOC"), (10, 15, "ORG"))]
    assert done.deleted == [(20, 25, "ORG")] and done.created == [(30, 35, "LOC")]
    assert effort(predicted, final).edits == 3


def test_figures_per_version_and_label_for_kept_fixed_and_deleted_spans():
    outcomes = [
        # keeps PER, relabels LOC -> ORG, deletes ORG, creates LOC
        {"version": "v2-x", "predicted": [[0, 5, "PER"], [10, 15, "LOC"], [20, 25, "ORG"]],
         "final": [[0, 5, "PER"], [10, 15, "ORG"], [30, 35, "LOC"]]},
        {"version": "v2-x", "predicted": [[0, 4, "LOC"]], "final": [[0, 4, "LOC"]]},  # all kept
        {"version": "v10-y", "predicted": [[3, 9, "PER"]], "final": []},  # the one span deleted
    ]
    figures = summarise(outcomes)
    v2 = figures["v2-x"].to_dict()
    assert (v2["tasks"], v2["predicted_spans"], v2["kept_spans"], v2["final_spans"]) == (2, 4, 2, 4)
    assert (v2["deletes"], v2["creates"], v2["relabels"], v2["edits"]) == (1, 1, 1, 3)
    assert (v2["kept_share"], v2["preannotated_share"], v2["effort_saved"]) == (0.5, 0.5, 0.25)
    per = v2["labels"]
    assert per["PER"] == {"predicted_spans": 1, "kept_spans": 1, "final_spans": 1, "kept_share": 1.0,
                          "preannotated_share": 1.0, "edits": 0, "deletes": 0, "creates": 0, "relabels": 0,
                          "effort_saved": 1.0}
    # LOC: two predicted (one kept, one relabelled away: that counts for ORG), one created
    assert (per["LOC"]["predicted_spans"], per["LOC"]["kept_spans"], per["LOC"]["final_spans"]) == (2, 1, 2)
    assert (per["LOC"]["deletes"], per["LOC"]["creates"], per["LOC"]["relabels"]) == (0, 1, 0)
    assert per["LOC"]["effort_saved"] == 0.5
    # ORG: the predicted one deleted; the final one came from a relabelled LOC
    assert (per["ORG"]["predicted_spans"], per["ORG"]["kept_spans"], per["ORG"]["final_spans"]) == (1, 0, 1)
    assert (per["ORG"]["deletes"], per["ORG"]["relabels"], per["ORG"]["effort_saved"]) == (1, 1, -1.0)
    v10 = figures["v10-y"].to_dict()
    assert (v10["kept_share"], v10["preannotated_share"], v10["effort_saved"], v10["edits"]) == (0.0, None, None, 1)
    assert sorted(figures, key=version_order) == ["v2-x", "v10-y"]


def test_served_predictions_are_bounded_per_project(redis_url, project):
    log = QualityLog(redis.Redis.from_url(redis_url), kept=3)
    for task in range(1, 6):
        log.record_served(project, "v1-a", {task: [region(0, 5, "LOC")]})
    assert not log.record_annotation(project, 1, 10, [])  # fell out of the window: not compared
    assert log.record_annotation(project, 5, 50, [region(0, 5, "LOC")])
    assert log.summary(project)["v1-a"]["kept_spans"] == 1


def test_quality_endpoint_follows_annotations_that_keep_fix_and_delete_predictions(client, app, project):
    assert client.post("/setup", json={"project": f"{project}.1", "schema": CONFIG}).status_code == 200
    reply = client.post("/predict", json=ls_predict_body([{"text": TEXT}, {"text": TEXT}], project=f"{project}.1"))
    assert reply.status_code == 200
    assert app.extensions["ner"].served.flush()  # recorded off the request path: wait for the write
    version = reply.get_json()["model_version"]
    shown = [(r["value"]["start"], r["value"]["end"], r["value"]["labels"][0]) for r in reply.get_json()["results"][0]["result"]]
    assert len(shown) >= 3, f"the fixture model should find 3+ entities in {TEXT!r}: {shown}"
    (s0, e0, l0), (s1, e1, l1) = shown[0], shown[1]
    other = "PER" if l1 != "PER" else "LOC"
    new = TEXT.index("officials")
    assert all(not (s <= new < e) for s, e, _ in shown)
    # task 1: keep the first span, relabel the second, delete the rest, add one the model missed
    fixed = [region(s0, e0, l0), region(s1, e1, other), region(new, new + len("officials"), "PER")]
    assert client.post("/webhook", json=webhook(project, 1, 101, fixed)).status_code == 200
    # task 2: accepted as predicted
    kept = [region(s, e, lab) for s, e, lab in shown]
    assert client.post("/webhook", json=webhook(project, 2, 102, kept)).status_code == 200

    figures = client.get(f"/projects/{project}/quality").get_json()["versions"][version]
    n = len(shown)
    counts = (figures["tasks"], figures["predicted_spans"], figures["kept_spans"], figures["final_spans"])
    assert counts == (2, 2 * n, n + 1, n + 3)
    assert (figures["deletes"], figures["creates"], figures["relabels"]) == (n - 2, 1, 1)
    assert figures["effort_saved"] == round(1 - n / (n + 3), 4)
    assert figures["kept_share"] == round((n + 1) / (2 * n), 4)
    assert figures["labels"][other]["relabels"] == 1

    # task 2 updated: every span deleted after all. It replaces, not adds to, that task's figures.
    later = webhook(project, 2, 102, [], action="ANNOTATION_UPDATED", when="2026-11-27T11:00:00Z")
    assert client.post("/webhook", json=later).status_code == 200
    figures = client.get(f"/projects/{project}/quality").get_json()["versions"][version]
    assert (figures["tasks"], figures["kept_spans"], figures["final_spans"], figures["deletes"]) == (2, 1, 3, 2 * n - 2)

    page = client.get("/").get_data(as_text=True)
    assert f"Project {project}" in page and "What pre-annotations saved" in page and version in page
    scrape = client.get("/metrics").get_data(as_text=True)
    saved = round(1 - (2 * n) / 3, 4)
    line = f'ner_preannotation_effort_saved_ratio{{label="all",project="{project}",version="{version}"}} {saved}'
    assert line in scrape, "\n".join(x for x in scrape.splitlines() if "preannotation_effort" in x)

    # task 1's annotation deleted in LS: only task 2 is left
    deleted = bodies.deleted_event(project, [101])
    assert client.post("/webhook", json=deleted).status_code == 200
    figures = client.get(f"/projects/{project}/quality").get_json()["versions"][version]
    assert (figures["tasks"], figures["predicted_spans"], figures["final_spans"]) == (1, n, 0)


def test_quality_of_an_unknown_project_is_empty_and_a_bad_id_is_a_400(client):
    assert client.get("/projects/424242/quality").get_json()["versions"] == {}
    reply = client.get("/projects/abc/quality")
    assert reply.status_code == 400 and "error" in reply.get_json()


def test_figures_summed_as_outcomes_arrive_match_the_outcomes_and_outlive_old_versions(redis_url, monkeypatch,
                                                                                       project):
    """Each annotation's comparison is added when it arrives, replaced when it changes and taken
    away when it goes; the sums equal what the stored outcomes say, and only the newest versions
    keep figures."""
    import random

    from backend.state import quality

    monkeypatch.setattr(quality, "VERSIONS_KEPT", 3)
    log = QualityLog(redis.Redis.from_url(redis_url))
    rng = random.Random(5)
    labels = ["LOC", "PER", "ORG"]

    def spans():
        return [region(s, s + 4, rng.choice(labels)) for s in rng.sample(range(0, 60, 5), rng.randint(0, 4))]

    for step in range(200):
        task = rng.randint(1, 40)
        if step % 7 == 6:
            log.forget(project, [1000 + task])
            continue
        log.record_served(project, f"v{1 + step // 50}-x", {task: spans()})
        log.record_annotation(project, task, 1000 + task, spans())
    summed = summarise(log.outcomes(project))
    expected = {v: summed[v].to_dict() for v in sorted(summed, key=version_order) if version_order(v)[0] >= 2}
    assert log.summary(project) == expected and list(expected) == ["v2-x", "v3-x", "v4-x"]
    assert log.newest([project]) == {project: ("v4-x", expected["v4-x"])}


def test_a_new_versions_evidence_sums_the_newest_versions_until_it_suffices(redis_url, project):
    """Versions served 10 tasks each, a span shown and a right one hidden per task: no version alone
    can lower the floor, the newest three together do, and older ones are not read."""
    from backend.ner import floor

    log = QualityLog(redis.Redis.from_url(redis_url))
    shown, hidden = region(0, 5, "LOC") | {"score": 0.95}, region(20, 24, "PER") | {"score": 0.6}
    for n in range(1, 6):
        for task in range(10 * n, 10 * n + 10):
            log.record_served(project, f"v{n}-x", {task: [shown]}, {task: [hidden]})
            log.record_annotation(project, task, 1000 + task, [region(0, 5, "LOC"), region(20, 24, "PER")])
    chosen = log.evidence(project)
    assert (chosen.version, chosen.older, chosen.tasks, chosen.gold) == ("v5-x", 2, 30, 60)
    assert chosen.saved_as_served == 0.5 and chosen.floor == floor.EVERY and chosen.carries_over(0.9)
    assert log.evidence(project + "0") is None  # a project nobody annotated


def test_a_training_pools_the_edits_of_versions_scored_as_it_serves_only(stores, project):
    """SPAN_SCORE changed after three versions: the worker pools the newest versions whose label map
    records the score it serves with, so floors in the old score's units never choose the new one's."""
    import json

    from worker.jobs.train import _live_evidence

    shown, hidden = region(0, 5, "LOC") | {"score": 0.95}, region(20, 24, "PER") | {"score": 0.6}
    versions = [f"v{n}-20261207T10000{n}" for n in range(1, 6)]
    for n, version in enumerate(versions, 1):
        folder = stores.registry.path(project, version)
        folder.mkdir(parents=True)
        scored = {} if n <= 3 else {"span_score": "boundaries"}  # v1-v3 from before the change: by chance
        (folder / "labels.json").write_text(json.dumps({"labels": ["O", "B-LOC", "I-LOC"], **scored}))
        for task in range(10 * n, 10 * n + 10):
            stores.quality.record_served(project, version, {task: [shown]}, {task: [hidden]})
            stores.quality.record_annotation(project, task, 1000 + task, [region(0, 5, "LOC"), region(20, 24, "PER")])
    boundaries, chance = (_live_evidence(project, stores, score) for score in ("boundaries", "chance"))
    assert (boundaries.version, boundaries.older, boundaries.tasks) == (versions[4], 1, 20)  # v5 and v4 alone
    assert (chance.version, chance.older, chance.tasks) == (versions[2], 2, 30)  # v3, v2 and v1
    assert stores.quality.evidence(project).version == versions[4]  # everything pooled, the newest first
    for folder in stores.registry.project_dir(project).iterdir():
        (folder / "labels.json").unlink()  # retired: no version's score is known
    assert _live_evidence(project, stores, "chance") is None


def test_outcomes_stored_before_figures_were_summed_are_summed_once(redis_url, project):
    import json

    from backend.state.keys import ProjectKeys

    client = redis.Redis.from_url(redis_url)
    old = {"task": 1, "version": "v1-a", "predicted": [[0, 5, "LOC"]], "final": [[0, 5, "LOC"], [6, 9, "PER"]]}
    client.hset(ProjectKeys(project).outcomes, "7", json.dumps(old))  # what an older release stored
    log = QualityLog(client)
    figures = log.summary(project)["v1-a"]
    assert (figures["tasks"], figures["kept_spans"], figures["creates"]) == (1, 1, 1)
    assert log.summary(project) == {"v1-a": figures}  # not summed twice


def test_a_metrics_scrape_reads_no_outcome(client, app, project):
    """/metrics and the status page read each version's sums, never every outcome: a scrape stays
    as fast with 200,000 outcomes as with 20 (bench/metrics_scrape.py times it)."""
    stores = app.extensions["ner"].stores

    def hvals_calls() -> int:
        return int(stores.client.info("commandstats").get("cmdstat_hvals", {}).get("calls", 0))

    log = stores.quality
    log.record_served(project, "v1-a", {1: [region(0, 5, "LOC")]})
    assert log.record_annotation(project, 1, 11, [region(0, 5, "LOC")])
    stores.annotations.upsert(project, Annotation(1, 11, {"text": TEXT}, [region(0, 5, "LOC")]))
    client.get("/metrics")  # every project's figures summed once already
    before = hvals_calls()
    scrape = client.get("/metrics").get_data(as_text=True)
    assert f'ner_preannotation_tasks{{project="{project}",version="v1-a"}} 1.0' in scrape
    assert client.get("/").status_code == 200
    assert hvals_calls() == before


def test_the_status_page_says_which_spans_are_served_and_why(client, app, trained_folder, project):
    import shutil

    from backend.ner import floor

    ours = app.extensions["ner"]
    stores, server = ours.stores, ours.server
    version, path = stores.registry.new_version(project)
    shutil.copytree(trained_folder, path)
    stores.registry.promote(project, version)
    server.for_project(project, wait=30)
    page = client.get("/").get_data(as_text=True)
    assert "Spans served: every span" in page and f"{version}: 0 annotated tasks" in page
    shown = [dict(region(0, 5, "LOC"), score=0.96), dict(region(20, 24, "LOC"), score=0.91)]
    for task in range(1, floor.MIN_TASKS + 4):  # the 0.91 span deleted each time, one span created
        stores.quality.record_served(project, version, {task: shown})
        stores.quality.record_annotation(project, task, 500 + task, [region(0, 5, "LOC"), region(35, 42, "LOC")])
    server.refresh()
    assert server.serving(project).predictor.floor == 0.93
    page = client.get("/").get_data(as_text=True)
    assert "spans scored 0.93 or more now" in page and "saved 0% of the edits" in page
    assert "would have saved 50%" in page


def test_spans_a_version_tagged_and_did_not_show_can_lower_what_it_serves(client, app, trained_folder, gmb_eval,
                                                                           project, tmp_path):
    """A version serving nothing (its threshold above every score) still records what it tagged; when
    the annotators then mark exactly those spans, the evidence says to show them, and it does."""
    import json
    import shutil

    from backend.ner import floor

    ours = app.extensions["ner"]
    stores, server = ours.stores, ours.server
    version, path = stores.registry.new_version(project)
    shutil.copytree(trained_folder, path)
    labels = json.loads((path / "labels.json").read_text())
    (path / "labels.json").write_text(json.dumps({**labels, "span_threshold": floor.NONE}))
    stores.registry.promote(project, version)
    server.for_project(project, wait=30)
    assert client.post("/setup", json={"project": project, "schema": CONFIG}).status_code == 200  # admitted
    texts = [" ".join(s.words) for s in gmb_eval[:40]]
    tasks = [{"id": 700 + i, "data": {"text": t}} for i, t in enumerate(texts)]
    body = bodies.predict_body([t["data"] for t in tasks], project=project, config=CONFIG, first_id=700)
    assert all(not r["result"] for r in client.post("/predict", json=body).get_json()["results"])
    assert ours.served.flush()

    tagged = {}  # what the version tagged, as the quality log recorded it
    for task in tasks:
        raw = stores.quality.r.hget(ProjectKeys(project).served, str(task["id"]))
        tagged[task["id"]] = json.loads(raw).get("hidden", []) if raw else []
    annotated = [(t, spans) for t, spans in tagged.items() if spans]
    assert sum(len(s) for _, s in annotated) >= floor.MIN_GOLD and len(annotated) >= floor.MIN_TASKS
    for n, (task, spans) in enumerate(annotated):
        text = texts[task - 700]
        result = [region(s, e, label, text) for s, e, label, _ in spans]
        event = bodies.annotation_event(project, task, text, result, ann_id=900 + n, config=CONFIG)
        assert client.post("/webhook", json=event).status_code == 200

    chosen = stores.quality.floors({project: version})[project]
    assert chosen.saved_as_served == 0.0 and chosen.floor == floor.EVERY and chosen.saved_at_floor == 1.0
    server.refresh()
    assert server.serving(project).predictor.floor == floor.EVERY
    again = client.post("/predict", json=body).get_json()["results"]
    shown = {t["id"]: [(r["value"]["start"], r["value"]["end"], r["value"]["labels"][0]) for r in res["result"]]
             for t, res in zip(tasks, again)}
    assert all(shown[t] == [tuple(s[:3]) for s in spans] for t, spans in annotated)
    page = client.get("/").get_data(as_text=True)
    assert "showing every span would have saved 100%" in page


def test_each_annotator_against_the_model_follows_their_annotations_and_the_status_page_says_it(
        client, app, trained_folder, project):
    import shutil

    ours = app.extensions["ner"]
    stores = ours.stores
    version, path = stores.registry.new_version(project)
    shutil.copytree(trained_folder, path)
    stores.registry.promote(project, version)
    ours.server.for_project(project, wait=30)
    assert client.post("/setup", json={"project": project, "schema": CONFIG}).status_code == 200
    body = bodies.predict_body([{"text": TEXT}] * 3, project=project, config=CONFIG, first_id=1)
    results = client.post("/predict", json=body).get_json()["results"]
    assert ours.served.flush()
    shown = results[0]["result"]
    assert len(shown) >= 3

    def annotate(task: int, ann: int, result: list, who, action=bodies.CREATED) -> None:
        event = webhook(project, task, ann, result, action=action)
        event["annotation"]["completed_by"] = who
        assert client.post("/webhook", json=event).status_code == 200

    annotate(1, 11, shown, 1)  # kept every span shown
    annotate(2, 21, shown, 1)
    annotate(3, 31, shown[:1], {"id": 7, "email": "b@example.org"})  # kept one, deleted the rest
    mine, theirs = stores.quality.annotators(project)
    n = len(shown)
    assert (mine.annotator, mine.tasks, mine.predicted, mine.kept, mine.final, mine.f1) == ("1", 2, 2 * n, 2 * n, 2 * n, 1.0)
    assert (theirs.annotator, theirs.tasks, theirs.kept, theirs.final) == ("b@example.org", 1, 1, 1)
    assert theirs.f1 == 2 / (n + 1)
    page = client.get("/").get_data(as_text=True)
    assert "Annotators against the model's pre-annotations: 1 at span F1 1.00 over 2 tasks" in page
    assert f"b@example.org at span F1 {2 / (n + 1):.2f} over 1 task (kept 1 of the {n} spans shown, submitted 1)" in page

    # the second person changes their mind, then the first one's task 2 is deleted: the sums follow
    annotate(3, 31, shown, {"id": 7, "email": "b@example.org"}, action="ANNOTATION_UPDATED")
    assert client.post("/webhook", json=bodies.deleted_event(project, [21])).status_code == 200
    mine, theirs = stores.quality.annotators(project)
    assert (mine.tasks, mine.kept) == (1, n) and (theirs.tasks, theirs.kept, theirs.f1) == (1, n, 1.0)
