"""The local Label Studio launcher: secrets in the environment, never on the command line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from backend.ops import lsdemo


@pytest.mark.parametrize("password", ["-starts-with-a-dash", "--double", "plain_Pass-1"])
def test_password_and_token_travel_in_the_environment_not_in_the_process_list(password, tmp_path):
    token = "-" + "a" * 39
    command = lsdemo.command(Path("/venv"), 8080)
    assert not any(password in arg or token in arg for arg in command)  # `ps` shows every argument
    env = lsdemo.ls_environment(tmp_path, password, token)
    # what Label Studio 1.23 reads when it creates its first user (label_studio/server.py)
    assert (env["LABEL_STUDIO_USERNAME"], env["LABEL_STUDIO_PASSWORD"], env["LABEL_STUDIO_USER_TOKEN"]) == \
        (lsdemo.USERNAME, password, token)
    assert command[-2:] == ["-p", "8080"] and env["LABEL_STUDIO_BASE_DATA_DIR"] == str(tmp_path)


def test_label_studio_is_given_none_of_the_backends_secrets(tmp_path, monkeypatch):
    monkeypatch.setenv("BASIC_AUTH_PASS", "backend-secret")
    monkeypatch.setenv("REDIS_URL", "redis://:redis-secret@127.0.0.1:6390/0")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret")
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    monkeypatch.setenv("LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK", "true")
    env = lsdemo.ls_environment(tmp_path, "pw", "tok")
    assert not any("secret" in value for value in env.values())
    assert env["PATH"] == os.environ["PATH"] and env["LC_ALL"] == "C.UTF-8"
    assert env["LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK"] == "true"  # an operator's LS setting still reaches it


def test_credentials_are_never_readable_by_others_not_even_while_written(tmp_path, monkeypatch):
    # With chmod disabled, only a file created owner-only stays private: one written first and
    # narrowed afterwards would be left as the umask made it.
    monkeypatch.setattr(Path, "chmod", lambda self, mode: None)
    monkeypatch.setattr(os, "chmod", lambda *args, **kwargs: None)
    old = os.umask(0o022)
    try:
        creds = lsdemo.credentials(tmp_path / "ls")
    finally:
        os.umask(old)
    path = tmp_path / "ls" / "credentials.json"
    assert path.stat().st_mode & 0o077 == 0
    assert lsdemo.credentials(tmp_path / "ls") == creds  # made once, read back after
