from backend.ner.alignment import IGNORE_INDEX, Affixes, align_labels, encode_for_training, inside_map
from backend.ner.labels import LabelSet


def test_first_sub_token_carries_the_label():
    # word 0 has three sub-tokens, word 1 one; None marks special tokens
    word_ids = [None, 0, 0, 0, 1, None]
    assert align_labels(word_ids, [1, 0]) == [IGNORE_INDEX, 1, IGNORE_INDEX, IGNORE_INDEX, 0, IGNORE_INDEX]


def test_label_all_sub_tokens_uses_the_inside_form():
    labels = LabelSet.from_types(["per"])  # O, B-per, I-per
    ids = labels.label2id
    out = align_labels([None, 0, 0, 1, 1, None], [ids["B-per"], ids["O"]], inside_map(labels))
    assert out == [IGNORE_INDEX, ids["B-per"], ids["I-per"], ids["O"], ids["O"], IGNORE_INDEX]


def test_encoding_real_words_with_sub_tokens_and_a_word_with_none(tokenizer):
    labels = LabelSet.from_types(["per", "geo"])
    ids = labels.label2id
    words = ["Schwarzenegger", "\x92", "visited", "Tōkyō"]
    tags = ["B-per", "O", "O", "B-geo"]
    (feature,) = encode_for_training(tokenizer, [(words, tags)], labels, max_length=64)
    tokens = tokenizer.convert_ids_to_tokens(feature["input_ids"])
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]"
    labelled = [(tok, lab) for tok, lab in zip(tokens, feature["labels"]) if lab != IGNORE_INDEX]
    # "\x92" has no sub-token at all, so only three words carry labels; "tōkyō" is lower-cased
    # and stripped of accents by the uncased tokenizer but still labelled on its first piece.
    assert [lab for _, lab in labelled] == [ids["B-per"], ids["O"], ids["B-geo"]]
    assert labelled[0][0] == tokens[1] and labelled[2][0].startswith("to")
    assert len(tokens) > 5  # Schwarzenegger and tokyo split into several pieces


def test_long_sentences_become_several_windows_and_keep_every_label(tokenizer):
    labels = LabelSet.from_types(["geo"])
    words = ["Paris" if i % 7 == 0 else "and" for i in range(100)]
    tags = ["B-geo" if w == "Paris" else "O" for w in words]
    features = encode_for_training(tokenizer, [(words, tags)], labels, max_length=32)
    assert len(features) > 3 and all(len(f["input_ids"]) <= 32 for f in features)
    kept = [lab for f in features for lab in f["labels"] if lab != IGNORE_INDEX]
    assert kept == [labels.label2id[t] for t in tags]  # every word labelled exactly once


def test_affixes_of_bert(tokenizer):
    affixes = Affixes.of(tokenizer)
    assert affixes.prefix == (tokenizer.cls_token_id,) and affixes.suffix == (tokenizer.sep_token_id,)


def test_case_types_mark_capitalised_words(tokenizer):
    labels = LabelSet.from_types(["per"])
    words, tags = ["Schwarzenegger", "met", "obama", "ÉMILE"], ["B-per", "O", "B-per", "B-per"]
    (feature,) = encode_for_training(tokenizer, [(words, tags)], labels, max_length=64, case_feature=True)
    enc = tokenizer(words, is_split_into_words=True)
    expected = [0 if w is None else int(words[w][0].isupper()) for w in enc.word_ids()]
    assert feature["token_type_ids"] == expected
    assert expected[0] == 0 and expected[1] == 1 and 0 in expected[1:-1]
    (plain,) = encode_for_training(tokenizer, [(words, tags)], labels, max_length=64)
    assert "token_type_ids" not in plain
