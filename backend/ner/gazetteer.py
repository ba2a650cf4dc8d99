"""Label all occurrences: entity strings a project's annotators labelled, found again as whole words."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .readers import Sentence
from .spans import decode_entities
from .words import split_tagged

GAZETTEER_FILE = "gazetteer.json"


def _usable(words: tuple[str, ...]) -> bool:
    """Worth matching: at least two characters with a letter or digit (not "A", "-" or "'s")."""
    text = "".join(words)
    return len(text) >= 2 and any(ch.isalnum() for ch in text)


@dataclass
class Gazetteer:
    """Word sequences (exact, case-sensitive) -> the entity type annotators gave them most often."""

    entries: dict[tuple[str, ...], str] = field(default_factory=dict)

    @classmethod
    def from_sentences(cls, sentences: list[Sentence]) -> "Gazetteer":
        counts: dict[tuple[str, ...], Counter] = {}
        for s in sentences:
            words, tags = split_tagged(s.words, s.tags)  # our word granularity, as prediction sees it
            for first, stop, kind in decode_entities(tags):
                key = tuple(words[first:stop])
                if _usable(key):
                    counts.setdefault(key, Counter())[kind] += 1
        return cls({key: c.most_common(1)[0][0] for key, c in counts.items()})

    def __len__(self) -> int:
        return len(self.entries)

    def matches(self, words: list[str]) -> list[tuple[int, int, str]]:
        """Non-overlapping occurrences as word ranges, longest first at each position, left to right."""
        lengths = sorted({len(k) for k in self.entries}, reverse=True)
        found, i = [], 0
        while i < len(words):
            for n in (n for n in lengths if i + n <= len(words)):
                kind = self.entries.get(tuple(words[i:i + n]))
                if kind is not None:
                    found.append((i, i + n, kind))
                    i += n
                    break
            else:
                i += 1
        return found

    def fill(self, words: list[str], tags: list[str]) -> list[int]:
        """Tag occurrences where the model saw no entity at all (its spans win); the changed words."""
        changed = []
        for first, stop, kind in self.matches(words):
            if all(t == "O" for t in tags[first:stop]):
                tags[first] = "B-" + kind
                for i in range(first + 1, stop):
                    tags[i] = "I-" + kind
                changed.extend(range(first, stop))
        return changed

    def save(self, folder: Path) -> None:
        rows = [[list(k), v] for k, v in sorted(self.entries.items())]
        (Path(folder) / GAZETTEER_FILE).write_text(json.dumps(rows, ensure_ascii=False))

    @classmethod
    def load(cls, folder: Path) -> "Gazetteer | None":
        path = Path(folder) / GAZETTEER_FILE
        if not path.exists():
            return None
        return cls({tuple(words): kind for words, kind in json.loads(path.read_text())})
