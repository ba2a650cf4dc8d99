"""JSON values: what strict parsers accept (NaN and Infinity, which browsers' JSON.parse rejects, become
null), and the numbers a parsed body may hold (JSON true is a Python int, and is not one)."""

from __future__ import annotations

import math


def is_int(value) -> bool:
    """An integer of JSON's (not true or false, which Python counts as ints)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value) -> bool:
    """An integer or a float of JSON's (not true or false)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def finite(value):
    """`value` with every float that is not finite replaced by None, at any depth."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value
