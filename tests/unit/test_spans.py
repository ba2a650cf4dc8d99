import pytest

from backend.ner.spans import BOUNDARIES, SPAN_SCORES, decode_entities, decode_spans, span_score, tags_from_entities
from backend.ner.words import split_words
from tests.support.lsdata import HARD_TEXTS, hard_regions


@pytest.mark.parametrize(
    "tags, expected",
    [
        (["B-per", "I-per", "O"], [(0, 2, "per")]),
        # an I- with nothing before it starts an entity
        (["O", "I-geo", "I-geo"], [(1, 3, "geo")]),
        # two adjacent B- of the same type stay two entities
        (["B-geo", "B-geo"], [(0, 1, "geo"), (1, 2, "geo")]),
        # an I- of another type starts a new entity
        (["B-per", "I-geo"], [(0, 1, "per"), (1, 2, "geo")]),
        # an entity at the very end is kept
        (["O", "O", "B-tim"], [(2, 3, "tim")]),
        (["O", "O"], []),
        ([], []),
    ],
)
def test_bio_repair(tags, expected):
    assert decode_entities(tags) == expected


def test_tags_from_entities_round_trips():
    entities = [(0, 2, "per"), (2, 3, "per"), (5, 6, "geo")]
    tags = tags_from_entities(6, entities)
    assert tags == ["B-per", "I-per", "B-per", "O", "O", "B-geo"]
    assert decode_entities(tags) == entities


def test_spans_keep_inner_whitespace_and_score_is_the_mean():
    text = "Visit  New\tYork City now"
    words = split_words(text)
    tags = ["O", "B-geo", "I-geo", "I-geo", "O"]
    spans = decode_spans(text, words, tags, [0.9, 0.8, 0.6, 0.7, 0.99])
    assert len(spans) == 1
    s = spans[0]
    assert (s.text, s.label, s.start, s.end) == ("New\tYork City", "geo", 7, 20)
    assert text[s.start : s.end] == s.text
    assert s.score == pytest.approx(0.7)


@pytest.mark.parametrize("text, entities", HARD_TEXTS)
def test_spans_are_code_point_slices_of_hard_texts(text, entities):
    """Emoji, flags, combining accents, CJK, \\r\\n, tabs and runs of spaces: offsets are str indices."""
    words = split_words(text)
    ranges = []
    for region in hard_regions(text, entities):
        value = region["value"]
        first = next(i for i, w in enumerate(words) if w.start == value["start"])
        stop = next(i for i, w in enumerate(words) if w.end == value["end"]) + 1
        ranges.append((first, stop, "loc"))
    spans = decode_spans(text, words, tags_from_entities(len(words), ranges), [0.9] * len(words))
    assert [s.text for s in spans] == entities
    assert [(s.start, s.end) for s in spans] == [(r["value"]["start"], r["value"]["end"]) for r in hard_regions(text, entities)]
    assert all(text[s.start : s.end] == s.text for s in spans)


@pytest.mark.parametrize(
    "text, tags, expected",
    [
        ("😀  Barack Obama", ["B-per", "I-per", "I-per"], ["Barack Obama"]),
        ("Obama 😀 .", ["B-per", "I-per", "I-per"], ["Obama"]),
        ("the U.S. said", ["O", "B-geo", "I-geo", "I-geo", "I-geo", "O"], ["U.S."]),
        ("( EU ) and", ["B-org", "I-org", "I-org", "O"], ["EU"]),
        ("AT&T Corp. rose", ["B-org", "I-org", "I-org", "I-org", "I-org", "O"], ["AT&T Corp."]),
        ("😀 ok", ["B-per", "O"], []),
    ],
)
def test_symbol_only_words_are_trimmed_from_span_edges(text, tags, expected):
    words = split_words(text)
    assert len(words) == len(tags)
    spans = decode_spans(text, words, tags, [0.5] * len(words))
    assert [s.text for s in spans] == expected
    assert all(text[s.start : s.end] == s.text for s in spans)


def test_a_span_sure_of_its_boundaries_and_not_of_its_type_is_worth_showing():
    """A wrong type costs a relabel, as much as creating a hidden span: only wrong boundaries make
    a shown span cost more than a hidden one, so they, not the type, pull the score down."""
    scores = [0.6, 0.6, 0.99]  # B-x, I-x, O: the type's probability is 0.6 on both words
    sure = span_score(scores, 0, 2, begins=[0.98, 0.01, 0.0], insides=[0.0, 0.97, 0.01])
    assert sure == pytest.approx(0.6 / (0.6 + 1 - (0.98 + 0.97 + 0.99) / 3))
    # all the boundary probability on the chosen type: the chance of being right, as before
    assert span_score(scores, 0, 2, begins=[0.6, 0.0, 0.0], insides=[0.0, 0.6, 0.4]) == pytest.approx(0.6)
    # the next word likely continues the span: its end is probably wrong
    cut_short = span_score(scores, 0, 2, begins=[0.98, 0.01, 0.0], insides=[0.0, 0.97, 0.9])
    assert sure > 0.95 > 0.7 > cut_short > 0.6
    # no boundary probabilities known (an older caller): the chosen-tag mean; no score at all: None
    assert span_score(scores, 0, 2) == pytest.approx(0.6)
    assert span_score([None, None], 0, 2, begins=[0.9, 0.1], insides=[0.0, 0.9]) is None


def test_the_span_score_setting_offers_exactly_the_scores_there_are():
    """The settings module imports nothing of ours, so it writes the names again: they must agree."""
    from dataclasses import fields

    from backend.config import Settings

    (field,) = [f for f in fields(Settings) if f.name == "span_score"]
    assert field.metadata["choices"] == SPAN_SCORES and field.default == BOUNDARIES
