"""Task-adaptive pre-training: a short masked-LM pass of the base encoder over a project's own texts."""

from __future__ import annotations

import hashlib
import logging
import random
import shutil
import time
from dataclasses import replace
from pathlib import Path

import torch

from backend.config import Settings
from backend.ner.alignment import IGNORE_INDEX
from backend.ner.basemodel import load_tokenizer, quiet_transformers, resolve_base_model
from backend.ner.batching import pad_batch

log = logging.getLogger(__name__)

MASK_SHARE = 0.15  # BERT's: of the word pieces, 80 % become [MASK], 10 % a random piece, 10 % stay
MAX_TOKENS = 128  # project texts are cut here: a sentence or two is what NER tasks hold


def adapted_encoder(project_dir: Path) -> Path:
    """Where a project's encoder, adapted to its texts, is kept (one per project)."""
    return Path(project_dir) / "adapted-encoder"


def project_settings(settings: Settings, project_dir: Path) -> Settings:
    """`settings` whose base model is the project's adapted encoder, when it has one."""
    folder = adapted_encoder(project_dir)
    return replace(settings, base_model=str(folder)) if (folder / "config.json").exists() else settings


def adapted_folder(root: str | Path, texts: list[str], base: str | None, steps: int, seed: int) -> Path:
    """Where the encoder adapted to exactly these texts (and base, steps, seed) is cached."""
    digest = hashlib.sha256()
    for part in (base or "", str(steps), str(seed), *texts):
        digest.update(part.encode("utf-8", "replace") + b"\0")
    return Path(root) / f"adapted-{digest.hexdigest()[:16]}"


def _masked(ids: list[int], tokenizer, rng: random.Random) -> tuple[list[int], list[int]]:
    """BERT's masking of one text's pieces: (inputs, labels IGNORE_INDEX where nothing is asked)."""
    special = set(tokenizer.all_special_ids)
    inputs, labels = list(ids), [IGNORE_INDEX] * len(ids)
    ordinary = [i for i, piece in enumerate(ids) if piece not in special]
    chosen = {i for i in ordinary if rng.random() < MASK_SHARE} or {rng.choice(ordinary)}  # one at least
    for i, piece in enumerate(ids):
        if i not in chosen:
            continue
        labels[i] = piece
        roll = rng.random()
        if roll < 0.8:
            inputs[i] = tokenizer.mask_token_id
        elif roll < 0.9:
            inputs[i] = rng.randrange(tokenizer.vocab_size)
    return inputs, labels


def _masked_loss(model, batch: dict) -> torch.Tensor:
    """The masked-LM loss, the vocabulary projection computed at the masked pieces only (about
    15 % of them): per piece that projection is 11.7 M multiply-adds (384 x 30,522), about as many
    as the whole 6-layer encoder's 10.6 M."""
    labels = batch.pop("labels")
    hidden = model.bert(**batch).last_hidden_state
    asked = labels != IGNORE_INDEX
    logits = model.cls(hidden[asked])
    return torch.nn.functional.cross_entropy(logits, labels[asked])


def adapt_encoder(texts: list[str], out: Path, base: str | None = None, steps: int = 300, seed: int = 0,
                  batch_size: int = 32, learning_rate: float = 1e-4) -> Path:
    """Continue masked-LM training of `base` on `texts` for `steps` optimiser steps and save the
    encoder (no LM head) with its tokenizer in `out`, which is returned; an existing `out` is reused.
    Word-piece embeddings stay frozen, as in fine-tuning, so the adapted encoder and the
    tokenizer keep one vocabulary."""
    if (out / "config.json").exists():
        return out
    from transformers import BertForMaskedLM, get_linear_schedule_with_warmup

    started = time.monotonic()
    rng = random.Random(seed)
    torch.manual_seed(seed)
    tokenizer = load_tokenizer(base)
    with quiet_transformers():  # the sentence encoder has no LM head: it starts fresh
        model = BertForMaskedLM.from_pretrained(resolve_base_model(base))
    model.get_input_embeddings().weight.requires_grad_(False)
    encoded = [ids for ids in tokenizer([t for t in texts if t.strip()], truncation=True, max_length=MAX_TOKENS)["input_ids"]
               if len(ids) > 3]  # [CLS], [SEP] and one piece or more
    if not encoded:
        raise ValueError("no text to adapt the encoder to")
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=learning_rate, weight_decay=0.01)
    scheduler = get_linear_schedule_with_warmup(optimizer, max(1, steps // 10), steps)
    model.train()
    losses = []
    order: list[int] = []
    for _ in range(steps):
        if len(order) < batch_size:
            order += rng.sample(range(len(encoded)), len(encoded))
        batch, order = order[:batch_size], order[batch_size:]
        pairs = [_masked(encoded[i], tokenizer, rng) for i in batch]
        padded = pad_batch([{"input_ids": x, "labels": y} for x, y in pairs], tokenizer.pad_token_id or 0)
        loss = _masked_loss(model, padded)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    model.bert.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    partial.rename(out)
    head, tail = losses[: max(1, steps // 10)], losses[-max(1, steps // 10):]
    log.info("adapted the encoder on %d texts in %.0f s: masked-LM loss %.2f -> %.2f", len(encoded),
             time.monotonic() - started, sum(head) / len(head), sum(tail) / len(tail))
    return out

