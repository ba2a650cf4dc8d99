"""UTC timestamps as ner-backend writes them: ISO 8601 for people and JSON, compact inside names."""

from __future__ import annotations

import calendar
import time

ISO = "%Y-%m-%dT%H:%M:%SZ"


def utc_now(when: time.struct_time | None = None) -> str:
    """"2026-12-05T16:30:00Z": training records, webhook bodies, metrics."""
    return time.strftime(ISO, when or time.gmtime())


def utc_seconds(stamp: str) -> float:
    """Seconds since the epoch of a `utc_now` stamp (ValueError for anything else)."""
    return calendar.timegm(time.strptime(stamp, ISO))


def utc_stamp(when: time.struct_time | None = None) -> str:
    """"20261205T163000": the time inside version and job names."""
    return time.strftime("%Y%m%dT%H%M%S", when or time.gmtime())
