"""The run command on the embedded default, and the README's "Try it" steps replayed as written."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time

import pytest
import redis

from backend.store import AnnotationStore

from tests.servers import ROOT, call, free_port

pytestmark = pytest.mark.slow


def readme_try_it() -> str:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"### Try it.*?```bash\n(.*?)```", text, re.S)
    assert block, "README has no Try it block"
    return block.group(1)


def webhook_line(n: int) -> str:
    return (ROOT / "examples/webhooks.jsonl").read_text().splitlines()[n]


class Stack:
    """`bash scripts/run.sh` in its own process group, like a terminal would run it."""

    def __init__(self, env: dict[str, str], log_path) -> None:
        self.port, self.redis_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(log_path, "ab")
        full = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "PROMETHEUS_MULTIPROC_DIR")}
        self.proc = subprocess.Popen(
            ["bash", "scripts/run.sh", "--port", str(self.port), "--redis-port", str(self.redis_port)],
            cwd=ROOT, env={**full, **env}, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"run.sh exited with {self.proc.returncode}; see {log_path}"
            try:
                if call("GET", self.url + "/health", timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"the stack did not come up; see {log_path}")

    def ctrl_c(self) -> int:
        os.killpg(self.proc.pid, signal.SIGINT)
        code = self.proc.wait(timeout=90)
        self.log.close()
        return code


def test_run_command_and_readme_steps(trained_folder, tmp_path):
    env = {"DATA_DIR": str(tmp_path / "data"), "BOOTSTRAP_MODEL": str(trained_folder), "SWAP_POLL_SECONDS": "0.5"}
    stack = Stack(env, tmp_path / "stack.log")
    try:
        script = readme_try_it().replace("NER=http://127.0.0.1:9090", f"NER={stack.url}")
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=ROOT, capture_output=True, text=True,
                              timeout=400)
        assert done.returncode == 0, done.stderr
        lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
        health, setup, predicted, *webhooks, final_setup, history = lines
        assert health["status"] == "UP" and setup["model_version"].startswith("bootstrap-")
        assert len(predicted["results"]) == 3 and predicted["results"][0]["result"]  # the demo model finds entities
        assert [w["changed"] for w in webhooks] == [1] * 12 and "training" in webhooks[9]
        version = final_setup["model_version"]
        assert version.startswith("v1-") and history["current"] == version
        assert history["trainings"][0]["status"] == "promoted"
        assert history["trainings"][0]["warm_start"] == "bootstrap"
    finally:
        code = stack.ctrl_c()
    assert code == 0
    with pytest.raises(OSError):  # every part stopped with it
        call("GET", stack.url + "/health", timeout=2)

    # Everything survives a restart: annotations (AOF), the history, the promoted version.
    again = Stack(env, tmp_path / "stack.log")
    try:
        status, reply, _ = call("POST", again.url + "/setup", json.loads((ROOT / "examples/setup.json").read_text()))
        assert status == 200 and reply["model_version"] == version
        assert call("GET", again.url + "/projects/1/trainings")[1] == history
        store = AnnotationStore(redis.Redis(port=again.redis_port))
        assert store.count("1") == 12 and store.config("1") == json.loads(webhook_line(0))["project"]["label_config"]
    finally:
        assert again.ctrl_c() == 0
