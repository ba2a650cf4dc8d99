"""The annotation store against a real redis-server."""

from backend.labelstudio.annotation import Annotation


def _ann(task, ann_id, when, result=None):
    return Annotation(task, ann_id, {"text": f"task {task}"}, result or [], 1, when)


def test_latest_annotation_per_task_wins_and_redelivery_is_harmless(stores, project):
    store = stores.annotations
    assert store.upsert(project, _ann(1, 10, "2026-01-01T10:00"))
    assert not store.upsert(project, _ann(1, 10, "2026-01-01T10:00"))  # the same event again
    assert store.changes(project) == 1
    assert store.upsert(project, _ann(1, 11, "2026-01-02T10:00", [{"x": 1}]))  # a newer annotation
    assert not store.upsert(project, _ann(1, 10, "2026-01-01T10:00"))  # the old one, delivered late
    (only,) = store.annotations(project)
    assert (only.annotation_id, only.result) == (11, [{"x": 1}])
    assert store.changes(project) == 2


def test_deletions_remove_only_the_named_annotations(stores, project):
    store = stores.annotations
    for task in range(1, 4):
        store.upsert(project, _ann(task, 100 + task, "2026-01-01"))
    assert store.delete_annotations(project, [102, 999]) == 1
    assert [a.task_id for a in store.annotations(project)] == [1, 3]
    assert store.delete_annotations(project, [102]) == 0  # re-delivered deletion
    assert store.count(project) == 2


def test_a_resync_removes_only_what_is_unchanged_since_it_read_the_store(stores, project):
    store = stores.annotations
    for task in range(1, 4):
        store.upsert(project, _ann(task, 100 + task, "2026-01-01"))
    read = store.annotations(project)  # what a re-sync saw before listing LS
    store.upsert(project, _ann(2, 202, "2026-01-02"))  # a webhook during the listing replaces task 2
    changes = store.changes(project)
    assert store.delete_unchanged(project, read) == 2  # tasks 1 and 3, deleted in LS; task 2 is newer
    assert [(a.task_id, a.annotation_id) for a in store.annotations(project)] == [(2, 202)]
    assert store.changes(project) == changes + 2


def test_a_deleted_annotation_never_comes_back(stores, project):
    store = stores.annotations
    assert store.upsert(project, _ann(1, 101, "2026-01-01T10:00"))
    assert store.delete_annotations(project, [101]) == 1
    changes = store.changes(project)
    assert not store.upsert(project, _ann(1, 101, "2026-01-01T11:00"))  # an update delivered after the deletion
    assert not store.upsert(project, _ann(1, 101, "2026-01-01T10:00"))  # a re-sync page read before it
    assert store.count(project) == 0 and store.changes(project) == changes
    # a deletion delivered before its creation: the creation stays out too
    assert store.delete_annotations(project, [202]) == 0
    assert not store.upsert(project, _ann(2, 202, "2026-01-01T10:00"))
    assert store.upsert(project, _ann(1, 103, "2026-01-02T10:00"))  # another annotation of the task is new data
    assert [a.annotation_id for a in store.annotations(project)] == [103]


def test_deletions_of_made_up_ids_keep_a_bounded_number_of_markers(stores):
    """100,000 ids never stored, in one body, used to be 100,000 permanent Redis entries."""
    from backend.state.annotations import UNSEEN_TOMBSTONES
    from backend.state.keys import ProjectKeys

    store = stores.annotations
    p = "store-tombstones"
    assert store.upsert(p, _ann(1, 1, "2026-01-01T10:00"))
    assert store.delete_annotations(p, [1, *range(10_000_000, 10_100_000)]) == 1
    keys = ProjectKeys(p)
    assert store.r.scard(keys.deleted_annotations) == 1  # the one the store held, for ever
    assert store.r.zcard(keys.deleted_unseen) == UNSEEN_TOMBSTONES
    assert not store.upsert(p, _ann(1, 1, "2026-01-01T11:00"))
    assert not store.upsert(p, _ann(2, 10_099_999, "2026-01-01T10:00"))  # the newest made-up ids still hold
    assert store.upsert(p, _ann(3, 10_000_000, "2026-01-01T10:00"))  # the oldest were let go


def test_the_training_history_is_bounded_and_the_learning_curve_keeps_every_point(stores):
    from backend.state.history import HISTORY_KEPT, Training

    history, p = stores.history, "store-5"
    for n in range(HISTORY_KEPT + 5):
        record = Training(f"train-{p}-{n}", status="promoted", annotations=10 * (n + 1), dev={"f1": n / 1000})
        history.save(p, record)
        history.save(p, record)  # updated in place (a push writes its progress): not counted twice
    kept = history.all(p)
    assert [r.job_id for r in kept] == [f"train-{p}-{n}" for n in range(5, HISTORY_KEPT + 5)]
    assert history.get(p, f"train-{p}-0") is None
    curve = history.curve(p)
    assert len(curve) == HISTORY_KEPT + 5 and curve[0] == (10, 0.0) and curve[-1][0] == 10 * (HISTORY_KEPT + 5)


def test_deleting_the_newer_of_two_annotators_work_trains_on_the_other(stores, project):
    store = stores.annotations
    assert store.upsert(project, _ann(1, 201, "2026-01-01T10:00", [{"by": "ann"}]))
    assert store.upsert(project, _ann(1, 202, "2026-01-02T10:00", [{"by": "bob"}]))  # newer: trained on
    assert not store.upsert(project, _ann(1, 203, "2026-01-01T12:00", [{"by": "cid"}]))  # older: kept beside
    assert [a.annotation_id for a in store.annotations(project)] == [202]
    changes = store.changes(project)
    assert store.delete_annotations(project, [202]) == 1
    assert [a.result for a in store.annotations(project)] == [[{"by": "cid"}]]  # the next newest that exists
    assert store.changes(project) == changes + 1
    assert store.delete_annotations(project, [201]) == 1 and store.changes(project) == changes + 1  # not the trained one
    assert store.delete_annotations(project, [203]) == 1
    assert store.annotations(project) == [] and store.count(project) == 0
    assert not store.upsert(project, _ann(1, 202, "2026-01-03T10:00"))  # deleted ones stay deleted


def test_a_resync_removing_a_task_removes_every_annotation_kept_for_it(stores):
    from backend.state.keys import ProjectKeys

    store, p = stores.annotations, "store-7"
    store.upsert(p, _ann(1, 301, "2026-01-02"))
    store.upsert(p, _ann(1, 302, "2026-01-01"))  # an older one, kept beside
    assert store.delete_unchanged(p, store.annotations(p)) == 1
    keys = ProjectKeys(p)
    assert store.count(p) == 0 and not store.r.hlen(keys.other_annotations) and not store.r.hlen(keys.annotation_tasks)
