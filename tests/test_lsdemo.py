"""The local Label Studio launcher's command line."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from backend import lsdemo


@pytest.mark.parametrize("password", ["-starts-with-a-dash", "--double", "plain_Pass-1"])
def test_any_generated_password_reaches_label_studio_intact(password):
    # `label-studio start` parses its options with argparse, which refuses "--password -x" (an
    # option where a value should be): token_urlsafe passwords start with "-" one time in 64.
    parser = argparse.ArgumentParser()
    for option in ("--username", "--password", "--user-token", "--host", "--internal-host", "-p"):
        parser.add_argument(option)
    parser.add_argument("--no-browser", action="store_true")
    token = "-" + "a" * 39
    args = parser.parse_args(lsdemo.command(Path("/venv"), 8080, password, token)[2:])
    assert (args.password, args.user_token, args.username, args.p) == (password, token, lsdemo.USERNAME, "8080")
