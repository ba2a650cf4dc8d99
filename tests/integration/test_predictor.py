"""Prediction on real MiniLM weights, plus window merging checked with a context-free tagger."""

from types import SimpleNamespace

import pytest
import torch

from backend.ner.labels import LabelSet
from backend.ner.model import NerModel
from backend.ner.predictor import Predictor
from backend.ner.spans import decode_entities, span_score

MESSY = [
    "Angela Merkel met Barack Obama in Berlin on Monday.",
    "   Angela   Merkel\t\tmet\nBarack  Obama 😀😀 in Berlin",
    "😀 👩‍👩‍👧 Émile Zola vécut à Paris, près de la Seine.",
    "東京 is the capital of Japan ; Paris of France",
    "President Obama",  # an entity at the very end
    "\x92\u200b",  # words with no sub-tokens at all
    "",
    "a" * 3000,  # one word far longer than the window
]


def test_every_span_is_an_exact_slice(predictor):
    for text, pred in zip(MESSY, predictor.predict(MESSY)):
        for span in pred.spans:
            assert text[span.start : span.end] == span.text
            assert span.text == span.text.strip() and span.text
            assert 0.0 <= span.score <= 1.0
        assert 0.0 <= pred.uncertainty <= 1.0


def test_trained_model_finds_obvious_entities(predictor):
    (pred,) = predictor.predict(["The president of France visited Germany on Monday ."])
    found = {(s.text, s.label) for s in pred.spans}
    assert ("France", "geo") in found or ("France", "gpe") in found
    assert any(s.text == "Monday" for s in pred.spans)


def test_empty_and_untokenizable_texts_have_no_spans(predictor):
    preds = predictor.predict(["", "   ", "\x92"])
    assert [p.spans for p in preds] == [[], [], []]
    assert preds[0].uncertainty == 0.0


def test_batched_equals_one_at_a_time(predictor):
    texts = MESSY[:5] + ["Washington said it will send troops to Iraq in March ."]
    batched = predictor.predict(texts)
    alone = [predictor.predict([t])[0] for t in texts]
    for b, a in zip(batched, alone):
        assert [(s.start, s.end, s.label) for s in b.spans] == [(s.start, s.end, s.label) for s in a.spans]
        for sb, sa in zip(b.spans, a.spans):
            assert sb.score == pytest.approx(sa.score, abs=1e-4)


def test_long_text_through_small_windows_matches_the_full_window(trained):
    """A text of ~400 tokens: with 64-token windows, entities near borders are still found once."""
    sentence = "Officials in Baghdad say Iraqi forces arrested 12 militants near Mosul on Tuesday . "
    text = sentence * 20
    full = Predictor(trained.ner, precision="fp32", max_length=512)
    small = Predictor(
        trained.ner, precision="fp32", max_length=64, stride=24
    )
    (a,) = full.predict([text])
    (b,) = small.predict([text])
    assert a.spans, "the trained model should find Baghdad/Mosul/Tuesday"
    spans_a = {(s.start, s.end): s.label for s in a.spans}
    spans_b = {(s.start, s.end): s.label for s in b.spans}
    assert len(spans_b) == len(b.spans)  # nothing duplicated
    # Windows of 64 tokens keep >= 12 tokens of context a side: the same entities are found (a
    # label may flip where the lost context mattered, e.g. Iraqi gpe vs geo)
    same_place = len(spans_a.keys() & spans_b.keys()) / len(spans_a.keys() | spans_b.keys())
    assert same_place >= 0.95
    same_label = sum(spans_a[k] == spans_b[k] for k in spans_a.keys() & spans_b.keys()) / len(spans_a)
    assert same_label >= 0.9
    for s in b.spans:
        assert text[s.start : s.end] == s.text


# ---- window merging with a tagger whose output depends on the token alone ------------------------


class LookupTagger(torch.nn.Module):
    """Labels a token from a fixed table, ignoring context: window merges must not change anything."""

    def __init__(self, table: dict[int, int], n_labels: int) -> None:
        super().__init__()
        self.table, self.n_labels = table, n_labels
        self.config = SimpleNamespace(max_position_embeddings=512)
        self.anchor = torch.nn.Parameter(torch.zeros(1))

    def forward(self, input_ids, attention_mask):
        logits = torch.zeros(*input_ids.shape, self.n_labels)
        logits[..., 0] = 5.0
        for tok, lab in self.table.items():
            hit = input_ids == tok
            logits[hit] = 0.0
            logits[..., lab][hit] = 5.0
        return SimpleNamespace(logits=logits)


@pytest.mark.parametrize("max_length, stride", [(10, 0), (10, 3), (16, 6), (512, 128)])
def test_entity_across_a_window_border_is_found_once(tokenizer, max_length, stride):
    labels = LabelSet.from_types(["per"])
    ids = labels.label2id
    ang, mer = tokenizer.convert_tokens_to_ids(["angela", "mer"])  # "Merkel" is mer + ##kel
    model = LookupTagger({ang: ids["B-per"], mer: ids["I-per"]}, len(labels.labels))
    predictor = Predictor(NerModel(model, tokenizer, labels), device=torch.device("cpu"), max_length=max_length,
                          stride=stride)
    for shift in range(0, 12):
        text = "x " * shift + "Angela Merkel " + "y " * 10 + "Angela  Merkel"
        (pred,) = predictor.predict([text])
        assert [(s.text, s.label) for s in pred.spans] == [("Angela Merkel", "per"), ("Angela  Merkel", "per")]
        assert [s.start for s in pred.spans] == [2 * shift, text.rindex("Angela")]


def test_a_spans_score_weighs_its_type_against_its_boundaries(trained, predictor):
    """A version whose threshold was chosen on the "boundaries" score serves each span with
    `span_score` of its words: the chosen tags' mean probability against the chance that its
    boundaries are wrong, from the same distributions the tags came from. By default ("chance")
    a span's score is its words' mean chosen-tag probability."""
    from dataclasses import replace

    text = "Washington said it will send troops to Iraq in March ."
    (plain,) = predictor.tag_words([text.split()])
    assert plain.begins == plain.insides == [None] * len(plain.tags)
    for (first, stop, _), span in zip(decode_entities(plain.tags), predictor.predict([text])[0].spans):
        assert span.score == pytest.approx(sum(plain.scores[first:stop]) / (stop - first), abs=1e-6)
    predictor = Predictor(replace(trained.ner, span_score="boundaries"), precision="fp32")
    (words,) = predictor.tag_words([text.split()])
    (pred,) = predictor.predict([text])
    entities = decode_entities(words.tags)
    assert entities and len(pred.spans) == len(entities)
    for (first, stop, _), span in zip(entities, pred.spans):
        assert span.score == pytest.approx(span_score(words.scores, first, stop, words.begins, words.insides), abs=1e-6)
        # a word's chance of opening (continuing) any span is at least that of its chosen B- (I-) tag
        assert words.begins[first] >= words.scores[first] - 1e-6
        assert all(words.insides[w] >= words.scores[w] - 1e-6 for w in range(first + 1, stop))
        assert 0.0 <= span.score <= 1.0
