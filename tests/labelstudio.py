"""A real Label Studio 1.23 for end-to-end tests: its own cached venv, started on loopback."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

from tests.http import ROOT, call, free_port

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


class LabelStudio:
    """`label-studio start` with SSRF protection off (so it may call a backend on 127.0.0.1)."""

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
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            [str(venv / "bin" / "label-studio"), "start", "--no-browser", "--host", "127.0.0.1",
             "--internal-host", "127.0.0.1", "-p", str(self.port),
             "--username", "admin@example.com", "--password", "Passw0rd!23", "--user-token", self.token],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, cwd=data_dir,
        )
        self._wait(log_path)

    def _wait(self, log_path: Path, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Label Studio exited ({self.proc.returncode}); see {log_path}")
            try:
                if call("GET", self.url + "/health", timeout=3)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(1)
        self.stop()
        raise RuntimeError(f"Label Studio did not come up; see {log_path}")

    def api(self, method: str, path: str, body=None):
        """Call LS's REST API with the legacy token; raises on a non-2xx answer."""
        status, reply, _ = call(method, self.url + path, body, headers={"Authorization": f"Token {self.token}"})
        if not 200 <= status < 300:
            raise RuntimeError(f"{method} {path} -> {status}: {reply}")
        return reply

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()
