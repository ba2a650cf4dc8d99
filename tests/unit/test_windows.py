import pytest

from backend.ner.windows import plan_windows, word_starts


def _word_ids(lengths):
    return [w for w, n in enumerate(lengths) for _ in range(n)]


def test_short_sequence_is_one_window():
    assert [(w.start, w.end) for w in plan_windows(_word_ids([1, 2, 1]), budget=10, stride=3)] == [(0, 4)]


@pytest.mark.parametrize("stride", [0, 2, 5])
def test_windows_cover_everything_cut_on_word_starts_and_overlap(stride):
    wids = _word_ids([1, 3, 2, 1, 4, 1, 2, 2, 3, 1, 1, 2])
    windows = plan_windows(wids, budget=6, stride=stride)
    starts = set(word_starts(wids))
    assert windows[0].start == 0 and windows[-1].end == len(wids)
    for a, b in zip(windows, windows[1:]):
        assert b.start > a.start and b.start <= a.end  # forward progress, no gap
        assert a.end in starts and b.start in starts  # cuts fall between words
        assert a.end - b.start <= max(stride, 0) + 3  # overlap about `stride` tokens
        if stride == 0:
            assert b.start == a.end
    assert all(w.end - w.start <= 6 for w in windows)


def test_a_word_longer_than_the_budget_is_cut_but_covered():
    wids = _word_ids([2, 9, 2])
    windows = plan_windows(wids, budget=4, stride=1)
    covered = set()
    for w in windows:
        covered.update(range(w.start, w.end))
    assert covered == set(range(len(wids)))
