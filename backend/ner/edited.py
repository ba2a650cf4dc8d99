"""Pre-annotations against the annotations that follow, summed per version and label, and over the
newest versions for a new version's floor (Redis keeps them: backend.state.quality; the simulator
sums its own)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields

from . import floor as floors
from .effort import Effort, Entity, edits


@dataclass
class LabelQuality:
    """Figures of one label (or of all) under one version. A relabelled span counts for the label
    the annotator chose: a span of that label that was pre-annotated with the wrong label."""

    predicted: int = 0  # spans the version pre-annotated
    kept: int = 0  # ... that the annotation kept exactly (same offsets and label)
    final: int = 0  # spans in the submitted annotations
    deletes: int = 0
    creates: int = 0
    relabels: int = 0

    def __add__(self, other: LabelQuality) -> LabelQuality:
        return LabelQuality(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def to_dict(self) -> dict:
        spent = Effort(self.deletes, self.creates, self.relabels, self.final)
        return {
            "predicted_spans": self.predicted, "kept_spans": self.kept, "final_spans": self.final,
            "kept_share": round(self.kept / self.predicted, 4) if self.predicted else None,
            "preannotated_share": round(self.kept / self.final, 4) if self.final else None,
            "edits": spent.edits, "deletes": self.deletes, "creates": self.creates, "relabels": self.relabels,
            "effort_saved": None if spent.saved is None else round(spent.saved, 4),
        }


@dataclass
class VersionQuality:
    """The annotations made on one version's pre-annotations."""

    tasks: int = 0
    total: LabelQuality = field(default_factory=LabelQuality)
    labels: dict[str, LabelQuality] = field(default_factory=dict)
    at: dict[float, LabelQuality] = field(default_factory=dict)  # the edits under each served floor ...
    at_tasks: int = 0  # ... summed over this many annotations (those recorded before floors were not)

    def add(self, shown: list[tuple], final: list[Entity], hidden: list[tuple] = ()) -> None:
        """One annotation: `shown` the spans served (a score each where recorded), `final` submitted,
        `hidden` the scored spans the version tagged but did not show (under its threshold or floor)."""
        self.tasks += 1
        self.at_tasks += 1
        predicted = [tuple(s[:3]) for s in shown]
        for value, spent in floors.efforts_at([*shown, *hidden], final).items():
            figures = self.at.setdefault(value, LabelQuality())
            figures.deletes += spent.deletes
            figures.creates += spent.creates
            figures.relabels += spent.relabels
        done = edits(predicted, final)
        scopes = [(self.total, None)] + [(self._label(lab), lab) for lab in sorted({s[2] for s in predicted + final})]
        relabelled = [new for _, new in done.relabelled]
        for figures, label in scopes:
            figures.predicted += _count(predicted, label)
            figures.final += _count(final, label)
            figures.kept += _count(done.kept, label)
            figures.deletes += _count(done.deleted, label)
            figures.creates += _count(done.created, label)
            figures.relabels += _count(relabelled, label)

    def _label(self, label: str) -> LabelQuality:
        return self.labels.setdefault(label, LabelQuality())

    def __add__(self, other: VersionQuality) -> VersionQuality:
        """The annotations of two versions together (every figure summed)."""
        return VersionQuality(
            self.tasks + other.tasks, self.total + other.total,
            {k: self.labels.get(k, LabelQuality()) + other.labels.get(k, LabelQuality())
             for k in self.labels.keys() | other.labels.keys()},
            {k: self.at.get(k, LabelQuality()) + other.at.get(k, LabelQuality()) for k in self.at.keys() | other.at.keys()},
            self.at_tasks + other.at_tasks)

    def floor(self, version: str, older: int = 0, newest: VersionQuality | None = None) -> floors.Floor:
        """What these annotations say to serve of the version (and of `older` versions before it,
        summed in, `newest` the version's own; see backend.ner.floor)."""
        own = (newest or self).served()
        if self.at_tasks != self.tasks:  # some were compared before floors were summed
            return floors.choose(version, self.tasks, self.served(), {}, older, own)
        return floors.choose(version, self.tasks, self.served(), self.efforts(), older, own)

    def served(self) -> Effort:
        """The edits of these annotations from the spans as served."""
        return Effort(self.total.deletes, self.total.creates, self.total.relabels, self.total.final)

    def efforts(self) -> dict[float, Effort]:
        """{floor: the edits of these annotations had only the spans scored at or above it been shown}
        for every `floor.FLOORS` value."""
        gold = self.total.final
        return {value: Effort(f.deletes, f.creates, f.relabels, gold)
                for value, f in ((v, self.at.get(v, LabelQuality())) for v in floors.FLOORS)}

    def to_dict(self) -> dict:
        return {"tasks": self.tasks, **self.total.to_dict(),
                "labels": {k: v.to_dict() for k, v in sorted(self.labels.items())}}


# The evidence a new version's threshold is chosen on. The service trains every TRAIN_EVERY (10)
# annotations, so a version serves about 10 tasks: about 23 gold spans on GMB, 20 on BC5CDR and 5
# on WNUT-17 tweets. Alone, that rarely suffices to judge a floor (floor.MIN_TASKS, MIN_GOLD) and
# never to lower one (floor.TRANSFER_TASKS): simulated at that cadence, the floor acted once in 18
# trainings on GMB and BC5CDR, where the simulator's coarser rounds (each version serving 15-100
# tasks) had measured it acting. So the newest versions' annotations are summed, newest first,
# until they hold that much, at most POOLED versions: versions trained a few annotations apart rank
# spans alike, and each floor is judged on every span they tagged (docs/benchmarks.md, "The floor
# at the service's cadence").
POOLED = 5


def evidence(newest_first: Iterable[tuple[str, VersionQuality]]) -> floors.Floor | None:
    """The floor chosen on the annotations of the newest versions ((version, quality), newest
    first), summed until they could lower a floor (None: not enough to judge one)."""
    pool, named, own, count = VersionQuality(), None, None, 0
    for version, quality in newest_first:
        if count == POOLED:
            break
        if not quality.tasks:
            continue
        pool, named, own, count = pool + quality, named or version, own or quality, count + 1
        if pool.tasks >= floors.TRANSFER_TASKS and pool.total.final >= floors.MIN_GOLD:
            break
    if named is None:
        return None
    chosen = pool.floor(named, count - 1, own)
    return chosen if chosen.judged else None


def _count(spans: list[Entity], label: str | None) -> int:
    """How many of `spans` have `label` (None: all)."""
    return sum(1 for s in spans if label is None or s[2] == label)


def summarise(outcomes: list[dict]) -> dict[str, VersionQuality]:
    """Per version, from outcome records {"version", "predicted", "final"[, "hidden"]} (spans as lists)."""
    out: dict[str, VersionQuality] = {}
    for o in outcomes:
        predicted = [tuple(s) for s in o["predicted"]]
        final = [tuple(s[:3]) for s in o["final"]]
        hidden = [tuple(s) for s in o.get("hidden", ())]
        out.setdefault(o["version"], VersionQuality()).add(predicted, final, hidden)
    return out
