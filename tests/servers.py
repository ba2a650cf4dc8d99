"""Test helpers: a stdlib HTTP client and launchers for servers on free loopback ports."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Services and workers in tests check plumbing (webhooks, queues, swaps), not learning: a short
# training unless a test says otherwise. What the recipe learns is measured by `simulate`.
PLUMBING = {"TRAIN_EPOCHS": "15"}  # what the old auto rule gave projects of under ~200 tasks


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (gunicorn's workers, an RQ worker's work horse), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


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


def call(method: str, url: str, body=None, raw: bytes | None = None, auth: tuple[str, str] | None = None,
         timeout=120, headers: dict[str, str] | None = None):
    """(status, parsed JSON or text, headers) for one request."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        req.add_header(name, value)
    if auth:
        req.add_header("Authorization", "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, payload, headers = resp.status, resp.read(), resp.headers
    except urllib.error.HTTPError as err:
        status, payload, headers = err.code, err.read(), err.headers
    text = payload.decode("utf-8", "replace")
    try:
        return status, json.loads(text), headers
    except ValueError:
        return status, text, headers


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
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        records = trainings(service, project)
        if len(records) >= count and all(r["status"] != "running" for r in records):
            if done is None or done(records):
                return records
        time.sleep(1)
    pytest.fail(f"project {project}: {count} training(s) did not finish as expected in {timeout:.0f} s: {records}")


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


class LoopbackProcess:
    """A server subprocess on a free loopback port, ready once its GET /health answers 200."""

    name = "server"

    def _launch(self, cmd: list[str], env: dict[str, str], cwd: Path, log_path: Path | None, timeout: float,
                **popen) -> None:
        from backend.stack import StackError, wait_for_health

        self.log_path = log_path
        self.log = open(log_path, "ab") if log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=self.log, stderr=subprocess.STDOUT, **popen)
        try:
            wait_for_health(self.url, self.proc, self.name, timeout)
        except StackError as exc:
            self.stop()
            raise RuntimeError(f"{exc}; see {log_path}") from None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if self.log is not subprocess.DEVNULL:
            self.log.close()


class Service(LoopbackProcess):
    """`ner-backend serve` in a subprocess on a free loopback port."""

    name = "ner-backend"

    def __init__(self, env: dict[str, str], workers: int = 2, log_path: Path | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        full_env = {**os.environ, **PLUMBING, **env, "PYTHONUNBUFFERED": "1"}
        full_env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        cmd = [sys.executable, "-m", "backend.cli", "serve", "--port", str(self.port), "--workers", str(workers)]
        self._launch(cmd, full_env, ROOT, log_path, timeout=90)


class Worker:
    """`ner-backend worker` in a subprocess."""

    def __init__(self, env: dict[str, str], log_path, name: str | None = None) -> None:
        self.name = name or f"w-{uuid.uuid4().hex[:8]}"
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "backend.cli", "worker", "--name", self.name], cwd=ROOT,
                                     env={**os.environ, **PLUMBING, **env, "PYTHONUNBUFFERED": "1"},
                                     stdout=self.log, stderr=subprocess.STDOUT)

    def wait_listening(self, redis_url: str, timeout: float = 90) -> None:
        """Until RQ has registered this worker, which it does as it starts listening on its queue."""
        import redis

        client, deadline = redis.Redis.from_url(redis_url), time.monotonic() + timeout
        while not client.exists(f"rq:worker:{self.name}"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker {self.name} is not listening (exit status {self.proc.poll()})")
            time.sleep(0.1)

    def stop(self, wait_for_job: bool = True) -> None:
        """SIGTERM: RQ finishes the running job first; a second SIGTERM kills the job at once."""
        self.proc.terminate()
        if not wait_for_job:
            time.sleep(0.5)
            self.proc.terminate()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
