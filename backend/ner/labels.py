"""BIO label sets: validation, the O/B-/I- list a model predicts, and id mappings."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


class LabelError(ValueError):
    """A tag that is not O, B-TYPE or I-TYPE, or one a model does not know."""


def entity_type(tag: str) -> str | None:
    """The entity type of a BIO tag (None for O); raises LabelError for malformed tags."""
    if tag == "O":
        return None
    if len(tag) > 2 and tag[:2] in ("B-", "I-"):
        return tag[2:]
    raise LabelError(f"unknown label {tag!r}: expected O, B-TYPE or I-TYPE")


@dataclass(frozen=True)
class LabelSet:
    """The tags a model predicts: O first, then B-/I- for every entity type, types sorted."""

    labels: tuple[str, ...]

    @classmethod
    def from_types(cls, types: Iterable[str]) -> "LabelSet":
        ordered = sorted(set(types))
        return cls(("O",) + tuple(f"{p}-{t}" for t in ordered for p in ("B", "I")))

    @classmethod
    def from_tags(cls, tags: Iterable[str]) -> "LabelSet":
        """Every type seen in `tags` gets both its B- and I- label, even if only one occurs."""
        return cls.from_types(t for t in map(entity_type, tags) if t is not None)

    @property
    def types(self) -> list[str]:
        return sorted({t for t in map(entity_type, self.labels) if t is not None})

    @property
    def label2id(self) -> dict[str, int]:
        return {label: i for i, label in enumerate(self.labels)}

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.labels))

    def check(self, tags: Iterable[str]) -> None:
        """Raise LabelError naming the first tag this set cannot represent."""
        known = set(self.labels)
        for tag in tags:
            entity_type(tag)
            if tag not in known:
                raise LabelError(f"unknown label {tag!r}: the model knows {', '.join(self.labels)}")
