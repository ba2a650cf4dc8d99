"""How far a project's annotators agree: span F1 between each pair of people over the tasks both
annotated (the same start, end and label), from the annotations the store keeps per task."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from itertools import combinations

from .annotation import Annotation, result_spans

# Pairs of annotators shown (the most tasks in common first): a status line, not a matrix.
PAIRS_SHOWN = 5


@dataclass(frozen=True)
class Agreement:
    """Two annotators over the tasks both annotated."""

    first: str
    second: str
    tasks: int
    matched: int  # spans both marked
    spans: int  # spans either marked, counted once per annotator (the F1's denominator)

    @property
    def f1(self) -> float:
        """2 x matched / spans; 1.0 where neither marked anything (they agree there is nothing)."""
        return 2 * self.matched / self.spans if self.spans else 1.0

    def to_dict(self) -> dict:
        return {"annotators": [self.first, self.second], "tasks": self.tasks, "f1": round(self.f1, 4)}


def annotator(annotation: Annotation) -> str:
    """Who made an annotation: LS's user id (`completed_by`, an id or a user object), else "unknown"."""
    who = annotation.completed_by
    if isinstance(who, dict):
        who = who.get("email") or who.get("id")
    return "unknown" if who is None or who == "" else str(who)


def agreements(newest: list[Annotation], others: list[Annotation]) -> list[Agreement]:
    """Per pair of annotators, their span agreement over the tasks both annotated: `newest` holds
    the annotation each task trains on, `others` the older ones kept beside it (another person's).
    Pairs with the most tasks in common first, at most PAIRS_SHOWN."""
    by_task: dict[int, dict[str, Annotation]] = defaultdict(dict)
    tasks_with_others = {a.task_id for a in others}
    older = sorted(others, key=lambda a: (a.updated_at, a.annotation_id))
    for annotation in [*older, *(a for a in newest if a.task_id in tasks_with_others)]:
        by_task[annotation.task_id][annotator(annotation)] = annotation  # one a person: their newest
    pairs: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for people in by_task.values():
        for a, b in combinations(sorted(people), 2):
            mine, theirs = set(result_spans(people[a].result)), set(result_spans(people[b].result))
            counts = pairs[(a, b)]
            counts[0] += 1
            counts[1] += len(mine & theirs)
            counts[2] += len(mine) + len(theirs)
    found = [Agreement(a, b, *counts) for (a, b), counts in pairs.items()]
    return sorted(found, key=lambda g: (-g.tasks, g.first, g.second))[:PAIRS_SHOWN]
