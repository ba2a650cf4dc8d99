"""Entity-level evaluation with seqeval: micro and macro P/R/F1 and per-label figures."""

from __future__ import annotations

import math

from seqeval.metrics import classification_report

from .effort import Effort, effort
from .readers import Sentence
from .spans import decode_entities
from .words import piece_counts, split_tagged


def score(gold: list[list[str]], predicted: list[list[str]]) -> dict:
    """seqeval figures (CoNLL-style entity matching) as one JSON-ready dict.

    Keys: precision/recall/f1 (micro), macro_precision/macro_recall/macro_f1, support (gold
    entities), per_label {type: {precision, recall, f1, support}}.
    """
    if len(gold) != len(predicted) or any(len(g) != len(p) for g, p in zip(gold, predicted)):
        raise ValueError("gold and predicted tag sequences differ in shape")
    report = classification_report(gold, predicted, output_dict=True, zero_division=0)
    micro = report.pop("micro avg", {})
    macro = report.pop("macro avg", {})
    report.pop("weighted avg", None)

    def r(x) -> float | None:
        x = float(x)  # seqeval's macro average over no label at all is NaN: no figure, not a number
        return round(x, 4) if math.isfinite(x) else None

    return {
        "precision": r(micro.get("precision", 0.0)),
        "recall": r(micro.get("recall", 0.0)),
        "f1": r(micro.get("f1-score", 0.0)),
        "macro_precision": r(macro.get("precision", 0.0)),
        "macro_recall": r(macro.get("recall", 0.0)),
        "macro_f1": r(macro.get("f1-score", 0.0)),
        "support": int(micro.get("support", 0)),
        "per_label": {
            label: {
                "precision": r(v["precision"]),
                "recall": r(v["recall"]),
                "f1": r(v["f1-score"]),
                "support": int(v["support"]),
            }
            for label, v in sorted(report.items())
        },
    }


def predict_corpus_tags(predictor, sentences: list[Sentence]) -> list[list[str]]:
    """Predicted tags for each corpus word: the tag of its first piece (see words.split_tagged)."""
    pieces = [split_tagged(s.words, s.tags)[0] for s in sentences]
    return _corpus_tags(sentences, predictor.tag_words(pieces))


def _corpus_tags(sentences: list[Sentence], tagged) -> list[list[str]]:
    """Each corpus word's tag: the tag of its first piece."""
    out = []
    for s, wt in zip(sentences, tagged):
        tags, i = [], 0
        for n in piece_counts(s.words):
            tags.append(wt.tags[i])
            i += n
        out.append(tags)
    return out


def evaluate_model(predictor, sentences: list[Sentence]) -> dict:
    """seqeval figures of `predictor` on gold `sentences`, plus how many were scored."""
    figures = score([s.tags for s in sentences], predict_corpus_tags(predictor, sentences))
    figures["sentences"] = len(sentences)
    return figures


def corpus_effort(predictor, sentences: list[Sentence]) -> Effort:
    """The edits that turn `predictor`'s pre-annotations of `sentences` into their gold ones, summed."""
    return _effort(sentences, predict_corpus_tags(predictor, sentences))


def corpus_efforts(predictor, sentences: list[Sentence], thresholds: list[float | None]) -> list[Effort]:
    """`corpus_effort` under each span-score threshold, from one forward pass."""
    pieces = [split_tagged(s.words, s.tags)[0] for s in sentences]
    return [_effort(sentences, _corpus_tags(sentences, tagged)) for tagged in predictor.tag_words_at(pieces, thresholds)]


def _effort(sentences: list[Sentence], predicted: list[list[str]]) -> Effort:
    total = Effort()
    for tags, s in zip(predicted, sentences):
        total += effort(decode_entities(tags), decode_entities(s.tags))
    return total
