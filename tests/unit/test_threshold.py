"""Spans a weak model is unsure of are not served: their words become O."""

from backend.ner.predictor import WordTags, drop_unsure


def test_entities_below_the_threshold_become_o_others_stay():
    tags = ["B-per", "I-per", "O", "B-geo", "O", "I-org"]
    scores = [0.9, 0.7, 0.99, 0.55, 0.99, None]
    out = WordTags(list(tags), scores)
    drop_unsure(out, 0.6)
    # per: mean 0.8 stays; geo: 0.55 goes; the stray I-org has no score to judge and stays
    assert out.tags == ["B-per", "I-per", "O", "O", "O", "I-org"]
    drop_unsure(out, 0.85)
    assert out.tags == ["O", "O", "O", "O", "O", "I-org"]
