import json

import pytest

from backend.ner.readers import CorpusError, detect_format, read_corpus, sentence_from_regions
from backend.ner.spans import decode_entities
from backend.ner.words import split_words
from tests.support.lsdata import HARD_TEXTS, hard_regions


def test_gmb_reader_forward_fills_keeps_na_and_decodes_cp1252(data_dir):
    sents = read_corpus(data_dir / "gmb_quirks.csv")
    assert [len(s.words) for s in sents] == [8, 8, 1]
    assert sents[0].words[:2] == ["The", "NA"] and sents[0].tags[1] == "B-org"
    assert sents[0].words[5] == "\u2019t" and sents[0].words[7] == "\u2026"  # bytes 0x92, 0x85
    assert sents[1].words[3] == "," and sents[1].words[5] == "René"
    assert sents[2].words == ["NA"]


def test_gmb_sample_and_limit(data_dir):
    sents = read_corpus(data_dir / "gmb_train.csv")
    assert len(sents) == 303
    assert sents[0].words[:3] == ["Thousands", "of", "demonstrators"]
    assert all(len(s.words) == len(s.tags) > 0 for s in sents)
    assert len(read_corpus(data_dir / "gmb_train.csv", limit=10)) == 10


def test_conll_two_columns(data_dir):
    sents = read_corpus(data_dir / "wnut17_sample.conll")
    assert len(sents) == 40
    assert sents[0].words[:3] == ["@paulwalk", "It", "'s"]
    assert ("Empire", "B-location") in zip(sents[0].words, sents[0].tags)


def test_conll_four_columns_and_docstart(data_dir):
    sents = read_corpus(data_dir / "conll4_sample.conll")
    assert [s.words[0] for s in sents] == ["Maria", "Acme", "Rain"]
    assert sents[0].tags == ["B-PER", "I-PER", "O", "O", "B-LOC", "I-LOC", "O"]
    assert sents[2].tags[-1] == "B-LOC"  # last sentence without a trailing blank line


def test_labelstudio_export(data_dir):
    sents = read_corpus(data_dir / "labelstudio_export.json")
    by_task = {s.source.split("task ")[1]: s for s in sents}
    assert sorted(by_task) == ["1", "2", "3", "5"]  # task 4 has no annotation
    s1 = by_task["1"]
    assert [(s1.words[a], k) for a, _, k in decode_entities(s1.tags)] == \
        [("Angela", "PER"), ("Emmanuel", "PER"), ("Paris", "LOC")]
    # task 2: the latest non-cancelled annotation wins; offsets after the emoji count code points
    s2 = by_task["2"]
    assert [(" ".join(s2.words[a:b]), k) for a, b, k in decode_entities(s2.tags)] == [("Apple", "ORG"), ("Tōkyō", "LOC")]
    assert set(by_task["3"].tags) == {"O"}  # an empty annotation is a real "no entity" label
    assert by_task["5"].tags == ["B-LOC", "B-LOC"]  # adjacent entities stay apart


def test_labelstudio_span_cutting_a_word_names_the_task(data_dir):
    with pytest.raises(CorpusError, match=r"task 9: span 'ngela' \[1:6\] cuts through the word 'Angela'"):
        read_corpus(data_dir / "labelstudio_cut_word.json")


def test_regions_with_whitespace_edges_are_trimmed_and_overlaps_refused():
    text = "Hi Paris ok"
    region = {"type": "labels", "value": {"start": 2, "end": 9, "labels": ["LOC"]}}
    assert sentence_from_regions(text, [region], "t").tags == ["O", "B-LOC", "O"]
    overlap = {"type": "labels", "value": {"start": 3, "end": 11, "labels": ["X"]}}
    with pytest.raises(CorpusError, match="overlapping"):
        sentence_from_regions(text, [region, overlap], "t")


def entity_texts(text: str, sentence) -> list[str]:
    words = split_words(text)
    assert [w.text for w in words] == sentence.words
    return [text[words[a].start : words[b - 1].end] for a, b, _ in decode_entities(sentence.tags)]


@pytest.mark.parametrize("text, entities", HARD_TEXTS)
def test_regions_in_code_points_cut_the_same_words(text, entities):
    sentence = sentence_from_regions(text, hard_regions(text, entities), "t")
    assert entity_texts(text, sentence) == entities


def test_offsets_that_miss_the_quoted_text_are_mended_or_refused():
    text = "😀 🇩🇪 Big news: Apple opened"
    start = text.index("Apple")
    utf16 = {"type": "labels", "value": {"start": start + 3, "end": start + 8, "text": "Apple", "labels": ["ORG"]}}
    assert entity_texts(text, sentence_from_regions(text, [utf16], "t")) == ["Apple"]  # counted in UTF-16 units
    wrong = {"type": "labels", "value": {"start": 0, "end": 5, "text": "Banana", "labels": ["ORG"]}}
    with pytest.raises(CorpusError, match="not the region's text 'Banana'"):
        sentence_from_regions(text, [wrong], "t")
    outside = {"type": "labels", "value": {"start": 20, "end": 99, "labels": ["ORG"]}}
    with pytest.raises(CorpusError, match="outside the text"):
        sentence_from_regions(text, [outside], "t")


def test_format_detection(data_dir):
    assert detect_format(data_dir / "gmb_train.csv") == "gmb"
    assert detect_format(data_dir / "wnut17_sample.conll") == "conll"
    assert detect_format(data_dir / "labelstudio_export.json") == "labelstudio"


@pytest.mark.parametrize(
    "content, fmt, message",
    [
        ("", None, "no sentences"),
        ("-DOCSTART- O\n\n", "conll", "no sentences"),
        ("a B-per\nb Q-per\n", "conll", "unknown label 'Q-per'"),
        ("loneword\n", "conll", "expected 'word ... tag'"),
        ("a,b,c\n1,2,3\n", "gmb", "not a GMB file"),
        ("[1, 2]", "labelstudio", "not a Label Studio task"),
        ("[{oops", "labelstudio", "not valid JSON"),
    ],
)
def test_bad_corpora_give_clear_errors(tmp_path, content, fmt, message):
    path = tmp_path / "corpus.txt"
    path.write_text(content)
    with pytest.raises(CorpusError, match=message):
        read_corpus(path, fmt)


def test_missing_file(tmp_path):
    with pytest.raises(CorpusError, match="no such file"):
        read_corpus(tmp_path / "nope.csv")


def test_text_field_is_found_or_reported(tmp_path):
    tasks = [{"id": 1, "data": {"body": "Hi Bob", "other": "x"}, "annotations": [{"id": 1, "result": []}]}]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(tasks))
    with pytest.raises(CorpusError, match="which data field"):
        read_corpus(path)
    tasks[0]["data"] = {"body": "Hi Bob", "n": 3}
    path.write_text(json.dumps(tasks))
    assert read_corpus(path)[0].words == ["Hi", "Bob"]
