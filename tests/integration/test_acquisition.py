"""Active learning: task confidences per strategy, BALD from dropout passes, the diverse batch
choice, the task score /predict sends, and the simulator choosing each round's tasks from the
served model."""

from __future__ import annotations

import math

import numpy as np
import pytest

from backend.config import Settings
from backend.ner.acquisition import (BALD_PASSES, TASK_SCORE, bald, by_bald, confidence, least_confidence, mnlp, pick,
                                     token_entropy)
from backend.ner.predictor import WordTags
from backend.ner.words import split_words
from worker.training.recipe import Current
from simulator.inprocess import next_batch, shuffled


def words(scores, entropies=None) -> WordTags:
    return WordTags(["O"] * len(scores), list(scores), list(entropies or [None] * len(scores)))


def test_each_strategy_s_confidence():
    w = words([0.9, 0.4, None, 0.8], [0.1, 1.0, None, 0.3])
    assert least_confidence(w) == 0.4
    assert mnlp(w) == pytest.approx((0.9 * 0.4 * 0.8) ** (1 / 3))
    assert token_entropy(w, n_labels=5) == pytest.approx(1 - (1.4 / 3) / math.log(5))
    # an unscored text has nothing to annotate: last in the order
    empty = words([None, None])
    assert least_confidence(empty) == mnlp(empty) == token_entropy(empty, 5) == 1.0
    # MNLP does not punish length: one unsure word among many sure ones counts for less
    assert mnlp(words([0.99] * 20 + [0.5])) > mnlp(words([0.99, 0.5]))
    assert least_confidence(words([0.99] * 20 + [0.5])) == least_confidence(words([0.99, 0.5]))
    with pytest.raises(ValueError, match="random"):
        confidence(w, "random", 5)


def test_bald_is_the_passes_disagreement_not_their_shared_doubt():
    unsure = np.array([[[0.5, 0.5], [0.9, 0.1]]] * 4)  # four passes that agree, one word unsure
    assert bald(unsure) == pytest.approx(0.0, abs=1e-9)
    split = np.array([[[1.0, 0.0]], [[0.0, 1.0]]])  # two passes, each sure, of different tags
    assert bald(split) == pytest.approx(math.log(2), rel=1e-6)
    # the mean over words: a long text of agreed words counts its one disputed word for less
    assert bald(np.concatenate([split, np.array([[[1.0, 0.0]] * 3] * 2)], axis=1)) == pytest.approx(math.log(2) / 4, rel=1e-6)
    assert bald(np.zeros((3, 0, 2))) == 0.0
    assert by_bald([7, 8, 9], [unsure, None, split]) == [9, 7, 8]


def test_pick_takes_the_least_confident_and_diverse_skips_near_duplicates():
    texts = {1: "Bomb kills five in Baghdad market".split(), 2: "Bomb kills five in Baghdad market today".split(),
             3: "Talks on trade resume in Geneva".split(), 4: "Rain expected".split()}
    conf = {1: 0.1, 2: 0.2, 3: 0.3, 4: 0.9}
    ids = list(texts)
    assert pick(ids, [conf[i] for i in ids], 2, "mnlp", texts.get) == [1, 2]
    assert pick(ids, [conf[i] for i in ids], 2, "diverse", texts.get) == [1, 3]
    # with too few distinct texts, the passed-over ones fill the batch
    assert pick([1, 2], [0.1, 0.2], 2, "diverse", texts.get) == [1, 2]


def test_the_task_score_sent_is_the_chosen_strategy_s(predictor):
    texts = ["Iraqi officials met U.S. envoys in Baghdad on Sunday .", "nothing here", "Bush flew to London ."]
    tagged = predictor.tag_words([[w.text for w in split_words(t)] for t in texts])
    for tags, prediction in zip(tagged, predictor.predict(texts)):
        expected = 1 - confidence(tags, TASK_SCORE, len(predictor.labels.labels))
        assert prediction.uncertainty == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("strategy", ["uncertainty", "mnlp", "entropy"])
def test_a_round_takes_the_tasks_the_served_model_is_least_sure_of(strategy, trained, gmb_eval):
    settings = Settings(precision="fp32")
    current = Current("v1", trained.ner, 40)
    pool = gmb_eval[:30]
    taken = shuffled(pool, 0)[:10]
    chosen = next_batch(pool, taken, 5, strategy, shuffled(pool, 0), current, settings)
    left = [i for i in range(len(pool)) if i not in taken]
    tagged = current.predictor(settings).tag_words([pool[i].words for i in left])
    scores = {i: confidence(t, strategy, len(trained.ner.labels.labels)) for i, t in zip(left, tagged)}
    assert len(chosen) == 5 and not set(chosen) & set(taken)
    assert sorted(scores[i] for i in chosen) == sorted(scores.values())[:5]
    # random, and any strategy before a model is served, continues the seeded shuffle
    assert next_batch(pool, taken, 5, "random", shuffled(pool, 0), current, settings) == shuffled(pool, 0)[10:15]
    assert next_batch(pool, taken, 5, strategy, shuffled(pool, 0), None, settings) == shuffled(pool, 0)[10:15]


def test_clustered_takes_each_cluster_s_least_confident_the_least_annotated_cluster_first(trained, gmb_eval):
    settings = Settings(precision="fp32")
    current = Current("v1", trained.ner, 40)
    pool = gmb_eval[:30]
    taken = shuffled(pool, 0)[:10]
    clusters = [i % 3 for i in range(len(pool))]  # three parts; cluster 0 holds most of `taken`
    annotated = {c: sum(1 for i in taken if clusters[i] == c) for c in range(3)}
    order = shuffled(pool, 0)
    # before the model orders the tasks, the covering order goes on
    assert next_batch(pool, taken, 4, "clustered", order, current, settings, False, clusters) == order[10:14]
    chosen = next_batch(pool, taken, 4, "clustered", order, current, settings, True, clusters)
    left = [i for i in range(len(pool)) if i not in taken]
    tagged = current.predictor(settings).tag_words([pool[i].words for i in left])
    scores = {i: confidence(t, TASK_SCORE, len(trained.ner.labels.labels)) for i, t in zip(left, tagged)}
    assert len(chosen) == 4 and not set(chosen) & set(taken)
    first = min(range(3), key=lambda c: (annotated[c], min(scores[i] for i in left if clusters[i] == c)))
    assert clusters[chosen[0]] == first
    assert scores[chosen[0]] == min(scores[i] for i in left if clusters[i] == first)
    # each task taken comes from a cluster with the fewest annotated, counting those taken before it
    counts = dict(annotated)
    for i in chosen:
        assert counts[clusters[i]] == min(counts.values())
        counts[clusters[i]] += 1


def test_dropout_samples_differ_by_pass_repeat_by_seed_and_leave_the_model_as_it_was(predictor):
    docs = [[w.text for w in split_words(t)] for t in ["Iraqi officials met U.S. envoys in Baghdad .", "", "Bush flew ."]]
    first = predictor.dropout_samples(docs, 3, seed=5)
    assert first[1] is None and first[0].shape == (3, len(docs[0]), len(predictor.labels.labels))
    assert not np.allclose(first[0][0], first[0][1])  # dropout acts: each pass sees another network
    assert all(np.allclose(a, b) for a, b in zip(first[2], predictor.dropout_samples(docs, 3, seed=5)[2]))
    assert not predictor.model.training  # served predictions stay deterministic
    tagged = predictor.tag_words(docs)
    assert tagged == predictor.tag_words(docs)


def test_bald_takes_the_passes_most_divided_among_the_least_confident(trained, gmb_eval):
    settings = Settings(precision="fp32")
    current = Current("v1", trained.ner, 40)
    pool = gmb_eval[:30]
    taken = shuffled(pool, 0)[:10]
    order = shuffled(pool, 0)
    assert next_batch(pool, taken, 4, "bald", order, current, settings, False) == order[10:14]
    chosen = next_batch(pool, taken, 4, "bald", order, current, settings, True)
    left = [i for i in order if i not in taken]
    predictor = current.predictor(settings)
    tagged = predictor.tag_words([pool[i].words for i in left])
    sure = [confidence(t, TASK_SCORE, len(trained.ner.labels.labels)) for t in tagged]
    unsure = pick(left, sure, len(left), TASK_SCORE, lambda i: pool[i].words)  # as the round ranks them
    samples = predictor.dropout_samples([pool[i].words for i in unsure], BALD_PASSES, seed=len(taken))
    scores = {i: bald(s) for i, s in zip(unsure, samples)}
    assert len(chosen) == 4 and not set(chosen) & set(taken)
    assert sorted((scores[i] for i in chosen), reverse=True) == pytest.approx(sorted(scores.values(), reverse=True)[:4])
