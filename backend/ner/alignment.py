"""Training-side alignment: words + BIO tags -> sub-word token ids and label ids."""

from __future__ import annotations

from dataclasses import dataclass

from .labels import LabelSet
from .windows import plan_windows

IGNORE_INDEX = -100  # positions the loss skips (special tokens, non-first sub-tokens)


@dataclass(frozen=True)
class Affixes:
    """The special tokens a tokenizer puts around one sequence ([CLS] ... [SEP] for BERT)."""

    prefix: tuple[int, ...]
    suffix: tuple[int, ...]

    @classmethod
    def of(cls, tokenizer) -> "Affixes":
        bare = tokenizer(["a"], is_split_into_words=True, add_special_tokens=False)["input_ids"]
        full = tokenizer(["a"], is_split_into_words=True, add_special_tokens=True)["input_ids"]
        for i in range(len(full) - len(bare) + 1):
            if full[i : i + len(bare)] == bare:
                return cls(tuple(full[:i]), tuple(full[i + len(bare) :]))
        raise ValueError("cannot locate the special tokens this tokenizer adds")

    def wrap(self, ids: list[int]) -> list[int]:
        return [*self.prefix, *ids, *self.suffix]

    def __len__(self) -> int:
        return len(self.prefix) + len(self.suffix)


def align_labels(
    word_ids: list[int | None],
    word_labels: list[int],
    inside: dict[int, int] | None = None,
) -> list[int]:
    """Label ids per token: a word's first sub-token carries its label.

    Later sub-tokens get IGNORE_INDEX, or, when `inside` maps each label id to its I- form
    (B-X -> I-X, I-X -> I-X, O -> O), that I- label: the "label all sub-tokens" option.
    Tokens with no word (special tokens) always get IGNORE_INDEX.
    """
    out: list[int] = []
    previous: int | None = None
    for w in word_ids:
        if w is None:
            out.append(IGNORE_INDEX)
        elif w != previous:
            out.append(word_labels[w])
        else:
            out.append(inside[word_labels[w]] if inside is not None else IGNORE_INDEX)
        previous = w
    return out


def inside_map(labels: LabelSet) -> dict[int, int]:
    """label id -> id of its I- form (O stays O)."""
    ids = labels.label2id
    return {i: ids["I-" + tag[2:]] if tag != "O" else i for tag, i in ids.items()}


def encode_for_training(
    tokenizer,
    sentences: list[tuple[list[str], list[str]]],
    labels: LabelSet,
    max_length: int,
    label_all_tokens: bool = False,
) -> list[dict[str, list[int]]]:
    """Tokenize (words, tags) pairs into model inputs with aligned labels.

    A sentence longer than one window becomes several disjoint windows cut at word boundaries,
    so no word's label is lost to truncation.
    """
    affixes = Affixes.of(tokenizer)
    budget = max_length - len(affixes)
    label2id = labels.label2id
    inside = inside_map(labels) if label_all_tokens else None
    enc = tokenizer(
        [words for words, _ in sentences],
        is_split_into_words=True,
        add_special_tokens=False,
        verbose=False,
    )
    features: list[dict[str, list[int]]] = []
    for i, (_, tags) in enumerate(sentences):
        ids = enc["input_ids"][i]
        if not ids:
            continue
        word_ids = enc.word_ids(i)
        token_labels = align_labels(word_ids, [label2id[t] for t in tags], inside)
        for win in plan_windows(word_ids, budget, stride=0):
            window_labels = token_labels[win.start : win.end]
            pad_front = [IGNORE_INDEX] * len(affixes.prefix)
            pad_back = [IGNORE_INDEX] * len(affixes.suffix)
            features.append(
                {
                    "input_ids": affixes.wrap(ids[win.start : win.end]),
                    "labels": pad_front + window_labels + pad_back,
                }
            )
    return features
