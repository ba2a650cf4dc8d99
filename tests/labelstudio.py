"""A real Label Studio 1.23 for end-to-end tests: its own cached venv, started on loopback."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

from tests.servers import ROOT, LoopbackProcess, call, free_port

LS_VENV = Path(os.environ.get("LS_VENV", ROOT / ".cache" / "lsvenv"))
LS_REQUIREMENTS = ["label-studio>=1.23,<1.24", "label-studio-sdk>=2,<3"]


def ensure_venv() -> Path:
    """Install Label Studio once (about 1.5 minutes); later runs reuse the venv."""
    marker = LS_VENV / ".installed"
    if not marker.exists():
        subprocess.run([sys.executable, "-m", "venv", str(LS_VENV)], check=True)
        pip = [str(LS_VENV / "bin" / "pip"), "install", "-q"]
        subprocess.run(pip + ["--upgrade", "pip"], check=True)
        subprocess.run(pip + LS_REQUIREMENTS, check=True)
        marker.touch()
    return LS_VENV


class LabelStudio(LoopbackProcess):
    """`label-studio start` with SSRF protection off (so it may call a backend on 127.0.0.1)."""

    name = "Label Studio"

    def __init__(self, data_dir: Path, log_path: Path) -> None:
        venv = ensure_venv()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = secrets.token_hex(20)  # 40 characters, a legacy API token
        env = {
            **os.environ,
            "ML_BLOCK_LOCAL_IP": "false",
            "SSRF_PROTECTION_ENABLED": "false",
            "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir),
            "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
        }
        cmd = [str(venv / "bin" / "label-studio"), "start", "--no-browser", "--host", "127.0.0.1",
               "--internal-host", "127.0.0.1", "-p", str(self.port),
               "--username", "admin@example.com", "--password", "Passw0rd!23", "--user-token", self.token]
        self._launch(cmd, env, data_dir, log_path, timeout=300)  # first start migrates: ~40 s

    def api(self, method: str, path: str, body=None):
        """Call LS's REST API with the legacy token; raises on a non-2xx answer."""
        status, reply, _ = call(method, self.url + path, body, headers={"Authorization": f"Token {self.token}"})
        if not 200 <= status < 300:
            raise RuntimeError(f"{method} {path} -> {status}: {reply}")
        return reply
