"""/metrics: series for a bounded number of projects and labels, whatever annotators name."""

from __future__ import annotations


def test_metrics_give_series_to_a_bounded_number_of_labels():
    from backend.web.metrics import MAX_LABELS, render

    labels = {f"L{i}": {"final_spans": i, "effort_saved": 0.5, "kept_share": 0.5, "preannotated_share": 0.5}
              for i in range(500)}  # label names come from annotators
    figures = {"tasks": 9, "final_spans": 10, "effort_saved": 0.4, "kept_share": 0.6, "preannotated_share": 0.7,
               "labels": labels}
    text = render({"3": "v1-20261129T000000"}, {"3": ("v1-20261129T000000", figures)})[0].decode()
    saved = [line for line in text.splitlines() if line.startswith("ner_preannotation_effort_saved_ratio{")]
    assert len(saved) == MAX_LABELS + 1 and 'label="all"' in text and 'label="L499"' in text and 'label="L0"' not in text
