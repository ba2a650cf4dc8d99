"""The learning curve the status page shows: one point per scored training, or why there is none."""

from __future__ import annotations

from backend.plots import learning_curve_svg


def test_one_point_per_scored_training_or_why_there_is_none():
    svg = learning_curve_svg([(150, 0.61), (300, 0.72)], "project 3")
    assert svg.count("<circle") == 2 and "300 tasks: F1 0.720" in svg and "<polyline" in svg
    empty = learning_curve_svg([], "project 3")
    assert "<circle" not in empty and "needs 50 gold entities" in empty

