"""The served floor: the span score below which the annotators' own edits say spans cost more than they save."""

from __future__ import annotations

from dataclasses import dataclass

from statistics import fmean

from .effort import Effort, Entity, effort
from .spans import decode_entities

# Floors tried on what a version served: each is the edits annotators would have made had only its
# spans scored at or above it been shown. NONE shows nothing (every gold span created: 0 % saved).
NONE = 2.0
FLOORS = (0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.99, NONE)
# Evidence a floor needs: compared tasks and the gold spans in them. On 50-task GMB models, the
# edits saved on 10 tasks (about 25 spans) and on 1,000 differ by up to 15 points, so a floor
# follows the evidence only when it saves at least MARGIN of the spans more than serving as is.
MIN_TASKS = 10
MIN_GOLD = 25
MARGIN = 0.02

ScoredSpan = tuple  # (start, end, label) or (start, end, label, score)


def scored_entities(tags: list[str], scores: list[float | None]) -> list[ScoredSpan]:
    """(first word, stop, label, score) of each entity in `tags`: its words' mean score, as served."""
    out = []
    for first, stop, label in decode_entities(tags):
        scored = [s for s in scores[first:stop] if s is not None]
        out.append((first, stop, label, fmean(scored) if scored else None))
    return out


def shown_above(spans: list[ScoredSpan], floor: float) -> list[Entity]:
    """The spans a floor leaves (a span without a score stays: it was shown whatever the floor)."""
    return [tuple(s[:3]) for s in spans if len(s) < 4 or s[3] is None or s[3] >= floor]


def efforts_at(spans: list[ScoredSpan], final: list[Entity]) -> dict[float, Effort]:
    """{floor: the edits from the spans it leaves to `final`} for every FLOORS value."""
    return {floor: effort(shown_above(spans, floor), final) for floor in FLOORS}


@dataclass(frozen=True)
class Floor:
    """What the evidence of one version's served spans says to serve."""

    version: str
    tasks: int  # annotations compared with what the version served
    gold: int  # spans in them
    saved_as_served: float | None  # share of edits the spans as served saved
    floor: float | None  # serve only spans scored at or above it (NONE: nothing); None: as served
    saved_at_floor: float | None  # ... and what that would have saved

    @property
    def judged(self) -> bool:
        """Whether the evidence sufficed to choose (the floor may still be None: serve as is)."""
        return self.saved_as_served is not None and self.tasks >= MIN_TASKS and self.gold >= MIN_GOLD

    @property
    def reason(self) -> str:
        """One line for people: the floor and the evidence for it."""
        if self.floor is None:
            if not self.judged:
                return (f"{self.version}: {self.tasks} annotated tasks with {self.gold} spans compared "
                        f"(a floor needs {MIN_TASKS} and {MIN_GOLD}): spans served as the version chose")
            return (f"{self.version}: on {self.tasks} annotated tasks its spans as served saved "
                    f"{self.saved_as_served:.0%} of the edits; no floor saves more")
        shown = "nothing" if self.floor >= NONE else f"spans scored {self.floor:.2f} or more"
        return (f"{self.version}: on {self.tasks} annotated tasks its spans as served saved "
                f"{self.saved_as_served:.0%} of the edits; showing {shown} would have saved {self.saved_at_floor:.0%}")


def choose(version: str, tasks: int, served: Effort, at: dict[float, Effort]) -> Floor:
    """The floor that would have saved the most edits on a version's annotated tasks (`served`: the
    edits as served; `at`: per floor), when the evidence suffices and it beats serving as is by MARGIN."""
    base = Floor(version, tasks, served.gold, served.saved, None, None)
    if not base.judged:
        return base
    best, saved = None, served.saved + MARGIN
    for floor in sorted(at):
        value = at[floor].saved
        if value is not None and value > saved + 1e-9:
            best, saved = floor, value
    if best is None:
        return base
    return Floor(version, tasks, served.gold, served.saved, best, at[best].saved)
