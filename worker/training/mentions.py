"""Mention replacement: the training sentences once more, each entity swapped for another annotated
mention of its type, so that a young model sees every context with more than one name."""

from __future__ import annotations

import random
from collections import defaultdict

from backend.ner.readers import Sentence
from backend.ner.spans import decode_entities


def mentions_by_type(sentences: list[Sentence]) -> dict[str, list[tuple[str, ...]]]:
    """Every distinct annotated mention (its words) of each entity type, in a fixed order."""
    found: dict[str, set[tuple[str, ...]]] = defaultdict(set)
    for sentence in sentences:
        for start, end, kind in decode_entities(sentence.tags):
            found[kind].add(tuple(sentence.words[start:end]))
    return {kind: sorted(words) for kind, words in found.items()}


def replace_mentions(sentence: Sentence, mentions: dict[str, list[tuple[str, ...]]], rng: random.Random) -> Sentence:
    """`sentence` with each entity swapped for a mention of its type drawn from `mentions` (another
    one where there is another); the words between entities and their tags stay."""
    words: list[str] = []
    tags: list[str] = []
    last = 0
    for start, end, kind in decode_entities(sentence.tags):
        words += sentence.words[last:start]
        tags += sentence.tags[last:start]
        own = tuple(sentence.words[start:end])
        others = [m for m in mentions.get(kind, ()) if m != own] or [own]
        mention = rng.choice(others)
        words += mention
        tags += [f"B-{kind}"] + [f"I-{kind}"] * (len(mention) - 1)
        last = end
    words += sentence.words[last:]
    tags += sentence.tags[last:]
    return Sentence(words, tags, source=f"{sentence.source} (mentions replaced)")


def with_replaced_mentions(sentences: list[Sentence], seed: int) -> list[Sentence]:
    """`sentences`, then each of them again with its mentions replaced (the same seed, the same copies)."""
    mentions, rng = mentions_by_type(sentences), random.Random(seed)
    return sentences + [replace_mentions(s, mentions, rng) for s in sentences]
