"""Mention replacement: each entity swapped for another mention of its type, context and tags kept,
and only while it costs a full training no steps."""

from __future__ import annotations

import math
import random

from backend.config import Settings
from backend.ner.readers import Sentence
from backend.ner.spans import decode_entities
from worker.training.mentions import mentions_by_type, replace_mentions, with_replaced_mentions
from worker.training.recipe import TARGET_STEPS, full_sample

SENTENCES = [
    Sentence(["Angela", "Merkel", "visited", "Paris", "."], ["B-per", "I-per", "O", "B-geo", "O"]),
    Sentence(["Obama", "spoke", "in", "New", "York", "City"], ["B-per", "O", "O", "B-geo", "I-geo", "I-geo"]),
    Sentence(["Nothing", "here"], ["O", "O"]),
]


def test_mentions_are_collected_per_type_once_each():
    assert mentions_by_type(SENTENCES + SENTENCES[:1]) == {
        "per": [("Angela", "Merkel"), ("Obama",)], "geo": [("New", "York", "City"), ("Paris",)]}


def test_each_entity_becomes_another_mention_of_its_type_and_the_context_stays():
    swapped = replace_mentions(SENTENCES[0], mentions_by_type(SENTENCES), random.Random(0))
    assert swapped.words == ["Obama", "visited", "New", "York", "City", "."]
    assert swapped.tags == ["B-per", "O", "B-geo", "I-geo", "I-geo", "O"]
    assert [(kind, swapped.words[a:b]) for a, b, kind in decode_entities(swapped.tags)] == [
        ("per", ["Obama"]), ("geo", ["New", "York", "City"])]


def test_a_type_with_one_mention_and_a_sentence_without_entities_stay_as_they_are():
    alone = [Sentence(["Bayer", "sells", "aspirin"], ["B-org", "O", "B-chem"])]
    assert replace_mentions(alone[0], mentions_by_type(alone), random.Random(0)).words == alone[0].words
    assert replace_mentions(SENTENCES[2], mentions_by_type(SENTENCES), random.Random(0)).words == ["Nothing", "here"]


def test_the_copies_follow_the_originals_and_one_seed_makes_the_same_copies():
    doubled = with_replaced_mentions(SENTENCES, seed=3)
    assert doubled[:3] == SENTENCES and len(doubled) == 6
    assert doubled == with_replaced_mentions(SENTENCES, seed=3)


def test_a_full_training_replaces_mentions_only_while_it_costs_no_steps():
    on = Settings(train_epochs=0, train_batch_size=16, mention_replacement="on")
    small = SENTENCES * 50  # 150 sentences: 300 with their copies, 19 steps an epoch, 11 epochs
    sample, config = full_sample(small, on)
    assert len(sample) == 300 and config.epochs == 11
    assert abs(config.epochs * math.ceil(300 / 16) - TARGET_STEPS) <= 0.1 * TARGET_STEPS  # as the 150 alone take
    large = SENTENCES * 200  # 600 sentences: with copies, 3 epochs of 75 steps, where alone take 4 of 38
    assert full_sample(large, on)[0] is large
    assert full_sample(small, Settings(mention_replacement="off"))[0] is small
    assert full_sample(small, Settings(train_epochs=5, mention_replacement="on"))[0] is small
