"""Batched inference: texts or word lists -> per-word tags and probabilities -> spans."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import torch

from .acquisition import TASK_SCORE, confidence
from .alignment import Affixes, case_types, uses_case_feature
from .batching import pad_batch
from .checkpoint import load_model
from .device import INT8, OV_BF16, autocast, pick_device, resolve_precision
from .model import NerModel
from .onnxengine import INT8_FILE, OnnxEngine
from .ovengine import OV_FILE, OvEngine
from .spans import BOUNDARIES, Prediction, decode_entities, decode_spans, span_score
from .transitions import check_transitions, viterbi_many
from .windows import Window, plan_windows, word_starts
from .words import split_words, tokenizable


@dataclass(frozen=True)
class WordTags:
    """The chosen tag and its probability for each word (None: the tokenizer dropped the word),
    the entropy (nats) of the model's tag distribution for the word, and its probabilities of any
    B- tag and of any I- tag (a span's boundaries, for `spans.span_score`)."""

    tags: list[str]
    scores: list[float | None]
    entropies: list[float | None] = field(default_factory=list)
    begins: list[float | None] = field(default_factory=list)
    insides: list[float | None] = field(default_factory=list)

    @classmethod
    def blank(cls, words: int) -> "WordTags":
        """Every word O, with nothing known of it yet."""
        return cls(["O"] * words, *([None] * words for _ in fields(cls)[1:]))

    def copy(self) -> "WordTags":
        return WordTags(*(list(getattr(self, f.name)) for f in fields(self)))


@dataclass(frozen=True)
class _Row:
    """One window of one document, ready for the model."""

    doc: int  # index among the documents that have words
    window: Window
    inputs: dict[str, list[int]]  # input_ids (+ token_type_ids with the casing channel)


@dataclass
class _WordDists:
    """Each tokenized word's tag distribution, taken from the window where it is most central."""

    firsts: np.ndarray  # token index of each word's first sub-token, ascending
    words: list[int]  # the word each of those starts
    probs: np.ndarray  # word x label
    centrality: np.ndarray  # of the window each row came from; -1 = none yet

    @classmethod
    def empty(cls, word_ids: list[int | None], n_labels: int) -> "_WordDists":
        firsts = word_starts(word_ids)
        return cls(
            np.array(firsts, dtype=np.int64),
            [word_ids[t] for t in firsts],
            np.zeros((len(firsts), n_labels), dtype=np.float32),
            np.full(len(firsts), -1, dtype=np.int64),
        )

    def take(self, window: Window, token_probs: np.ndarray, prefix: int) -> None:
        """Keep the first-sub-token distributions of the words in `window` (token_probs: the
        window's model output, `prefix` special tokens first) where it is more central than in any
        window taken before. Centrality is the distance to the window's nearer edge: the more
        context on both sides, the better the tag. Ties keep the earlier window."""
        lo, hi = np.searchsorted(self.firsts, [window.start, window.end])
        tokens = self.firsts[lo:hi]
        centrality = np.minimum(tokens - window.start, window.end - 1 - tokens)
        better = centrality > self.centrality[lo:hi]
        rows = np.arange(lo, hi)[better]
        self.probs[rows] = token_probs[tokens[better] + prefix - window.start]
        self.centrality[rows] = centrality[better]


def drop_unsure(out: WordTags, threshold: float) -> None:
    """Entities whose `span_score` is below `threshold` become O (the gazetteer may still fill
    their words): from a weak model, a wrong span costs the annotator a delete."""
    for first, stop, _ in decode_entities(out.tags):
        score = span_score(out.scores, first, stop, out.begins, out.insides)
        if score is not None and score < threshold:
            out.tags[first:stop] = ["O"] * (stop - first)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Probabilities over the last axis, in numpy: for the int8 engine's logits, torch's softmax
    cost 4 ms a batch of 16 on 2 cores (its thread pool woke beside ONNX Runtime's spinning one),
    numpy's a tenth of that; the engine in-process went from 523 to 613 texts/s (Intel AMX)."""
    z = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def entropy(probs: np.ndarray) -> np.ndarray:
    """Entropy in nats of each row of a (words x labels) probability matrix."""
    return -(probs * np.log(np.clip(probs, 1e-12, 1.0))).sum(axis=1)


class Predictor:
    """A NerModel run for inference: windows, batches, precision, decoding."""

    def __init__(
        self,
        ner: NerModel,
        *,
        device: torch.device | None = None,
        precision: str = "auto",
        max_length: int = 512,
        stride: int = 128,
        batch_size: int = 16,
        onnx_file: str | Path | None = None,
        ov_file: str | Path | None = None,
    ) -> None:
        model, tokenizer = ner.model, ner.tokenizer
        self.device = device or ner.device
        self.model = model.to(self.device).eval()
        self.tokenizer = tokenizer
        self.labels = ner.labels
        # which tags open a span and which continue one: a word's B- and I- probabilities, which
        # spans.span_score weighs only for a version whose threshold was chosen on that score
        self.boundaries = ner.span_score == BOUNDARIES
        self._begin_tags = np.array([t.startswith("B-") for t in ner.labels.labels], dtype=np.float32)
        self._inside_tags = np.array([t.startswith("I-") for t in ner.labels.labels], dtype=np.float32)
        # precision "int8": the version's ONNX file in ONNX Runtime computes instead of the torch
        # model; "ov-bf16": its OpenVINO file, in bf16 on AMX
        self.engine = OnnxEngine(onnx_file) if precision == INT8 else OvEngine(ov_file) if precision == OV_BF16 else None
        self.precision = precision if self.engine else resolve_precision(precision, self.device)
        self.precision_reason = ""  # why this precision, when a server chose it (see fastpath)
        self.affixes = Affixes.of(tokenizer)
        model_max = getattr(model.config, "max_position_embeddings", max_length)
        self.max_length = min(max_length, model_max)
        self.budget = self.max_length - len(self.affixes)
        self.stride = stride
        self.batch_size = batch_size
        self.case_feature = uses_case_feature(model)
        self.transitions = None if ner.transitions is None else check_transitions(ner.transitions, ner.labels)
        self.gazetteer = ner.gazetteer  # the recipe tries the model with and without it
        self.threshold = ner.threshold  # ... and with and without this one
        # set while the annotators' edits of this version's spans say another score serves them
        # better (backend.ner.floor): it replaces the threshold, and the annotated strings' spans
        # scored below it are not shown either
        self.floor: float | None = None

    @classmethod
    def from_folder(cls, path, device: str | None = None, **options) -> "Predictor":
        options.setdefault("onnx_file", Path(path) / INT8_FILE)
        options.setdefault("ov_file", Path(path) / OV_FILE)
        return cls(load_model(path, pick_device(device)), **options)

    # ---- words -> tags ---------------------------------------------------------------------

    def tag_words(self, docs: list[list[str]]) -> list[WordTags]:
        """Tag every word of every document in as few forward passes as possible.

        Documents are tokenized together, cut into word-aligned windows, sorted by length and run
        in padded batches. A word's tag distribution is its first sub-token's; a word seen by two
        overlapping windows takes it from the window where it sits farther from an edge. Tags are
        then the per-word argmax, or the Viterbi path when the model has tag transitions.
        """
        return self._tags(docs, *self._distributions(docs), self.threshold)

    def tag_words_at(self, docs: list[list[str]], thresholds: list[float | None]) -> list[list[WordTags]]:
        """`tag_words` as it would answer under each of `thresholds`, from one forward pass."""
        nonempty, dists = self._distributions(docs)
        decoded = self._decoded(docs, nonempty, dists)
        return [self._served(docs, nonempty, dists, decoded, threshold) for threshold in thresholds]

    def dropout_samples(self, docs: list[list[str]], passes: int, seed: int = 0) -> list[np.ndarray | None]:
        """Each document's tag distributions under `passes` forward passes with dropout on (Monte Carlo
        dropout, for `acquisition.bald`): passes x tokenized words x labels, None for a document
        without any. Always the torch model in fp32: the int8 graph was exported without dropout."""
        engine, precision = self.engine, self.precision
        self.engine, self.precision = None, "fp32"
        self.model.train()
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                runs = [self._distributions(docs) for _ in range(passes)]
        finally:
            self.model.eval()
            self.engine, self.precision = engine, precision
        out: list[np.ndarray | None] = [None] * len(docs)
        for k, doc in enumerate(runs[0][0] if runs else []):
            out[doc] = np.stack([dists[k].probs for _, dists in runs])
        return out

    def _distributions(self, docs: list[list[str]]) -> tuple[list[int], list["_WordDists"]]:
        """The documents that have words, and each one's per-word tag distributions (the forward pass)."""
        nonempty = [i for i, d in enumerate(docs) if d]
        if not nonempty:
            return nonempty, []
        enc = self.tokenizer(
            [tokenizable(docs[i]) for i in nonempty], is_split_into_words=True, add_special_tokens=False, verbose=False
        )
        rows: list[_Row] = []
        dists: list[_WordDists] = []
        for k, doc in enumerate(nonempty):
            ids, wids = enc["input_ids"][k], enc.word_ids(k)
            dists.append(_WordDists.empty(wids, len(self.labels.labels)))
            types = case_types(wids, docs[doc]) if self.case_feature else None
            for win in plan_windows(wids, self.budget, self.stride):
                rows.append(_Row(k, win, self.affixes.window_inputs(ids, types, win)))
        for batch in self._batches(rows):
            for r, probs in zip(batch, self._forward(batch)):
                dists[r.doc].take(r.window, probs, len(self.affixes.prefix))
        return nonempty, dists

    def _tags(self, docs: list[list[str]], nonempty: list[int], dists: list["_WordDists"],
              threshold: float | None) -> list[WordTags]:
        """Tags from the distributions: decoded, unsure spans dropped, annotated strings filled in."""
        return self._served(docs, nonempty, dists, self._decoded(docs, nonempty, dists), threshold)

    def _decoded(self, docs: list[list[str]], nonempty: list[int], dists: list["_WordDists"]) -> list[WordTags]:
        """Every word's chosen tag, before any span is dropped for its score."""
        results = [WordTags.blank(len(d)) for d in docs]
        if nonempty:
            self._decode(dists, [results[doc] for doc in nonempty])
        return results

    def _served(self, docs: list[list[str]], nonempty: list[int], dists: list["_WordDists"],
                decoded: list[WordTags], threshold: float | None) -> list[WordTags]:
        """What is shown of `decoded` (copied): unsure spans dropped, annotated strings filled in."""
        results = [t.copy() for t in decoded]
        if self.floor is not None:  # the annotators' edits of this version's spans chose it, up or down
            threshold = self.floor
        if threshold:
            for doc in nonempty:
                drop_unsure(results[doc], threshold)
        if self.gazetteer:
            for doc, d in zip(nonempty, dists):
                self._fill(docs[doc], results[doc], d)
        if self.floor:
            for doc in nonempty:
                drop_unsure(results[doc], self.floor)
        return results

    def _fill(self, words: list[str], out: WordTags, dists: "_WordDists") -> None:
        """Label annotated strings where they occur again and the model saw nothing there. Each such
        word's score is the model's own probability of its new tag, so LS shows how unsure it is."""
        changed = self.gazetteer.fill(words, out.tags)
        if not changed:
            return
        row_of = {w: r for r, w in enumerate(dists.words)}
        index = self.labels.label2id
        for w in changed:
            r, tag = row_of.get(w), index.get(out.tags[w])
            out.scores[w] = round(float(dists.probs[r, tag]), 6) if r is not None and tag is not None else None

    def _decode(self, dists: list["_WordDists"], outs: list[WordTags]) -> None:
        """Choose a tag per tokenized word, all documents at once (words the tokenizer dropped
        stay O, unscored)."""
        if self.transitions is not None:
            chosen = viterbi_many([d.probs for d in dists], self.transitions)
        else:
            chosen = [d.probs.argmax(axis=1).tolist() for d in dists]
        names = self.labels.labels
        for d, out, tags in zip(dists, outs, chosen):
            scores = d.probs[np.arange(len(tags)), tags].tolist()
            entropies = entropy(d.probs).tolist()
            for w, tag, score, h in zip(d.words, tags, scores, entropies):
                out.tags[w] = names[tag]
                out.scores[w] = round(score, 6)
                out.entropies[w] = round(h, 6)
            if self.boundaries:  # only a version scored on its boundaries needs them: not on /predict's default path
                begins, insides = (d.probs @ self._begin_tags).tolist(), (d.probs @ self._inside_tags).tolist()
                for w, b, i in zip(d.words, begins, insides):
                    out.begins[w], out.insides[w] = round(b, 6), round(i, 6)

    def _batches(self, rows: list[_Row]):
        ordered = sorted(rows, key=lambda r: len(r.inputs["input_ids"]))
        for i in range(0, len(ordered), self.batch_size):
            yield ordered[i : i + self.batch_size]

    def _forward(self, rows: list[_Row]) -> np.ndarray:
        """Label probabilities per token (batch x tokens x labels), with dynamic padding."""
        inputs = pad_batch([r.inputs for r in rows], self.tokenizer.pad_token_id or 0)
        if self.engine is not None:
            return softmax(self.engine.logits(inputs))
        with torch.inference_mode(), autocast(self.device, self.precision):
            logits = self.model(**{k: v.to(self.device) for k, v in inputs.items()}).logits
        return torch.softmax(logits.float(), dim=-1).cpu().numpy()

    # ---- text -> spans ---------------------------------------------------------------------

    def predict(self, texts: list[str]) -> list[Prediction]:
        """Entity spans with exact Python offsets for each text, all texts in one batched run."""
        words = [split_words(t) for t in texts]
        docs = [[w.text for w in ws] for ws in words]
        nonempty, dists = self._distributions(docs)
        decoded = self._decoded(docs, nonempty, dists)
        served = self._served(docs, nonempty, dists, decoded, self.threshold)
        out = []
        for text, ws, wt, every in zip(texts, words, served, decoded):
            spans = decode_spans(text, ws, wt.tags, wt.scores, wt.begins, wt.insides)
            uncertainty = round(1.0 - confidence(wt, TASK_SCORE, len(self.labels.labels)), 6)
            out.append(Prediction(spans, uncertainty, _hidden(spans, text, ws, wt, every)))
        return out


def _hidden(spans: list, text: str, words: list, served: WordTags, every: WordTags) -> list:
    """The spans of `every` (the text's tags before any was dropped for its score) that `served` lacks."""
    if every.tags == served.tags:
        return []
    shown = {(s.start, s.end, s.label) for s in spans}
    return [s for s in decode_spans(text, words, every.tags, every.scores, every.begins, every.insides)
            if (s.start, s.end, s.label) not in shown]
