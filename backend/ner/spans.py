"""Span decoding: per-word BIO tags -> character-exact entity spans (with repair), in code points."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from statistics import fmean
from typing import Sequence

from .words import Word


@dataclass(frozen=True)
class Span:
    """An entity: `text == source[start:end]` in Python str offsets; score in [0, 1]."""

    start: int
    end: int
    text: str
    label: str
    score: float

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Prediction:
    """The entities found in one text and how unsure the model was about the text as a whole."""

    spans: list[Span]
    uncertainty: float  # 1 - the task confidence of acquisition.TASK_SCORE: higher = annotate sooner
    # spans the model tagged but does not show (scored under its threshold or floor): recorded
    # beside the shown ones, so that the annotators' edits can tell whether showing them would pay
    hidden: list[Span] = field(default_factory=list)

    @property
    def confidence(self) -> float:
        return 1.0 - self.uncertainty


def decode_entities(tags: list[str]) -> list[tuple[int, int, str]]:
    """Entities as word ranges [first, last + 1) with their type, repairing broken BIO.

    An I-X that does not continue an X entity starts one; B-X always starts a new entity, so two
    adjacent B-X words stay two entities; O (or any unknown tag) ends the current entity.
    """
    entities: list[tuple[int, int, str]] = []
    current: list = []  # [first, last + 1, type] of the entity being built
    for i, tag in enumerate(tags):
        prefix, kind = tag[:2], tag[2:]
        if prefix == "I-" and current and current[2] == kind and current[1] == i:
            current[1] = i + 1
            continue
        if current:
            entities.append(tuple(current))
            current = []
        if prefix in ("B-", "I-") and kind:
            current = [i, i + 1, kind]
    if current:
        entities.append(tuple(current))
    return entities


def _has_alnum(word: Word) -> bool:
    return any(ch.isalnum() for ch in word.text)


def trim_entity(words: list[Word], first: int, stop: int) -> tuple[int, int]:
    """Drop symbol-only words (emoji, brackets, spaced punctuation) from an entity's edges.

    A name never starts with one; at the end only a full stop glued to the word before it stays
    ("U.S.", "Corp."). Returns an empty range when nothing is left.
    """
    while first < stop and not _has_alnum(words[first]):
        first += 1
    while stop > first and not _has_alnum(words[stop - 1]):
        glued_stop = words[stop - 1].text == "." and stop - 1 > first and words[stop - 2].end == words[stop - 1].start
        if glued_stop:
            break
        stop -= 1
    return first, stop


# How a span's score is computed, a choice each version records (NerModel.span_score, SPAN_SCORE):
# CHANCE, the mean chosen-tag probability of its words; BOUNDARIES, `span_score` below.
CHANCE, BOUNDARIES = "chance", "boundaries"
SPAN_SCORES = (CHANCE, BOUNDARIES)


# Which spans to show. A span with the right boundaries and the wrong type costs a relabel, as
# much as creating the span when it is not shown; only a span with wrong boundaries costs more
# shown (a delete) than hidden. So the score that decides is not the chance that the span is
# right (its words' mean chosen-tag probability, s) but that chance against the chance that its
# boundaries are wrong: s / (s + 1 - b), where b is the mean probability, over its words, of the
# boundary each word makes (any B- tag on the first word, any I- tag on the others, no I- tag on
# the word after). Ranked so, the best served floor of 50-sentence models saved 37.4-39.9 % of the
# edits on GMB test sentences where the chosen-tag mean's saved 33.7-37.4 %, and 27.3 and 28.8 % on
# BC5CDR where it saved 22.6 and 22.2 % (docs/benchmarks.md, "Which spans to show").
def span_score(scores: Sequence[float | None], first: int, stop: int,
               begins: Sequence[float | None] = (), insides: Sequence[float | None] = ()) -> float | None:
    """The score that decides whether the entity of words [first, stop) is shown (see above); the
    mean chosen-tag probability alone where no boundary probabilities are known. None: no word of
    it has a score (the tokenizer dropped them all)."""
    probs = [p for p in scores[first:stop] if p is not None]
    if not probs:
        return None
    right = fmean(probs)
    edges = [begins[first]] if first < len(begins) else []
    edges += list(insides[first + 1 : stop])
    if stop < len(insides) and insides[stop] is not None:
        edges.append(1.0 - insides[stop])
    edges = [e for e in edges if e is not None]
    if not edges:
        return right
    return right / (right + 1.0 - fmean(edges)) if right > 0 else 0.0


def decode_spans(text: str, words: list[Word], tags: list[str], scores: list[float | None],
                 begins: Sequence[float | None] = (), insides: Sequence[float | None] = ()) -> list[Span]:
    """Character spans for the entities in `tags` (one tag, score and boundary probabilities per
    word of `text`).

    A span runs from its first word's start to its last word's end on the original text, so any
    whitespace inside it is kept exactly; symbol-only words at its edges are trimmed off. Its
    score is `span_score` of the entity as tagged (words the tokenizer dropped have no score and
    do not count).
    """
    spans = []
    for tagged_first, tagged_stop, kind in decode_entities(tags):
        first, stop = trim_entity(words, tagged_first, tagged_stop)
        if first >= stop:
            continue
        start, end = words[first].start, words[stop - 1].end
        score = span_score(scores, tagged_first, tagged_stop, begins, insides)
        spans.append(Span(start, end, text[start:end], kind, round(score, 6) if score is not None else 0.0))
    return spans


def tags_from_entities(n_words: int, entities: list[tuple[int, int, str]]) -> list[str]:
    """The BIO tags of `n_words` words holding the given (non-overlapping) word-range entities."""
    tags = ["O"] * n_words
    for first, stop, kind in entities:
        tags[first] = "B-" + kind
        for i in range(first + 1, stop):
            tags[i] = "I-" + kind
    return tags

