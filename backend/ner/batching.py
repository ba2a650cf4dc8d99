"""Dynamic padding: model-input dicts of different lengths -> one padded batch of tensors."""

from __future__ import annotations

import torch

from .alignment import IGNORE_INDEX


def pad_batch(features: list[dict[str, list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    """Pad every feature to the longest one and add the attention mask.

    `input_ids` pad with `pad_id`, `labels` (training) with IGNORE_INDEX so the loss skips them,
    `token_type_ids` (the casing channel) with 0; keys absent from the features stay absent.
    """
    width = max(len(f["input_ids"]) for f in features)
    fill = {"input_ids": pad_id, "labels": IGNORE_INDEX, "token_type_ids": 0}
    keys = [k for k in fill if k in features[0]]
    batch = {k: torch.full((len(features), width), fill[k], dtype=torch.long) for k in keys}
    batch["attention_mask"] = torch.zeros((len(features), width), dtype=torch.long)
    for i, f in enumerate(features):
        n = len(f["input_ids"])
        for k in keys:
            batch[k][i, :n] = torch.tensor(f[k])
        batch["attention_mask"][i, :n] = 1
    return batch
