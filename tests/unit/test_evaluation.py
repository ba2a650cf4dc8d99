import pytest

from backend.ner.evaluation import score


def test_perfect_and_partial_scores():
    gold = [["B-per", "I-per", "O", "B-geo"], ["B-geo", "O"]]
    assert score(gold, gold)["f1"] == 1.0
    # one of three gold entities found, plus one false positive
    pred = [["B-per", "O", "O", "B-geo"], ["O", "B-per"]]
    figures = score(gold, pred)
    assert figures["precision"] == pytest.approx(1 / 3, abs=1e-4)
    assert figures["recall"] == pytest.approx(1 / 3, abs=1e-4)
    assert figures["support"] == 3
    assert figures["per_label"]["geo"] == {"precision": 1.0, "recall": 0.5, "f1": 0.6667, "support": 2}
    assert figures["per_label"]["per"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert figures["macro_f1"] == pytest.approx(1 / 3, abs=1e-3)


def test_shape_mismatch_is_refused():
    with pytest.raises(ValueError):
        score([["O"]], [["O", "O"]])
