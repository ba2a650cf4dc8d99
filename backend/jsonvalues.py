"""JSON that strict parsers accept: NaN and Infinity (which browsers' JSON.parse rejects) become null."""

from __future__ import annotations

import math


def finite(value):
    """`value` with every float that is not finite replaced by None, at any depth."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value
