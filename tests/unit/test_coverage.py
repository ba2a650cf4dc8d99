"""The cold-start order: the first tasks cover the data, commonest parts first, none repeated early."""

from __future__ import annotations

import numpy as np

from backend.ner.coverage import (HANDOVER_ENTITIES, HANDOVER_F1, cluster_of, cover_order, cover_scores, handed_over,
                                  within_clusters)


def blobs(sizes: list[int], dim: int = 16, seed: int = 1) -> tuple[np.ndarray, list[int]]:
    """Unit vectors around len(sizes) orthogonal directions, and the blob of each."""
    rng = np.random.default_rng(seed)
    vectors, owner = [], []
    for b, size in enumerate(sizes):
        centre = np.eye(dim)[b]
        points = centre + 0.05 * rng.standard_normal((size, dim))
        vectors.append(points / np.linalg.norm(points, axis=1, keepdims=True))
        owner += [b] * size
    return np.concatenate(vectors).astype(np.float32), owner


def test_every_task_once_each_part_once_before_any_repeats_the_largest_first():
    vectors, owner = blobs([40, 25, 10, 5])
    order = cover_order(vectors, clusters=4)
    assert sorted(order) == list(range(len(vectors)))
    assert [owner[i] for i in order[:4]] == [0, 1, 2, 3]
    assert [owner[i] for i in order[4:8]] == [0, 1, 2, 3]  # round robin: no part twice before all once
    # within a part, a seeded draw: the same seed the same order, another seed another one
    assert cover_order(vectors, clusters=4) == order
    assert cover_order(vectors, clusters=4, seed=1) != order


def test_within_clusters_each_parts_least_confident_in_turn():
    vectors, owner = blobs([6, 3, 2])
    assign = cluster_of(vectors, 3).tolist()
    assert len(set(zip(assign, owner))) == 3  # k-means finds the three parts
    confidences = [0.1 * i for i in range(len(vectors))]  # blob 0 the least confident throughout
    order = within_clusters(assign, confidences)
    assert sorted(order) == list(range(len(vectors)))
    assert [owner[p] for p in order[:3]] == [0, 1, 2]  # one of each part before any repeats ...
    assert order[:3] == [0, 6, 9]  # ... each its least confident, the least confident part first
    assert [owner[p] for p in order[3:6]] == [0, 1, 2]
    assert [owner[p] for p in order[8:]] == [0, 0, 0]  # the largest part's rest, least confident first
    assert order[8:] == [3, 4, 5]
    # a part annotated twice already waits until the others have had two of theirs
    later = within_clusters(assign, confidences, {assign[0]: 2})
    assert [owner[p] for p in later[:5]] == [1, 2, 1, 2, 0]


def test_small_pools_and_scores_that_sort_into_the_order():
    assert cover_order(np.zeros((0, 4), dtype=np.float32)) == []
    vectors, _ = blobs([2, 1])
    order = cover_order(vectors, clusters=50)  # more clusters than tasks
    assert sorted(order) == [0, 1, 2]
    scores = cover_scores(order)
    assert sorted(scores, key=scores.get) == order and all(0.0 <= s < 1.0 for s in scores.values())


def test_the_model_takes_over_only_when_its_dev_figures_can_be_trusted():
    assert not handed_over(None)
    assert not handed_over({"f1": 0.9, "support": HANDOVER_ENTITIES - 1})  # too few entities to judge
    assert not handed_over({"f1": HANDOVER_F1 - 0.01, "support": 500})
    assert handed_over({"f1": HANDOVER_F1, "support": HANDOVER_ENTITIES})
