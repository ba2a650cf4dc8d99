"""ner-backend processes a test module left running, found by a mark every process of the session
inherits. On a 2-core machine one process left at full CPU slows every test after it 13-35 fold (an
orphaned RQ work horse once made a 4 s test take 52-61 s; another run, BALD's 3 s took 53)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from backend.ops.processes import kill_all

MARK = "NER_TEST_SESSION"


def ours(argv: list[str]) -> bool:
    """Whether a command line runs ner-backend (serve, worker, front, a worker's horse, run.sh's):
    `python -m backend.cli ...`, or the `ner-backend` script as the program. Whole arguments only:
    a checkout in a folder named ner-backend puts that name in Label Studio's and Redis's too."""
    return any(a == "-m" and b == "backend.cli" for a, b in zip(argv, argv[1:])) or any(
        arg.endswith("/bin/ner-backend") for arg in argv[:2])


def mark_session() -> None:
    """Give this process, and so everything it starts, the session's mark (before anything starts)."""
    os.environ.setdefault(MARK, uuid.uuid4().hex)


def strays() -> dict[int, str]:
    """{pid: command line} of the ner-backend processes alive with this session's mark, but this one.
    The mark is found in /proc/PID/environ, which a re-parented orphan keeps."""
    tag = f"{MARK}={os.environ[MARK]}".encode()
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace").split("\0")
            if ours(argv) and tag in Path(f"/proc/{entry}/environ").read_bytes():  # a zombie's argv is empty
                found[int(entry)] = " ".join(argv).strip()
        except OSError:  # ended while listed, or not ours to read
            continue
    return found


def kill_strays() -> dict[int, str]:
    """SIGKILL every stray; returns what was killed."""
    found = strays()
    kill_all(found)
    return found
