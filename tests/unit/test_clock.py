"""The project's UTC stamps read back to the second they were written."""

from __future__ import annotations

import time

import pytest

from backend.clock import utc_now, utc_seconds


def test_a_stamp_reads_back_to_its_second_and_anything_else_is_refused():
    assert utc_seconds(utc_now(time.gmtime(1765000000))) == 1765000000
    assert utc_seconds("2026-12-06T00:00:01Z") - utc_seconds("2026-12-05T23:59:59Z") == 2
    with pytest.raises(ValueError):
        utc_seconds("")
