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


def effort(predicted: list[Entity], gold: list[Entity]) -> Effort:
    """The fewest edits from `predicted` to `gold` under the rules of `Effort`."""
    pred, want = Counter(predicted), Counter(gold)
    exact = pred & want
    pred, want = pred - exact, want - exact
    # what is left with the same boundaries on both sides needs only its label changed
    pred_ranges = Counter((s, e) for (s, e, _), n in pred.items() for _ in range(n))
    want_ranges = Counter((s, e) for (s, e, _), n in want.items() for _ in range(n))
    relabels = sum((pred_ranges & want_ranges).values())
    return Effort(deletes=sum(pred.values()) - relabels, creates=sum(want.values()) - relabels,
                  relabels=relabels, gold=len(gold))
