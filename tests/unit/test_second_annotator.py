"""The simulator's noisy second annotator, and what a task trains on when two people annotated it."""

import random

from backend.ner.readers import Sentence
from backend.ner.spans import decode_entities
from simulator.annotators import SecondAnnotator, agreed, noisy

GOLD = Sentence(["Bush", "met", "Blair", "in", "New", "York", "."], ["B-per", "O", "B-per", "O", "B-geo", "I-geo", "O"])
TYPES = ["geo", "org", "per"]


def test_noise_drops_or_retypes_entities_and_never_moves_them():
    assert noisy(GOLD, 0.0, TYPES, random.Random(0)) == GOLD
    spans = {(a, b) for a, b, _ in decode_entities(GOLD.tags)}
    changed = 0
    for seed in range(50):
        other = noisy(GOLD, 0.5, TYPES, random.Random(seed))  # every entity dropped or retyped
        found = decode_entities(other.tags)
        assert {(a, b) for a, b, _ in found} <= spans and other.words == GOLD.words
        assert not set(found) & set(decode_entities(GOLD.tags))
        changed += len(found)
    assert changed > 0  # some were retyped, not only dropped


def test_agreement_keeps_the_spans_both_marked_and_each_merge_trains_its_own_way():
    other = Sentence(GOLD.words, ["B-per", "O", "B-org", "O", "O", "O", "O"])
    assert agreed(GOLD, other).tags == ["B-per", "O", "O", "O", "O", "O", "O"]
    rng = random.Random(3)
    assert SecondAnnotator(0.0, "both", TYPES).trained_on(GOLD, rng) == [GOLD, GOLD]
    assert SecondAnnotator(0.5, "agreement", TYPES).trained_on(GOLD, rng)[0].tags == ["O"] * 7
    newest = [SecondAnnotator(0.5, "newest", TYPES).trained_on(GOLD, rng)[0] == GOLD for _ in range(40)]
    assert 5 < sum(newest) < 35  # either person's annotation may be the newest
