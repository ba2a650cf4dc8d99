"""Cut a long token sequence into overlapping windows that start and end on word boundaries."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass


@dataclass(frozen=True)
class Window:
    """Tokens [start, end) of a document's token sequence (special tokens not counted)."""

    start: int
    end: int


def word_starts(word_ids: list[int | None]) -> list[int]:
    """Token indices where a new word begins."""
    return [i for i, w in enumerate(word_ids) if w is not None and (i == 0 or word_ids[i - 1] != w)]


def plan_windows(word_ids: list[int | None], budget: int, stride: int) -> list[Window]:
    """Windows of at most `budget` tokens covering every token, neighbours sharing ~`stride` tokens.

    Cuts fall on word starts, so every word that fits in a window is whole in it; only a single
    word longer than `budget` tokens is ever cut. Stride 0 gives disjoint windows (training).
    """
    n = len(word_ids)
    if budget < 1:
        raise ValueError("window budget must be at least one token")
    if n <= budget:
        return [Window(0, n)]
    stride = max(0, min(stride, budget // 2))
    starts = word_starts(word_ids)
    windows: list[Window] = []
    a = 0
    while True:
        b = a + budget
        if b >= n:
            windows.append(Window(a, n))
            return windows
        # End at the last word start inside (a, b]; a word longer than the budget is cut at b.
        i = bisect_right(starts, b) - 1
        cut = starts[i] if i >= 0 and starts[i] > a else b
        windows.append(Window(a, cut))
        # Start the next window `stride` tokens back, on a word start, always moving forward.
        j = bisect_left(starts, cut - stride)
        nxt = starts[j] if j < len(starts) and a < starts[j] <= cut else cut
        a = nxt
