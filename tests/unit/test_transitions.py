import itertools

import numpy as np
import pytest

from backend.ner.labels import LabelSet
from backend.ner.transitions import (
    check_transitions,
    estimate_transitions,
    viterbi,
    viterbi_many,
)

LABELS = LabelSet.from_types(["org"])  # O, B-org, I-org


def test_estimates_are_smoothed_log_probabilities():
    t = np.asarray(estimate_transitions([["B-org", "I-org", "O"], ["O", "O"]], LABELS))
    assert t.shape == (4, 3)
    assert np.allclose(np.exp(t).sum(axis=1), 1.0)
    ids = LABELS.label2id
    assert t[1 + ids["B-org"], ids["I-org"]] > t[1 + ids["B-org"], ids["B-org"]]  # B->I seen, B->B not
    assert np.isfinite(t).all()  # unseen transitions are unlikely, never impossible


def test_viterbi_mends_a_broken_entity_but_keeps_confident_tags():
    ids = LABELS.label2id
    many = [["B-org", "I-org", "I-org", "O"]] * 50 + [["O", "B-org", "O"]] * 50
    t = np.asarray(estimate_transitions(many, LABELS))
    # "U.S. Navy": the classifier slightly prefers B-org for "Navy" after I-org
    probs = np.array([[0.05, 0.9, 0.05], [0.05, 0.05, 0.9], [0.05, 0.5, 0.45]])
    assert viterbi(probs, t) == [ids["B-org"], ids["I-org"], ids["I-org"]]
    assert list(probs.argmax(axis=1)) == [1, 2, 1]
    # a confident second entity stays separate
    sure = np.array([[0.01, 0.98, 0.01], [0.01, 0.97, 0.02]])
    assert viterbi(sure, t) == [ids["B-org"], ids["B-org"]]
    assert viterbi(np.zeros((0, 3)), t) == []


def test_malformed_matrices_are_refused():
    with pytest.raises(ValueError):
        check_transitions([[0.0, 0.0]], LABELS)
    with pytest.raises(ValueError):
        check_transitions([[1.0] * 3] * 4, LABELS)


def _best_by_brute_force(probs: np.ndarray, t: np.ndarray, weight: float) -> list[int]:
    """Every tag sequence scored in full: the oracle Viterbi must agree with."""
    emissions = np.log(np.clip(probs, 1e-9, 1.0))
    best, best_score = [], -np.inf
    for path in itertools.product(range(probs.shape[1]), repeat=len(probs)):
        score = weight * t[0, path[0]] + emissions[0, path[0]]
        for i in range(1, len(path)):
            score += weight * t[1 + path[i - 1], path[i]] + emissions[i, path[i]]
        if score > best_score:
            best, best_score = list(path), score
    return best


def test_viterbi_many_finds_each_documents_best_path_whatever_the_lengths():
    rng = np.random.default_rng(7)
    t = np.asarray(estimate_transitions([["B-org", "I-org", "O"], ["O", "B-org"], ["O"]], LABELS))
    lengths = [0, 1, 5, 2, 4, 1, 3, 5, 0]  # unsorted, empty, equal lengths
    docs = [rng.dirichlet(np.ones(3) * 0.5, size=n) if n else np.zeros((0, 3)) for n in lengths]
    together = viterbi_many(docs, t, weight=0.8)
    assert [len(path) for path in together] == lengths
    for probs, path in zip(docs, together):
        expected = _best_by_brute_force(probs, t, 0.8) if len(probs) else []
        assert path == expected
        assert viterbi(probs, t, weight=0.8) == expected
    assert viterbi_many([], t) == []
