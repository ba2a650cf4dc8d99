"""Label all occurrences: annotated strings found again as whole words, merged under the model."""

from __future__ import annotations

from dataclasses import replace

from backend.ner.checkpoint import load_model, save_model
from backend.ner.gazetteer import Gazetteer
from backend.ner.predictor import Predictor
from backend.ner.readers import Sentence


def sentence(words: str, tags: str) -> Sentence:
    return Sentence(words.split(), tags.split())


GAZ = Gazetteer.from_sentences([
    sentence("Acme Corp hired New York lawyers", "B-org I-org O B-geo I-geo O"),
    sentence("New York and York", "B-geo I-geo O B-per"),
    sentence("York again and A .", "B-geo O O B-per O"),
    sentence("York once more", "B-geo O O"),  # York: geo twice, per once
])


def test_entries_are_the_most_frequent_type_of_each_exact_string():
    assert GAZ.entries == {("Acme", "Corp"): "org", ("New", "York"): "geo", ("York",): "geo"}  # "A" is too short


def test_matches_are_whole_words_longest_first_and_case_sensitive():
    words = "In New York , Yorkshire and york met York".split()
    assert GAZ.matches(words) == [(1, 3, "geo"), (8, 9, "geo")]


def test_the_model_s_own_spans_win():
    words = "Acme Corp sued New York".split()
    tags = ["B-per", "O", "O", "O", "O"]  # the model saw something at Acme: leave that entity alone
    assert GAZ.fill(words, tags) == [3, 4]
    assert tags == ["B-per", "O", "O", "B-geo", "I-geo"]


def test_a_saved_version_serves_its_gazetteer(trained, tmp_path):
    gazetteer = Gazetteer({("river", "bank"): "org"})
    folder = save_model(replace(trained.ner, gazetteer=gazetteer), {}, tmp_path / "v")
    loaded = load_model(folder)
    assert loaded.gazetteer.entries == gazetteer.entries
    text = "prices at the river bank fell ."
    served = Predictor.from_folder(folder, precision="fp32").predict([text])[0]
    plain = Predictor(trained.ner, precision="fp32").predict([text])[0]
    assert not any(s.text == "river bank" for s in plain.spans)
    (span,) = [s for s in served.spans if s.text == "river bank"]
    # scored with the model's own (low) probability of the new tag, so LS shows it as unsure
    assert span.label == "org" and text[span.start:span.end] == span.text and 0.0 <= span.score < 0.5
