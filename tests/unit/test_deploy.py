"""The deployment files: docker-compose.yml's services, volumes, health checks and GPU reservation,
and a Dockerfile that runs as non-root."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from tests.support.servers import ROOT


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_file_is_valid_for_docker_compose():
    if not shutil.which("docker-compose"):
        pytest.skip("docker-compose not installed (CI installs it and runs `docker-compose config`)")
    subprocess.run(["docker-compose", "-f", str(ROOT / "docker-compose.yml"), "config", "-q"], check=True)


def test_services_volumes_and_health_checks(compose):
    services = compose["services"]
    assert {"redis", "backend", "worker", "worker-cpu", "label-studio"} <= set(services)
    assert set(compose["volumes"]) >= {"redis-data", "models"}
    redis = services["redis"]
    assert "--appendonly" in redis["command"] and "redis-data:/data" in redis["volumes"]
    assert "redis-cli" in redis["healthcheck"]["test"]
    assert "/health" in " ".join(services["backend"]["healthcheck"]["test"])
    for name in ("backend", "worker", "worker-cpu"):  # one model store shared by serving and training
        assert "models:/data/models" in services[name]["volumes"]
        assert services[name]["environment"]["REDIS_URL"] == "redis://redis:6379/0"
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"


def test_gpu_worker_and_cpu_fallback(compose):
    services = compose["services"]
    (device,) = services["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    assert services["worker"]["command"] == services["worker-cpu"]["command"] == ["ner-backend", "worker"]
    assert services["worker-cpu"]["profiles"] == ["cpu"] and "deploy" not in services["worker-cpu"]


def test_label_studio_can_reach_a_backend_on_the_private_network(compose):
    ls = compose["services"]["label-studio"]
    assert ls["profiles"] == ["labelstudio"]
    assert ls["environment"]["ML_BLOCK_LOCAL_IP"] == "false" and ls["environment"]["SSRF_PROTECTION_ENABLED"] == "false"


def test_image_runs_as_non_root():
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    runtime = "\n".join(lines[max(i for i, line in enumerate(lines) if line.startswith("FROM ")):])
    assert "build-essential" not in runtime and "gcc" not in runtime and "HEALTHCHECK" in runtime
