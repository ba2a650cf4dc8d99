"""Stopping what the supervisors started: nothing below a killed process outlives it."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time

from backend.ops.processes import Child, kill_tree
from backend.ops.stack import WORKER, _stop

# A parent that forks a child into a process group of its own, as an RQ worker forks its work
# horse (`os.setpgrp`), and waits as a busy worker would; the child prints its pid once it has left.
FORKS_A_HORSE = """
import os, time
if os.fork() == 0:
    os.setpgrp()
    print(os.getpid(), flush=True)
    time.sleep(600)
    os._exit(0)
time.sleep(600)
"""

# An RQ worker in the middle of a job: SIGTERM asks for a warm shutdown, which waits for the horse.
BUSY_WORKER = "import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN)\n" + FORKS_A_HORSE


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"  # a zombie has ended; its parent just has not reaped it
    except FileNotFoundError:
        return False


def test_kill_tree_takes_a_child_that_left_its_parents_process_group():
    parent = subprocess.Popen([sys.executable, "-c", FORKS_A_HORSE], stdout=subprocess.PIPE, text=True,
                              process_group=0)
    horse = int(parent.stdout.readline())
    try:
        assert os.getpgid(horse) == horse != os.getpgid(parent.pid)  # what a group kill alone misses
        kill_tree(parent)
        deadline = time.monotonic() + 10
        while alive(horse) and time.monotonic() < deadline:  # SIGKILL lands at once; reaping may lag
            time.sleep(0.05)
        assert parent.poll() is not None and not alive(horse)
    finally:
        for pid in (horse, parent.pid):
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        parent.stdout.close()


def test_up_stops_a_worker_in_the_middle_of_a_job_at_once_and_the_other_parts_as_asked(caplog):
    """A training takes minutes, RQ's warm shutdown waits for it, and `up` used to wait 30 s before
    killing it anyway: the worker and its horse go at once, the other parts stop on SIGTERM."""
    worker = subprocess.Popen([sys.executable, "-c", BUSY_WORKER], stdout=subprocess.PIPE, text=True,
                              process_group=0)
    horse = int(worker.stdout.readline())
    front = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], process_group=0)
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    try:
        with caplog.at_level(logging.WARNING, logger="backend.ops.stack"):
            _stop([Child("front", front), Child(WORKER, worker)])
        deadline = time.monotonic() + 10
        while alive(horse) and time.monotonic() < deadline:  # SIGKILL lands at once; reaping may lag
            time.sleep(0.05)
        assert worker.poll() == -signal.SIGKILL and front.poll() == -signal.SIGTERM and not alive(horse)
        assert "running a job" in caplog.text and "did not stop in 30 s" not in caplog.text
    finally:
        signal.signal(signal.SIGINT, handlers[0])  # `_stop` ignores both while it stops the parts
        signal.signal(signal.SIGTERM, handlers[1])
        for proc in (worker, front):
            proc.kill()
            proc.wait()
        worker.stdout.close()


def test_a_process_a_module_left_is_found_by_the_sessions_mark_and_killed():
    from tests.support.strays import MARK, kill_strays, ours, strays

    assert ours(["/x/.venv/bin/python", "-m", "backend.cli", "worker"]) and ours(["python3", "/x/.venv/bin/ner-backend", "up"])
    # a checkout folder named ner-backend is no reason: Label Studio's venv and Redis live under it
    assert not ours(["/w/ner-backend/.cache/lsvenv/bin/python3.11", "/w/ner-backend/.cache/lsvenv/bin/label-studio"])
    sleeper = [sys.executable, "-c", "import time; time.sleep(600)", "-m", "backend.cli", "worker"]
    marked = subprocess.Popen(sleeper)  # inherits the session's mark, as every server a test starts
    unmarked = subprocess.Popen(sleeper, env={k: v for k, v in os.environ.items() if k != MARK})
    try:
        deadline = time.monotonic() + 10
        while marked.pid not in strays() and time.monotonic() < deadline:  # until exec has set argv
            time.sleep(0.05)
        assert marked.pid in kill_strays() and marked.wait(timeout=10) == -9
        assert unmarked.pid not in strays() and unmarked.poll() is None  # another session's, or a user's
    finally:
        for proc in (marked, unmarked):
            proc.kill()
            proc.wait()
