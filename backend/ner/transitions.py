"""Tag-transition statistics from training data and Viterbi decoding with them.

The classifier scores each word on its own, so it can say B-org for "Navy" right after "U.S."
tagged I-org. Decoding with how often each tag follows another in the training data (a bigram
prior over tags, add-one smoothed) fixes such breaks without changing the model.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .labels import LabelSet


def estimate_transitions(tag_sequences: Iterable[list[str]], labels: LabelSet) -> list[list[float]]:
    """Log P(tag | previous tag) as a (len(labels) + 1) x len(labels) matrix; row 0 is the start."""
    ids = labels.label2id
    n = len(labels.labels)
    counts = np.ones((n + 1, n))  # add-one smoothing: unseen transitions stay possible
    for tags in tag_sequences:
        previous = 0
        for tag in tags:
            current = ids[tag]
            counts[previous, current] += 1
            previous = current + 1
    logp = np.log(counts / counts.sum(axis=1, keepdims=True))
    return logp.round(5).tolist()


# How much the tag prior counts against the classifier. The classifier's probabilities already
# include how common each tag is, so the full prior (1.0) counts that twice and over-predicts O;
# on GMB (2,000 training sentences, 1,000 unseen) micro-F1 was 0.698 without the prior, 0.715 at
# 1.0, 0.722 at 0.5, 0.720 at 0.3 and 0.34 at 2.0.
TRANSITION_WEIGHT = 0.5


def viterbi(probs: np.ndarray, transitions: np.ndarray, weight: float = TRANSITION_WEIGHT) -> list[int]:
    """The best tag ids for words with per-word probabilities `probs` (words x tags).

    Maximises sum(log p(tag_i | text)) + weight * sum(log P(tag_i | tag_i-1)).
    """
    return viterbi_many([probs], transitions, weight)[0]


def viterbi_many(docs: list[np.ndarray], transitions: np.ndarray, weight: float = TRANSITION_WEIGHT) -> list[list[int]]:
    """`viterbi` for many documents at once: one numpy step per word position, not per word.

    Documents are sorted longest first, so at position i the ones still running are a prefix of
    the sorted order and each step is a slice. A batch of short texts costs about as much as its
    longest one, where a Python loop per document cost 0.5 ms each (10 % of batched prediction).
    """
    order = sorted(range(len(docs)), key=lambda d: -len(docs[d]))
    lengths = np.array([len(docs[d]) for d in order], dtype=np.int64)
    out: list[list[int]] = [[] for _ in docs]
    if not len(lengths) or lengths[0] == 0:
        return out
    longest, n_tags = int(lengths[0]), len(transitions[0])
    emissions = np.zeros((len(order), longest, n_tags))
    for row, d in enumerate(order):
        emissions[row, : len(docs[d])] = np.log(np.clip(docs[d], 1e-9, 1.0))
    transitions = weight * np.asarray(transitions)
    step = transitions[1:]  # previous tag x current tag
    score = transitions[0] + emissions[:, 0]
    back = np.zeros((len(order), longest, n_tags), dtype=np.int64)
    running = np.searchsorted(-lengths, -np.arange(longest), side="left")  # docs with length > i
    for i in range(1, longest):
        k = running[i]
        candidates = score[:k, :, None] + step  # doc x previous x current
        back[:k, i] = candidates.argmax(axis=1)
        score[:k] = candidates.max(axis=1) + emissions[:k, i]
    # Walk back from each document's own last word.
    rows = np.arange(len(order))
    tags = np.zeros((len(order), longest), dtype=np.int64)
    last = np.maximum(lengths - 1, 0)
    tags[rows, last] = score.argmax(axis=1)
    for i in range(longest - 1, 0, -1):
        k = running[i]
        tags[:k, i - 1] = back[rows[:k], i, tags[:k, i]]
    for row, d in enumerate(order):
        out[d] = tags[row, : lengths[row]].tolist()
    return out


def check_transitions(matrix, labels: LabelSet) -> np.ndarray:
    """The matrix as an array, after checking its shape against `labels`."""
    arr = np.asarray(matrix, dtype=np.float64)
    n = len(labels.labels)
    if arr.shape != (n + 1, n) or not np.isfinite(arr).all() or (arr > 1e-6).any():
        raise ValueError(f"transition matrix must be {n + 1} x {n} log-probabilities")
    return arr
