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


def test_a_span_of_an_unsure_type_with_sure_boundaries_is_served():
    """The same chosen-tag probabilities (0.6): served from 0.9 where the boundaries are sure (a
    wrong type costs a relabel, as a hidden span costs a create), dropped where they are not."""
    tags = ["B-per", "I-per", "O"]
    sure = WordTags(list(tags), [0.6, 0.6, 0.99], begins=[0.98, 0.01, 0.0], insides=[0.0, 0.97, 0.01])
    unsure = WordTags(list(tags), [0.6, 0.6, 0.99], begins=[0.62, 0.01, 0.0], insides=[0.0, 0.61, 0.35])
    drop_unsure(sure, 0.9)
    drop_unsure(unsure, 0.9)
    assert sure.tags == tags
    assert unsure.tags == ["O", "O", "O"]
