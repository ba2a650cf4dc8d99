"""The served floor: the span score below which the annotators' own edits say spans cost more than they save."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

from .effort import Effort, Entity, effort
from .spans import decode_entities, span_score

# Floors tried on what a version served: each is the edits annotators would have made had only its
# spans scored at or above it been shown. NONE shows nothing (every gold span created: 0 % saved);
# EVERY shows every span. Floors under the version's own threshold are judged on the spans it
# tagged but did not show (recorded beside the shown ones), so the evidence can lower a floor too.
NONE = 2.0
EVERY = 0.0
FLOORS = (EVERY, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.99, NONE)
# Evidence a floor needs: compared tasks and the gold spans in them. On 50-task GMB models, the
# edits saved on 10 tasks (about 25 spans) and on 1,000 differ by up to 15 points, so a floor
# follows the evidence only when it saves at least MARGIN of the spans more than serving as is,
# and at least MIN_GAIN edits: one span is no evidence. On WNUT-17 tweets a 50-task model's spans
# from 0.5 "would have saved" 4 % where none were shown (one span, right, in 50 tasks of 28 gold
# spans), and the next version served from 0.5 cost 1.1 % of the edits. A stricter test, a gain of
# sqrt(n) + 1 where a floor changes n edits, also refused 3 edits better of 5 changed (WNUT: from
# 0.4 the next version saved 17 % where the prior 0.9 showed nothing) and 2 of 16 (GMB: 0.8, F1
# 0.607 against 0.574 after 50 tasks).
MIN_TASKS = 10
MIN_GOLD = 25
MARGIN = 0.02
MIN_GAIN = 2
# A new version takes the floor its predecessor's spans chose only where that evidence is decisive:
# higher, only when the spans as served cost more than they saved (a better model is not held to an
# older one's floor otherwise: on BC5CDR, one trained on 50 tasks served from 0.99 where 0.9 was
# right, F1 0.422 against 0.621); lower, only on TRANSFER_TASKS annotated tasks (15 GMB tasks of a
# first version said to show every span, and the next version saved 2.5-3.7 points less for it).
TRANSFER_TASKS = 25

ScoredSpan = tuple  # (start, end, label) or (start, end, label, score)


def scored_entities(tags: list[str], scores: list[float | None], begins: Sequence[float | None] = (),
                    insides: Sequence[float | None] = ()) -> list[ScoredSpan]:
    """(first word, stop, label, score) of each entity in `tags`: its `span_score`, as served."""
    return [(first, stop, label, span_score(scores, first, stop, begins, insides))
            for first, stop, label in decode_entities(tags)]


def hidden_spans(shown: list[ScoredSpan], tagged: list[ScoredSpan]) -> list[ScoredSpan]:
    """The spans of `tagged` (every span the version tagged) that `shown` (what it served) lacks."""
    served = {tuple(s[:3]) for s in shown}
    return [s for s in tagged if tuple(s[:3]) not in served]


def shown_above(spans: list[ScoredSpan], floor: float) -> list[Entity]:
    """The spans a floor leaves (a span without a score stays: it was shown whatever the floor)."""
    return [tuple(s[:3]) for s in spans if len(s) < 4 or s[3] is None or s[3] >= floor]


def efforts_at(spans: list[ScoredSpan], final: list[Entity]) -> dict[float, Effort]:
    """{floor: the edits from the spans it leaves to `final`} for every FLOORS value (`spans`: what
    the version tagged, shown or not)."""
    return {floor: effort(shown_above(spans, floor), final) for floor in FLOORS}


def describe(floor: float) -> str:
    """A floor in words: 'nothing', 'every span' or 'spans scored 0.90 or more'."""
    if floor >= NONE:
        return "nothing"
    return "every span" if floor <= EVERY else f"spans scored {floor:.2f} or more"


@dataclass(frozen=True)
class Floor:
    """What the evidence of one version's served spans says to serve."""

    version: str
    tasks: int  # annotations compared with what the version served
    gold: int  # spans in them
    saved_as_served: float | None  # share of edits the spans as served saved
    floor: float | None  # serve only spans scored at or above it (NONE: nothing); None: as served
    saved_at_floor: float | None  # ... and what that would have saved
    older: int = 0  # versions before `version` whose annotations are summed with its own
    newest_costs: bool = True  # whether `version`'s own spans, as served, cost more edits than they saved

    @property
    def named(self) -> str:
        """The versions judged, for people: 'v7', or 'v7 and the 2 versions before it'."""
        if not self.older:
            return self.version
        return f"{self.version} and the {self.older} version{'s' if self.older > 1 else ''} before it"

    @property
    def judged(self) -> bool:
        """Whether the evidence sufficed to choose (the floor may still be None: serve as is)."""
        return self.saved_as_served is not None and self.tasks >= MIN_TASKS and self.gold >= MIN_GOLD

    def carries_over(self, prior: float) -> bool:
        """Whether a version trained after this one serves from this floor rather than `prior`.
        Higher only while the spans still cost: evidence that raised a floor is spent once the
        versions after it show less, yet it stays in the pool for POOLED versions (BC5CDR seed 0 at
        the service's cadence: two first versions' 20 tasks at -18 % kept the next three versions'
        pools under 0 and showed nothing up to 50 tasks, where their spans from 0.95 would have
        saved 16 to 26 % of the test edits)."""
        if self.floor is None or not self.judged:
            return False
        if self.floor > prior:
            return self.saved_as_served < 0 and self.newest_costs
        return self.tasks >= TRANSFER_TASKS

    def spent(self, prior: float) -> bool:
        """Whether this evidence would raise the floor above `prior` but for the newest version's own
        spans, which no longer cost (`carries_over`)."""
        return (self.judged and self.floor is not None and self.floor > prior and self.saved_as_served < 0
                and not self.newest_costs)

    def confirms(self, served_from: float, prior: float) -> bool:
        """Whether a version trained after this one keeps serving from `served_from`, this version's
        own threshold under `prior`, because the evidence found nothing clearly better, on as many
        tasks as lowering needs (on WNUT-17 tweets a version served every span and saved 7 % of the
        edits on 100 tasks; the next, back at the prior 0.9, showed nearly nothing: 0.1 %)."""
        return (self.floor is None and self.judged and self.tasks >= TRANSFER_TASKS
                and self.saved_as_served >= 0 and served_from < prior)

    @property
    def reason(self) -> str:
        """One line for people: the floor and the evidence for it."""
        if self.floor is None:
            if not self.judged:
                return (f"{self.named}: {self.tasks} annotated tasks with {self.gold} spans compared "
                        f"(a floor needs {MIN_TASKS} and {MIN_GOLD}): spans served as the version chose")
            return (f"{self.named}: on {self.tasks} annotated tasks the spans as served saved "
                    f"{self.saved_as_served:.0%} of the edits; no floor would have saved clearly more")
        return (f"{self.named}: on {self.tasks} annotated tasks the spans as served saved "
                f"{self.saved_as_served:.0%} of the edits; showing {describe(self.floor)} would have saved "
                f"{self.saved_at_floor:.0%}")


def beats(served: Effort, other: Effort) -> bool:
    """Whether `other` saves clearly more edits than `served` on the same tasks: MARGIN of the gold
    spans, and MIN_GAIN edits at least."""
    gain = served.edits - other.edits
    return gain > MARGIN * served.gold - 1e-9 and gain >= MIN_GAIN


def choose(version: str, tasks: int, served: Effort, at: dict[float, Effort], older: int = 0,
           newest: Effort | None = None) -> Floor:
    """The floor that would have saved the most edits on a version's annotated tasks (`served`: the
    edits as served; `at`: per floor; `older`: versions before it summed in, `newest` the edits of
    `version`'s own as served), when the evidence suffices and it clearly beats serving as is (`beats`)."""
    newest = served if newest is None else newest
    base = Floor(version, tasks, served.gold, served.saved, None, None, older, newest.edits > newest.gold)
    if not base.judged:
        return base
    best, saved = None, served.saved
    for floor in sorted(at):
        value = at[floor].saved
        if value is not None and value > saved + 1e-9 and beats(served, at[floor]):
            best, saved = floor, value
    if best is None:
        return base
    return replace(base, floor=best, saved_at_floor=at[best].saved)
