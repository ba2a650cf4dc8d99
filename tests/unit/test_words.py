from backend.ner.words import piece_counts, split_tagged, split_words


def test_offsets_are_exact_on_messy_text():
    text = "  Hello\t\twörld 😀 東京 \n café  U.S.,x "
    words = split_words(text)
    assert all(text[w.start : w.end] == w.text for w in words)
    assert [w.text for w in words] == ["Hello", "wörld", "😀", "東", "京", "café", "U", ".", "S", ".", ",", "x"]
    assert words[1].start == 9 and words[-1].end == len(text) - 1


def test_combining_marks_stay_in_their_word():
    text = "cafe\u0301 ok"
    assert [w.text for w in split_words(text)] == ["cafe\u0301", "ok"]


def test_whitespace_only_and_empty_text_have_no_words():
    assert split_words("") == [] and split_words(" \t\n ") == []


def test_split_tagged_spreads_tags_over_pieces():
    words, tags = split_tagged(["The", "U.S.", "army", "New", "York-based"], ["O", "B-geo", "O", "B-org", "I-org"])
    assert words == ["The", "U", ".", "S", ".", "army", "New", "York", "-", "based"]
    assert tags == ["O", "B-geo", "I-geo", "I-geo", "I-geo", "O", "B-org", "I-org", "I-org", "I-org"]
    assert piece_counts(["The", "U.S.", "", "a-b"]) == [1, 4, 1, 3]
