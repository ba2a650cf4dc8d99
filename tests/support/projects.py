"""Project ids no other test of the session has had: tests share the session's Redis (and the
`app` fixture), and stay apart by construction because every key a project has is its own."""

from __future__ import annotations

import itertools

_NEXT = itertools.count(1001)  # Label Studio's project ids are positive ints


def fresh_project_id() -> str:
    return str(next(_NEXT))
