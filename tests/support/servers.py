"""Test helpers over backend.ops.processes: servers and workers as the tests run them, waits on states."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from backend.ops import processes
from backend.ops.processes import LoopbackProcess, call, descendants, free_port  # noqa: F401  (HTTP client, ports, process trees)

ROOT = Path(__file__).resolve().parents[2]
# Services and workers in tests check plumbing (webhooks, queues, swaps), not learning: a short
# training unless a test says otherwise, and every span it finds served (a short training's spans
# score under the 0.9 served without a dev split). What the recipe learns is measured by `simulate`.
# 15 epochs: what the old auto rule gave projects of under ~200 tasks; no adapted encoder (minutes)
PLUMBING = {"TRAIN_EPOCHS": "15", "SPAN_THRESHOLD": "0", "ADAPT_STEPS": "0"}


class Service(processes.Service):
    """`ner-backend serve` from the repository root, trainings short unless `env` says otherwise."""

    def __init__(self, env: dict[str, str], workers: int = 2, log_path: Path | None = None, front: bool = False) -> None:
        super().__init__({**PLUMBING, **env}, workers, log_path, cwd=ROOT, front=front)


class Worker(processes.Worker):
    """`ner-backend worker` from the repository root, trainings short unless `env` says otherwise."""

    def __init__(self, env: dict[str, str], log_path, name: str | None = None) -> None:
        super().__init__({**PLUMBING, **env}, log_path, name, cwd=ROOT)


def rss_mb(pid: int) -> float:
    """Resident memory of one process in MiB (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def send_webhooks(service, bodies: list[dict], threads: int = 4) -> list[tuple[int, dict, float]]:
    """POST every body to /webhook from `threads` clients: (status, reply, seconds) each, in order."""
    def one(body):
        started = time.monotonic()
        status, reply, _ = call("POST", service.url + "/webhook", body)
        return status, reply, time.monotonic() - started

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, bodies))


def version_number(version: str) -> int:
    """3 for "v3-20261126T150046"; 0 for "untrained" and bootstrap versions, which come first."""
    return int(version[1:].split("-")[0]) if version.startswith("v") else 0


def wait_until(what: str, check, timeout: float = 30.0, every: float = 0.2):
    """Poll `check()` until it returns something truthy, and return that; fail naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def trainings(service, project: int) -> list[dict]:
    status, reply, _ = call("GET", f"{service.url}/projects/{project}/trainings")
    assert status == 200, reply
    return reply["trainings"]


def wait_for_training(service, project: int, count: int, timeout: float = 300, done=None) -> list[dict]:
    """The project's training records once at least `count` exist, none is running and, when given,
    `done(records)` holds."""
    def finished():
        records = trainings(service, project)
        settled = len(records) >= count and all(r["status"] != "running" for r in records)
        return records if settled and (done is None or done(records)) else None

    return wait_until(f"project {project}: {count} training(s) to finish as expected", finished, timeout, every=1)


def interrupt_group(proc: subprocess.Popen, timeout: float = 90) -> int:
    """Ctrl-C to a process started in its own session (its whole group), as a terminal sends it;
    its exit code. If the group has not stopped within `timeout`, SIGKILL it all, so that nothing a
    failing test started outlives it, then fail."""
    try:
        os.killpg(proc.pid, signal.SIGINT)
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        pytest.fail(f"pid {proc.pid} ignored Ctrl-C for {timeout:.0f} s; its process group was killed")
    finally:
        try:  # anything of the group left behind (a grandchild that outlived its parent) goes too
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
