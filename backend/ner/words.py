"""Split text into words with exact character offsets: the unit every label is attached to."""

from __future__ import annotations

import re
from dataclasses import dataclass

# One word is: a run of letters/digits/underscores (with any combining marks they carry), or one
# CJK character, or any other single non-space character (punctuation, symbols, emoji). Splitting
# punctuation off matches how BERT pre-tokenizes and how GMB and CoNLL write their words, so an
# annotator's span "Paris" in "Paris," never cuts through a word.
_CJK = (
    "\u3040-\u30ff"  # hiragana, katakana
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # CJK ideographs
    "\uac00-\ud7af"  # hangul syllables
    "\U00020000-\U0002fa1f"
)
_MARKS = "\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
_WORD_RE = re.compile(rf"[{_CJK}]|(?:(?![{_CJK}])\w[{_MARKS}]*)+|\S[{_MARKS}]*")


@dataclass(frozen=True)
class Word:
    """A word of a text: `text == source[start:end]` (Python str offsets)."""

    text: str
    start: int
    end: int


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def tokenizable(words: list[str]) -> list[str]:
    """`words` with any lone UTF-16 surrogate (which JSON may carry and the Rust tokenizer refuses)
    replaced by U+FFFD. One character for one, so offsets into the original text stay exact."""
    return [_LONE_SURROGATE.sub("\ufffd", w) for w in words]


def split_words(text: str) -> list[Word]:
    """The words of `text`, in order, with offsets into `text` itself (whitespace is never a word)."""
    return [Word(m.group(), m.start(), m.end()) for m in _WORD_RE.finditer(text)]


def split_tagged(words: list[str], tags: list[str]) -> tuple[list[str], list[str]]:
    """Re-split corpus words ("U.S.", "mid-week") into our words, spreading each word's BIO tag.

    The first piece keeps the tag; later pieces get its I- form, so an entity still covers the
    whole original word. Training and prediction then see words of the same granularity.
    """
    out_words: list[str] = []
    out_tags: list[str] = []
    for word, tag in zip(words, tags):
        pieces = [w.text for w in split_words(word)] or [word]
        out_words.extend(pieces)
        out_tags.append(tag)
        inside = "O" if tag == "O" else "I-" + tag[2:]
        out_tags.extend([inside] * (len(pieces) - 1))
    return out_words, out_tags


def piece_counts(words: list[str]) -> list[int]:
    """How many of our words each corpus word splits into (to map predictions back to it)."""
    return [max(1, len(split_words(w))) for w in words]
