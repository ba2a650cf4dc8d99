"""A local Label Studio 1.23 for `ner-backend up --label-studio`: its own venv, a ready NER project."""

from __future__ import annotations

import hashlib
import json
import logging
import ipaddress
import os
import secrets
import subprocess
import sys
from pathlib import Path

from ..labelstudio.client import LabelStudioClient

log = logging.getLogger(__name__)
LS_REQUIREMENTS = Path(__file__).with_name("labelstudio-requirements.txt")  # the versions the code works with
LS_CONSTRAINTS = Path(__file__).with_name("labelstudio-constraints.txt")  # every version pinned
USERNAME = "admin@example.com"
PROJECT_TITLE = "ner-backend demo"
GMB_TYPES = ("art", "eve", "geo", "gpe", "nat", "org", "per", "tim")
DEMO_CONFIG = ('<View><Labels name="label" toName="text">'
               + "".join(f'<Label value="{t}"/>' for t in GMB_TYPES)
               + '</Labels><Text name="text" value="$text"/></View>')


def ensure_venv(venv: Path) -> Path:
    """Install Label Studio into `venv` with LS_CONSTRAINTS' versions (about 1.5 minutes, ~1 GB); later
    calls return at once, until the requirements or the constraints change."""
    marker = venv / ".installed"
    wanted = hashlib.sha256(LS_REQUIREMENTS.read_bytes() + LS_CONSTRAINTS.read_bytes()).hexdigest()
    if not marker.exists() or marker.read_text().strip() != wanted:
        print(f"installing Label Studio into {venv} (once, about 1.5 minutes) ...", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "pip"), "install", "-q"]
        pinned = ["-c", str(LS_CONSTRAINTS)]
        subprocess.run(pip + pinned + ["--upgrade", "pip"], check=True)
        subprocess.run(pip + pinned + ["--build-constraint", str(LS_CONSTRAINTS), "-r", str(LS_REQUIREMENTS)], check=True)
        marker.write_text(wanted + "\n")
    return venv


# What Label Studio is given of the supervisor's environment: enough to find its programs, its
# locale, its home and temp folder, and any LABEL_STUDIO_* setting an operator gave it. Nothing
# else: the supervisor's environment holds the backend's secrets (BASIC_AUTH_PASS, REDIS_URL with
# its password, AWS keys), which LS has no use for.
PASSED_ON = ("PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TERM", "USER", "LOGNAME")


# The addresses LS 1.23 refuses to call when its SSRF protection is on (`core.utils.io.validate_ip`:
# reserved, private, loopback, link-local, multicast, documentation ranges).
LS_BANNED_SUBNETS = (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24",
    "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24",
    "224.0.0.0/4", "233.252.0.0/24", "240.0.0.0/4", "255.255.255.255/32", "::/128", "::1/128", "::ffff:0:0/96",
    "::ffff:0:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001:0000::/32", "2001:20::/28",
    "2001:db8::/32", "2002::/16", "fc00::/7", "fe80::/10", "ff00::/8",
)
LOCAL_BACKEND = "127.0.0.0/8"  # where the demo's LS finds the backend


def banned_subnets(allowed: str) -> str:
    """LS's refused ranges less the one network its ML backend is on, as USER_ADDITIONAL_BANNED_SUBNETS
    (with USE_DEFAULT_BANNED_SUBNETS=false): LS's SSRF protection stays on for everything else it
    fetches (imports, storages, other webhooks), instead of being switched off for all of LS."""
    hole = ipaddress.ip_network(allowed)
    out = []
    for raw in LS_BANNED_SUBNETS:
        net = ipaddress.ip_network(raw)
        if net.version != hole.version or not hole.subnet_of(net):
            out.append(str(net))
        elif net != hole:
            out += sorted(str(n) for n in net.address_exclude(hole))
    return ",".join(out)


def ssrf_environment(allowed: str) -> dict[str, str]:
    """LS settings that let it call a backend on the `allowed` network and nowhere else private."""
    return {"SSRF_PROTECTION_ENABLED": "true", "ML_BLOCK_LOCAL_IP": "true", "USE_DEFAULT_BANNED_SUBNETS": "false",
            "USER_ADDITIONAL_BANNED_SUBNETS": banned_subnets(allowed)}


def ls_environment(data_dir: Path, password: str, token: str) -> dict[str, str]:
    """What LS 1.23 needs to call a backend on loopback (and no other private address) and to
    accept the legacy token this demo hands to the backend, and the admin user it creates on first
    start. The password and token travel in the environment, which only the owner can read, never
    on the command line, which every local user sees in the process list."""
    inherited = {k: v for k, v in os.environ.items()
                 if k in PASSED_ON or k.startswith(("LC_", "LABEL_STUDIO_"))}
    return {
        **inherited,
        **ssrf_environment(LOCAL_BACKEND),
        "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir),
        "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
        "LABEL_STUDIO_USERNAME": USERNAME,
        "LABEL_STUDIO_PASSWORD": password,
        "LABEL_STUDIO_USER_TOKEN": token,
    }


def command(venv: Path, port: int) -> list[str]:
    """`label-studio start` on 127.0.0.1:`port`; the admin user comes from `ls_environment`."""
    return [str(venv / "bin" / "label-studio"), "start", "--no-browser", "--host", "127.0.0.1",
            "--internal-host", "127.0.0.1", "-p", str(port)]


def credentials(folder: Path) -> dict[str, str]:
    """The demo's admin password and API token, made once and kept in `folder` (mode 600)."""
    path = folder / "credentials.json"
    if path.exists():
        return json.loads(path.read_text())
    folder.mkdir(parents=True, exist_ok=True)
    creds = {"password": secrets.token_urlsafe(12), "token": secrets.token_hex(20)}
    # Created owner-only: written first and narrowed after, it would be readable by every local
    # user (umask 022) for as long as the write takes, or for good if the process died meanwhile.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(json.dumps(creds))
    return creds


def ready_project(url: str, token: str, backend_url: str, texts: list[str]) -> int:
    """The demo project (NER config, sample tasks, the backend connected); made once."""
    return LabelStudioClient(url, token).ready_project(PROJECT_TITLE, DEMO_CONFIG, texts, backend_url)


if __name__ == "__main__":  # scripts/setup-labelstudio.sh: install into the venv folder given
    ensure_venv(Path(sys.argv[1]))


class LocalLabelStudio:
    """`label-studio start` on a free loopback port with the demo's environment, a fresh admin and
    legacy token, its data under `folder`: what the benchmarks drive (the tests have their own)."""

    def __init__(self, folder: Path, venv: Path | None = None) -> None:
        from .processes import free_port, wait_for_health

        # the venv scripts/setup-labelstudio.sh makes for the tests, run from the repository root
        venv = venv or Path(os.environ.get("LS_VENV", ".cache/lsvenv"))
        self.port, self.token = free_port(), secrets.token_hex(20)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(folder / "labelstudio.log", "ab")
        env = ls_environment(folder / "ls", secrets.token_urlsafe(12), self.token)
        self.proc = subprocess.Popen(command(ensure_venv(venv), self.port), env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        wait_for_health(self.url, self.proc, "Label Studio", timeout=300)  # the first start migrates: ~40 s

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)
        self.log.close()
