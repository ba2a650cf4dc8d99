"""A real Label Studio 1.23 for end-to-end tests: its own cached venv, started on loopback."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from backend.ops import lsdemo
from tests.support.servers import ROOT, LoopbackProcess, call, free_port

LS_VENV = Path(os.environ.get("LS_VENV", ROOT / ".cache" / "lsvenv"))


class LabelStudio(LoopbackProcess):
    """`label-studio start` with SSRF protection on for every private address but loopback
    (so it may call a backend on 127.0.0.1)."""

    name = "Label Studio"

    def __init__(self, data_dir: Path, log_path: Path) -> None:
        venv = lsdemo.ensure_venv(LS_VENV)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = secrets.token_hex(20)  # 40 characters, a legacy API token
        self.username, self.password = lsdemo.USERNAME, "Passw0rd!23"
        env = lsdemo.ls_environment(data_dir, self.password, self.token)
        self._launch(lsdemo.command(venv, self.port), env, data_dir, log_path, timeout=300)  # first start migrates: ~40 s

    def api(self, method: str, path: str, body=None):
        """Call LS's REST API with the legacy token; raises on a non-2xx answer."""
        status, reply, _ = call(method, self.url + path, body, headers={"Authorization": f"Token {self.token}"})
        if not 200 <= status < 300:
            raise RuntimeError(f"{method} {path} -> {status}: {reply}")
        return reply
