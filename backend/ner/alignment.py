"""Training-side alignment: words + BIO tags -> sub-word token ids and label ids."""

from __future__ import annotations

from dataclasses import dataclass

from .labels import LabelSet
from .windows import Window, plan_windows
from .words import tokenizable

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

    def window_inputs(self, ids: list[int], types: list[int] | None, win: Window) -> dict[str, list[int]]:
        """Model inputs for tokens [win.start, win.end) with special tokens around them; token
        type ids (special tokens: type 0) when the casing channel `types` is given."""
        inputs = {"input_ids": self.wrap(ids[win.start : win.end])}
        if types is not None:
            inputs["token_type_ids"] = [0] * len(self.prefix) + types[win.start : win.end] + [0] * len(self.suffix)
        return inputs

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


def case_types(word_ids: list[int | None], words: list[str]) -> list[int]:
    """Token type id per token: 1 where the token's word starts with a capital letter, else 0.

    The default encoder is uncased, so capitalisation, the strongest cue for names in English, is
    gone after tokenization. BERT's token-type embedding (segment A/B, unused for single texts)
    carries it back in: a model trained with it (config.ner_case_feature) must be fed it too.
    """
    return [1 if w is not None and words[w][:1].isupper() else 0 for w in word_ids]


def uses_case_feature(model) -> bool:
    return bool(getattr(model.config, "ner_case_feature", False))


def enable_case_feature(model) -> bool:
    """Turn the casing channel on for a fresh model whose encoder has two token types."""
    if getattr(model.config, "type_vocab_size", 0) >= 2:
        model.config.ner_case_feature = True
    return uses_case_feature(model)


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
    case_feature: bool = False,
) -> list[dict[str, list[int]]]:
    """Tokenize (words, tags) pairs into model inputs with aligned labels.

    A sentence longer than one window becomes several disjoint windows cut at word boundaries,
    so no word's label is lost to truncation. With `case_feature`, features carry
    `token_type_ids` from case_types().
    """
    affixes = Affixes.of(tokenizer)
    budget = max_length - len(affixes)
    label2id = labels.label2id
    inside = inside_map(labels) if label_all_tokens else None
    enc = tokenizer(
        [tokenizable(words) for words, _ in sentences],
        is_split_into_words=True,
        add_special_tokens=False,
        verbose=False,
    )
    features: list[dict[str, list[int]]] = []
    for i, (words, tags) in enumerate(sentences):
        ids = enc["input_ids"][i]
        if not ids:
            continue
        word_ids = enc.word_ids(i)
        token_labels = align_labels(word_ids, [label2id[t] for t in tags], inside)
        types = case_types(word_ids, words) if case_feature else None
        for win in plan_windows(word_ids, budget, stride=0):
            window_labels = token_labels[win.start : win.end]
            pad_front = [IGNORE_INDEX] * len(affixes.prefix)
            pad_back = [IGNORE_INDEX] * len(affixes.suffix)
            feature = affixes.window_inputs(ids, types, win)
            feature["labels"] = pad_front + window_labels + pad_back
            features.append(feature)
    return features
