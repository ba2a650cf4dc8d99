"""The embedded Redis of `up` asks for a password: made once, owner-only, never on a command line."""

from __future__ import annotations

import pytest
import redis

from backend.ops.processes import free_port, redis_password, start_redis, wait_for_redis


def test_a_client_without_the_password_is_refused(tmp_path):
    password = redis_password(tmp_path)
    assert redis_password(tmp_path) == password and len(password) == 48  # made once, then kept
    assert (tmp_path / "redis" / "password").stat().st_mode & 0o077 == 0
    port = free_port()
    child = start_redis(tmp_path, port, password)
    try:
        wait_for_redis(f"redis://:{password}@127.0.0.1:{port}/0", child.proc)
        assert password not in " ".join(child.proc.args)
        assert (tmp_path / "redis" / "redis.conf").stat().st_mode & 0o077 == 0
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=port).set("job", "payload")
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=port, password="guess").ping()
        assert redis.Redis(port=port, password=password).ping()
    finally:
        child.proc.terminate()
        child.proc.wait()
