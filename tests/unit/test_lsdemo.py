"""The local Label Studio launcher: secrets in the environment, never on the command line."""

from __future__ import annotations

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
