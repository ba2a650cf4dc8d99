"""Annotator effort: the edits that turn a pre-annotation into the gold annotation of a text."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

Entity = tuple[int, int, str]  # (start, end, label) in any unit (characters or words), end exclusive


@dataclass(frozen=True)
class Effort:
    """Edits an annotator makes on one text (or summed over many): a wrong span is deleted, a
    missing one created, a span with the right boundaries and the wrong label relabelled; a wrong
    boundary is a delete plus a create. `gold` spans is what annotating from scratch costs."""

    deletes: int = 0
    creates: int = 0
    relabels: int = 0
    gold: int = 0

    @property
    def edits(self) -> int:
        return self.deletes + self.creates + self.relabels

    @property
    def saved(self) -> float | None:
        """Share of from-scratch effort the pre-annotation saved (negative: it cost more); None
        when there was nothing to annotate."""
        return 1.0 - self.edits / self.gold if self.gold else None

    def __add__(self, other: "Effort") -> "Effort":
        return Effort(self.deletes + other.deletes, self.creates + other.creates,
                      self.relabels + other.relabels, self.gold + other.gold)


@dataclass(frozen=True)
class Edits:
    """The spans of a pre-annotation matched against the annotation: kept as they are, relabelled
    (same boundaries; pairs of predicted and final span), deleted, created."""

    kept: list[Entity]
    relabelled: list[tuple[Entity, Entity]]
    deleted: list[Entity]
    created: list[Entity]


def edits(predicted: list[Entity], gold: list[Entity]) -> Edits:
    """The fewest edits from `predicted` to `gold` under the rules of `Effort`, span by span."""
    pred, want = Counter(predicted), Counter(gold)
    exact = pred & want
    left_pred = sorted((pred - exact).elements())
    left_want = sorted((want - exact).elements())
    # what is left with the same boundaries on both sides needs only its label changed
    relabelled = []
    by_range: dict[tuple[int, int], list[Entity]] = {}
    for span in left_want:
        by_range.setdefault(span[:2], []).append(span)
    deleted = []
    for span in left_pred:
        waiting = by_range.get(span[:2])
        if waiting:
            relabelled.append((span, waiting.pop(0)))
        else:
            deleted.append(span)
    created = [s for spans in by_range.values() for s in spans]
    return Edits(sorted(exact.elements()), relabelled, deleted, sorted(created))


def effort(predicted: list[Entity], gold: list[Entity]) -> Effort:
    """The fewest edits from `predicted` to `gold` under the rules of `Effort`."""
    done = edits(predicted, gold)
    return Effort(deletes=len(done.deleted), creates=len(done.created), relabels=len(done.relabelled),
                  gold=len(gold))
