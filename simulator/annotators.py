"""A second, noisy annotator for the simulator: each task annotated twice, and the ways a training
could use the two annotations (the newest, the spans both marked, or both)."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from backend.ner.readers import Sentence
from backend.ner.spans import decode_entities, tags_from_entities

# How a task annotated by two people trains: the newest annotation (what the service does), the
# spans both marked, or each annotation as a sentence of its own.
MERGES = ("newest", "agreement", "both")


def noisy(sentence: Sentence, rate: float, types: list[str], rng: random.Random) -> Sentence:
    """`sentence` as a careless annotator marks it: each entity dropped with probability `rate`,
    else given another type with probability `rate`."""
    kept = []
    for first, stop, label in decode_entities(sentence.tags):
        draw = rng.random()
        if draw < rate:
            continue
        if draw < 2 * rate and len(types) > 1:
            label = rng.choice([t for t in types if t != label])
        kept.append((first, stop, label))
    return replace(sentence, tags=tags_from_entities(len(sentence.tags), kept))


def agreed(first: Sentence, second: Sentence) -> Sentence:
    """The entities both annotations marked (same words, same type); the rest O."""
    both = set(decode_entities(first.tags)) & set(decode_entities(second.tags))
    return replace(first, tags=tags_from_entities(len(first.tags), sorted(both)))


@dataclass(frozen=True)
class SecondAnnotator:
    """Every task annotated by the gold annotator and a noisy one, in a random order."""

    rate: float
    merge: str
    types: list[str]

    def trained_on(self, gold: Sentence, rng: random.Random) -> list[Sentence]:
        """The sentences one task trains on."""
        other = noisy(gold, self.rate, self.types, rng)
        if self.merge == "both":
            return [gold, other]
        if self.merge == "agreement":
            return [agreed(gold, other)]
        return [other if rng.random() < 0.5 else gold]  # whichever of the two was submitted last
