"""Sentence embeddings from the packaged encoder, as the cold-start order uses them."""

from __future__ import annotations

import numpy as np

from backend.ner.coverage import cover_order, embed


def test_similar_sentences_embed_close_and_a_cover_spreads_over_topics():
    texts = ["Angela Merkel visited Paris on Monday .", "The stock market fell sharply in Tokyo .",
             "Merkel travelled to Paris this week .", "Shares dropped steeply on the Tokyo exchange .",
             "Heavy rain flooded villages in Bangladesh .", "Floods swept through Bangladeshi villages ."]
    vectors = embed(texts)
    assert vectors.shape == (6, 384) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similarity = vectors @ vectors.T
    for a, b, other in [(0, 2, 1), (1, 3, 4), (4, 5, 0)]:
        assert similarity[a, b] > similarity[a, other] + 0.2, (texts[a], texts[b], texts[other])
    topic = {0: "politics", 2: "politics", 1: "markets", 3: "markets", 4: "floods", 5: "floods"}
    assert {topic[i] for i in cover_order(vectors, clusters=3)[:3]} == {"politics", "markets", "floods"}
