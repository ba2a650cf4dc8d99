"""Stopping what the supervisors started: nothing below a killed process outlives it."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from backend.ops.processes import kill_tree

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
