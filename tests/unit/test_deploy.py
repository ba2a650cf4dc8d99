"""The deployment files: docker-compose.yml's services, volumes, health checks, GPU reservation and
safe defaults (Redis with a password and unpublished, loopback unless asked), and the Dockerfile."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import pytest
import yaml

from tests.support.servers import ROOT

SECRETS = {"REDIS_PASSWORD": "r3dis-pw", "LABEL_STUDIO_USERNAME": "a@b.c", "LABEL_STUDIO_PASSWORD": "ls-pw",
           "LABEL_STUDIO_API_KEY": "ls-token"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def compose_config(env: dict[str, str], *files: str) -> subprocess.CompletedProcess:
    if not shutil.which("docker-compose"):
        pytest.skip("docker-compose not installed (CI installs it)")
    args = [a for f in ("docker-compose.yml", *files) for a in ("-f", str(ROOT / f))]
    base = {k: v for k, v in os.environ.items() if k not in SECRETS and not k.endswith("_BIND")}
    with tempfile.NamedTemporaryFile("w", suffix=".env") as empty:  # not the checkout's own .env
        return subprocess.run(["docker-compose", "--project-directory", str(ROOT), "--env-file", empty.name, *args,
                               "config"], env={**base, **env}, capture_output=True, text=True)


def test_compose_file_is_valid_and_refuses_to_start_without_its_secrets():
    done = compose_config(SECRETS)
    assert done.returncode == 0, done.stderr
    resolved = yaml.safe_load(done.stdout)
    ports = {name: s.get("ports", []) for name, s in resolved["services"].items()}
    assert not ports["redis"] and not ports["backend"]  # Redis never published; replicas behind the proxy
    assert ports["proxy"][0].startswith("127.0.0.1:") and ports["label-studio"][0].startswith("127.0.0.1:")
    assert resolved["services"]["backend"]["environment"]["REDIS_URL"] == "redis://:r3dis-pw@redis:6379/0"
    assert "r3dis-pw" not in " ".join(resolved["services"]["redis"]["command"])  # given on stdin
    opened = yaml.safe_load(compose_config({**SECRETS, "BACKEND_BIND": "0.0.0.0"}).stdout)
    assert opened["services"]["proxy"]["ports"][0].startswith("0.0.0.0:")
    for missing in SECRETS:
        done = compose_config({k: v for k, v in SECRETS.items() if k != missing})
        assert done.returncode != 0 and missing in done.stderr
    offline = compose_config(SECRETS, "docker/compose.offline.yml")
    assert offline.returncode == 0, offline.stderr


def test_services_volumes_and_health_checks(compose):
    services = compose["services"]
    assert {"redis", "backend", "proxy", "worker", "worker-cpu", "label-studio"} <= set(services)
    assert set(compose["volumes"]) >= {"redis-data", "models"}
    redis = services["redis"]
    assert "--appendonly yes --appendfsync always" in redis["command"][-1] and "redis-data:/data" in redis["volumes"]
    assert "requirepass" in redis["command"][-1] and "redis-cli" in redis["healthcheck"]["test"][-1]
    assert "/health" in " ".join(services["backend"]["healthcheck"]["test"])
    assert "ports" not in redis and "ports" not in services["backend"]
    for name in ("backend", "worker", "worker-cpu"):  # one model store shared by serving and training
        assert "models:/data/models" in services[name]["volumes"]
        assert services[name]["environment"]["REDIS_URL"].startswith("redis://:${REDIS_PASSWORD:?")
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"


def test_secrets_come_from_the_env_file_not_from_compose_literals(compose):
    ls = compose["services"]["label-studio"]["environment"]
    for key in ("LABEL_STUDIO_USERNAME", "LABEL_STUDIO_PASSWORD", "LABEL_STUDIO_USER_TOKEN"):
        assert ls[key].startswith("${") and ":?" in ls[key], key
    assert compose["services"]["redis"]["environment"]["REDIS_PASSWORD"].startswith("${REDIS_PASSWORD:?")


def test_compose_env_script_writes_owner_only_fresh_secrets(tmp_path):
    env_file = tmp_path / ".env"
    subprocess.run(["bash", str(ROOT / "scripts/compose-env.sh"), str(env_file)], check=True, capture_output=True)
    values = dict(line.split("=", 1) for line in env_file.read_text().split())
    assert set(values) == set(SECRETS) and env_file.stat().st_mode & 0o077 == 0
    assert len(values["REDIS_PASSWORD"]) == 48 and values["REDIS_PASSWORD"].isalnum()  # safe inside REDIS_URL
    kept = env_file.read_text()
    subprocess.run(["bash", str(ROOT / "scripts/compose-env.sh"), str(env_file)], check=True, capture_output=True)
    assert env_file.read_text() == kept


def test_gpu_worker_and_cpu_fallback(compose):
    services = compose["services"]
    (device,) = services["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    assert services["worker"]["command"] == services["worker-cpu"]["command"] == ["ner-backend", "worker"]
    assert services["worker-cpu"]["profiles"] == ["cpu"] and "deploy" not in services["worker-cpu"]


def test_label_studio_can_reach_a_backend_on_the_private_network(compose):
    # LS makes no webhook for a URL whose host has no dot: the proxy has a dotted alias to connect to
    assert "." in compose["services"]["proxy"]["networks"]["default"]["aliases"][0]
    ls = compose["services"]["label-studio"]
    assert ls["profiles"] == ["labelstudio"]
    # SSRF protection stays on; only the compose network is taken out of the refused ranges
    from backend.ops.lsdemo import ssrf_environment

    (subnet,) = [c["subnet"] for c in compose["networks"]["default"]["ipam"]["config"]]
    assert {k: ls["environment"][k] for k in ssrf_environment(subnet)} == ssrf_environment(subnet)
    assert "127.0.0.0/8" in ls["environment"]["USER_ADDITIONAL_BANNED_SUBNETS"].split(",")


def test_image_runs_as_non_root_and_a_code_change_does_not_copy_torch_again():
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    runtime = "\n".join(lines[max(i for i, line in enumerate(lines) if line.startswith("FROM ")):])
    assert "build-essential" not in runtime and "gcc" not in runtime and "HEALTHCHECK" in runtime
    torch = next(i for i, line in enumerate(lines) if line.startswith("RUN pip install") and "torch==" in line)
    code = next(i for i, line in enumerate(lines) if line.startswith("COPY backend /"))
    assert torch < code and "ARG PYTHON_IMAGE=python:3.11-slim-bookworm" in lines
    # the runtime copies the venv from a stage the code never enters: a code change adds a wheel's
    # layer, not a second copy of torch
    stages = {line.split()[-1]: i for i, line in enumerate(lines) if line.startswith("FROM ") and " AS " in line}
    assert stages["deps"] < torch < stages["build"] < code < stages["runtime"]
    assert "COPY --from=deps /opt/venv /opt/venv" in runtime and "COPY --from=build /opt/venv" not in runtime
    assert "ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu" in lines


def test_webhooks_have_their_own_server_behind_the_proxy(compose):
    services = compose["services"]
    webhooks = services["webhooks"]
    assert webhooks["command"][:2] == ["ner-backend", "front"] and "http://backend:9090" in webhooks["command"]
    assert webhooks["cpu_shares"] > services["backend"].get("cpu_shares", 1024)  # ahead of the replicas' predictions
    assert services["proxy"]["depends_on"]["webhooks"]["condition"] == "service_healthy"
    nginx = (ROOT / "docker" / "nginx.conf").read_text()
    route = nginx[nginx.index("location = /webhook"):]
    assert "http://webhooks:9090" in route[: route.index("}")]
    # a /predict that reached a replica as it died is never replayed on the next one
    rest = nginx[nginx.index("location / {"):]
    assert "proxy_next_upstream" in rest and "non_idempotent" not in rest[: rest.index("}")]
