"""The int8 engine's logits become probabilities in numpy, as torch would make them."""

import numpy as np
import torch

from backend.ner.predictor import softmax


def test_numpy_softmax_matches_torch_and_survives_large_logits():
    logits = np.random.default_rng(0).normal(scale=8.0, size=(3, 5, 17)).astype(np.float32)
    logits[0, 0, 3] = 1e4  # exp would overflow without the shift by the row's maximum
    ours = softmax(logits)
    theirs = torch.softmax(torch.from_numpy(logits), dim=-1).numpy()
    assert np.isfinite(ours).all()
    np.testing.assert_allclose(ours, theirs, atol=1e-6)
    np.testing.assert_allclose(ours.sum(axis=-1), 1.0, atol=1e-5)
