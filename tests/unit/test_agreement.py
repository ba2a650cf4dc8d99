"""Span agreement between annotators: per pair, over the tasks both annotated, each person's newest."""

from __future__ import annotations

from backend.labelstudio.agreement import PAIRS_SHOWN, agreements, annotator
from backend.labelstudio.annotation import Annotation


def region(start: int, end: int, label: str) -> dict:
    return {"from_name": "label", "to_name": "text", "type": "labels", "value": {"start": start, "end": end, "labels": [label]}}


def ann(task: int, aid: int, who, spans: list[tuple], when: str = "2026-12-06T10:00:00Z") -> Annotation:
    return Annotation(task, aid, {"text": "x" * 40}, [region(*s) for s in spans], completed_by=who, updated_at=when)


def test_two_annotators_agree_on_the_spans_both_marked():
    newest = [ann(1, 11, 2, [(0, 5, "PER"), (10, 15, "LOC")]), ann(2, 12, 2, [(0, 5, "ORG")]), ann(3, 13, 2, [])]
    others = [ann(1, 1, 1, [(0, 5, "PER"), (10, 15, "ORG")]), ann(2, 2, 1, [(0, 5, "ORG")])]  # task 3: one person
    (pair,) = agreements(newest, others)
    assert (pair.first, pair.second, pair.tasks) == ("1", "2", 2)
    assert (pair.matched, pair.spans) == (2, 6) and pair.f1 == 4 / 6  # task 1: 1 of 2 + 2, task 2: 1 of 1 + 1
    assert pair.to_dict() == {"annotators": ["1", "2"], "tasks": 2, "f1": 0.6667}


def test_a_person_counts_once_a_task_with_their_newest_and_nobody_agrees_with_themselves():
    newest = [ann(1, 13, 1, [(0, 5, "PER")], "2026-12-06T12:00:00Z")]
    others = [ann(1, 12, 2, [(0, 5, "PER")], "2026-12-06T11:00:00Z"), ann(1, 11, 2, [(9, 12, "LOC")], "2026-12-06T10:00:00Z")]
    (pair,) = agreements(newest, others)
    assert (pair.first, pair.second, pair.tasks, pair.f1) == ("1", "2", 1, 1.0)  # 2's newest: (0, 5, PER)
    assert agreements([ann(1, 2, 1, [(0, 5, "PER")])], [ann(1, 1, 1, [])]) == []


def test_empty_annotations_agree_and_the_pairs_with_most_tasks_come_first():
    assert agreements([ann(1, 2, "a", [])], [ann(1, 1, "b", [])])[0].f1 == 1.0  # both: nothing to mark
    newest, others = [], []
    for person in range(PAIRS_SHOWN + 2):  # person p shares p + 1 tasks with person 99
        for task in range(person + 1):
            t = 100 * person + task
            newest.append(ann(t, 2 * t + 1, 99, []))
            others.append(ann(t, 2 * t, person, []))
    found = agreements(newest, others)
    assert len(found) == PAIRS_SHOWN and [g.tasks for g in found] == [7, 6, 5, 4, 3]


def test_who_made_an_annotation_reads_ls_user_ids_and_objects():
    assert annotator(ann(1, 1, 7, [])) == "7"
    assert annotator(ann(1, 1, {"id": 7, "email": "ann@example.org"}, [])) == "ann@example.org"
    assert annotator(ann(1, 1, {"id": 7}, [])) == "7"
    assert annotator(ann(1, 1, None, [])) == "unknown"
