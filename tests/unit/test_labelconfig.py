"""The labeling config: each <Labels>-to-object pair served once, and a bounded number of them."""

from __future__ import annotations

import pytest

from backend.labelstudio.labelconfig import MAX_CONTROLS, LabelConfigError, parse_label_config

TEXT = '<Text name="t" value="$text"/>'


def test_a_pair_named_again_and_again_is_served_once():
    xml = f'<View><Labels name="l" toName="{",".join(["t"] * 1000)}"><Label value="PER"/></Labels>{TEXT}</View>'
    (control,) = parse_label_config(xml)
    assert (control.from_name, control.to_name, control.labels) == ("l", "t", ("PER",))


def test_more_pairs_than_the_bound_are_refused():
    def config(n: int) -> str:
        labels = "".join(f'<Labels name="l{i}" toName="t"><Label value="PER"/></Labels>' for i in range(n))
        return f"<View>{labels}{TEXT}</View>"

    assert len(parse_label_config(config(MAX_CONTROLS))) == MAX_CONTROLS
    with pytest.raises(LabelConfigError, match=f"more than {MAX_CONTROLS}"):
        parse_label_config(config(MAX_CONTROLS + 1))
