"""Batched inference: texts or word lists -> per-word tags and probabilities -> spans."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .alignment import Affixes
from .checkpoint import LoadedModel, load_model
from .device import autocast, pick_device, resolve_precision
from .labels import LabelSet
from .spans import Prediction, decode_spans
from .windows import Window, plan_windows, word_starts
from .words import split_words


@dataclass(frozen=True)
class WordTags:
    """The chosen tag and its probability for each word (None: the tokenizer dropped the word)."""

    tags: list[str]
    scores: list[float | None]


@dataclass(frozen=True)
class _Row:
    """One window of one document, ready for the model."""

    doc: int
    window: Window
    input_ids: list[int]


class Predictor:
    """A token-classification model with the tokenizer and labels it was trained with."""

    def __init__(
        self,
        model,
        tokenizer,
        labels: LabelSet,
        *,
        device: torch.device | None = None,
        precision: str = "auto",
        max_length: int = 512,
        stride: int = 128,
        batch_size: int = 32,
    ) -> None:
        self.device = device or next(model.parameters()).device
        self.model = model.to(self.device).eval()
        self.tokenizer = tokenizer
        self.labels = labels
        self.precision = resolve_precision(precision, self.device)
        self.affixes = Affixes.of(tokenizer)
        model_max = getattr(model.config, "max_position_embeddings", max_length)
        self.max_length = min(max_length, model_max)
        self.budget = self.max_length - len(self.affixes)
        self.stride = stride
        self.batch_size = batch_size

    @classmethod
    def from_folder(cls, path, device: str | None = None, **options) -> "Predictor":
        loaded: LoadedModel = load_model(path, pick_device(device))
        return cls(loaded.model, loaded.tokenizer, loaded.labels, **options)

    # ---- words -> tags ---------------------------------------------------------------------

    def tag_words(self, docs: list[list[str]]) -> list[WordTags]:
        """Tag every word of every document in as few forward passes as possible.

        Documents are tokenized together, cut into word-aligned windows, sorted by length and run
        in padded batches. A word's tag is its first sub-token's; a word seen by two overlapping
        windows takes the tag from the window where it sits farther from an edge.
        """
        results = [WordTags(["O"] * len(d), [None] * len(d)) for d in docs]
        nonempty = [i for i, d in enumerate(docs) if d]
        if not nonempty:
            return results
        enc = self.tokenizer(
            [docs[i] for i in nonempty], is_split_into_words=True, add_special_tokens=False, verbose=False
        )
        rows: list[_Row] = []
        firsts: dict[int, list[int]] = {}  # doc -> token index of each word-first sub-token
        word_of: dict[int, list[int | None]] = {}
        for k, doc in enumerate(nonempty):
            ids, wids = enc["input_ids"][k], enc.word_ids(k)
            firsts[doc], word_of[doc] = word_starts(wids), wids
            for win in plan_windows(wids, self.budget, self.stride):
                rows.append(_Row(doc, win, self.affixes.wrap(ids[win.start : win.end])))
        best: dict[tuple[int, int], int] = {}  # (doc, word) -> centrality of the window used
        for batch in self._batches(rows):
            label_ids, probs = self._forward([r.input_ids for r in batch])
            for r, lab, prob in zip(batch, label_ids, probs):
                self._collect(r, lab, prob, firsts[r.doc], word_of[r.doc], results[r.doc], best)
        return results

    def _batches(self, rows: list[_Row]):
        ordered = sorted(rows, key=lambda r: len(r.input_ids))
        for i in range(0, len(ordered), self.batch_size):
            yield ordered[i : i + self.batch_size]

    def _forward(self, sequences: list[list[int]]) -> tuple[list[list[int]], list[list[float]]]:
        """Argmax label ids and their probabilities, per token, for a batch (dynamic padding)."""
        width = max(len(s) for s in sequences)
        pad = self.tokenizer.pad_token_id or 0
        input_ids = torch.full((len(sequences), width), pad, dtype=torch.long)
        mask = torch.zeros((len(sequences), width), dtype=torch.long)
        for i, s in enumerate(sequences):
            input_ids[i, : len(s)] = torch.tensor(s)
            mask[i, : len(s)] = 1
        with torch.inference_mode(), autocast(self.device, self.precision):
            logits = self.model(input_ids=input_ids.to(self.device), attention_mask=mask.to(self.device)).logits
        prob, label = torch.softmax(logits.float(), dim=-1).max(dim=-1)
        return label.cpu().tolist(), prob.cpu().tolist()

    def _collect(self, row, label_ids, probs, firsts, wids, out: WordTags, best) -> None:
        offset = len(self.affixes.prefix) - row.window.start
        for t in firsts:
            if t < row.window.start or t >= row.window.end:
                continue
            key = (row.doc, wids[t])
            centrality = row.window.centrality(t)
            if best.get(key, -1) >= centrality:
                continue
            best[key] = centrality
            out.tags[wids[t]] = self.labels.labels[label_ids[t + offset]]
            out.scores[wids[t]] = probs[t + offset]

    # ---- text -> spans ---------------------------------------------------------------------

    def predict(self, texts: list[str]) -> list[Prediction]:
        """Entity spans with exact Python offsets for each text, all texts in one batched run."""
        words = [split_words(t) for t in texts]
        tagged = self.tag_words([[w.text for w in ws] for ws in words])
        out = []
        for text, ws, wt in zip(texts, words, tagged):
            spans = decode_spans(text, ws, wt.tags, wt.scores)
            scored = [s for s in wt.scores if s is not None]
            uncertainty = round(1.0 - min(scored), 6) if scored else 0.0
            out.append(Prediction(spans, uncertainty))
        return out
