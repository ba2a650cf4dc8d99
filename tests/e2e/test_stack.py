"""The run command on the embedded default, and the README's "Try it" steps replayed as written."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
import redis

from backend.state.annotations import AnnotationStore

from tests.support.servers import ROOT, LoopbackProcess, call, free_port, interrupt_group, wait_until

pytestmark = pytest.mark.slow


def readme_try_it() -> str:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"^#+ Try it.*?```bash\n(.*?)```", text, re.S | re.M)
    assert block, "README has no Try it block"
    return block.group(1)


def niceness_by_command(session: int) -> dict[str, set[int]]:
    """The niceness of every `python -m backend.cli <command>` process in `session`, by command."""
    found: dict[str, set[int]] = {}
    for entry in os.listdir("/proc"):
        try:
            argv = open(f"/proc/{entry}/cmdline", "rb").read().split(b"\0")
            if not entry.isdigit() or os.getsid(int(entry)) != session or b"backend.cli" not in argv:
                continue
            command = argv[argv.index(b"backend.cli") + 1].decode()
            found.setdefault(command, set()).add(os.getpriority(os.PRIO_PROCESS, int(entry)))
        except (OSError, IndexError):  # gone meanwhile, or not a process folder
            continue
    return found


def webhook_line(n: int) -> str:
    return (ROOT / "examples/webhooks.jsonl").read_text().splitlines()[n]


class Stack(LoopbackProcess):
    """`bash scripts/run.sh` in its own process group, like a terminal would run it."""

    name = "run.sh"

    def __init__(self, env: dict[str, str], log_path) -> None:
        self.port, self.redis_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        full = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "PROMETHEUS_MULTIPROC_DIR")}
        self._launch(["bash", "scripts/run.sh", "--port", str(self.port), "--redis-port", str(self.redis_port)],
                     {**full, **env}, ROOT, log_path, timeout=180, start_new_session=True)

    def ctrl_c(self) -> int:
        try:
            return interrupt_group(self.proc)
        finally:
            self.log.close()


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
        # One machine: predictions yield the CPU to a training and to the front, which answers the
        # webhooks, all in the session (CPU autogroup) of `up`.
        assert niceness_by_command(stack.proc.pid) == {"serve": {5}, "front": {0}, "worker": {0}}
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
        password = (tmp_path / "data" / "redis" / "password").read_text()
        with pytest.raises(redis.AuthenticationError):  # RQ unpickles payloads: no password, no access
            redis.Redis(port=again.redis_port).ping()
        store = AnnotationStore(redis.Redis(port=again.redis_port, password=password))
        assert store.count("1") == 12 and store.config("1") == json.loads(webhook_line(0))["project"]["label_config"]
    finally:
        assert again.ctrl_c() == 0


def test_up_with_label_studio_gives_a_ready_project(trained_folder, tmp_path):
    from label_studio_sdk.client import LabelStudio as SDK

    from backend.ops import lsdemo
    from tests.support.labelstudio import LS_VENV

    lsdemo.ensure_venv(LS_VENV)
    port, ls_port = free_port(), free_port()
    log_path = tmp_path / "up.log"
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "PROMETHEUS_MULTIPROC_DIR")}
    env.update(DATA_DIR=str(tmp_path / "data"), BOOTSTRAP_MODEL=str(trained_folder), LS_VENV=str(LS_VENV))
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "backend.cli", "up", "--port", str(port), "--redis-port", str(free_port()),
             "--label-studio", "--label-studio-port", str(ls_port)],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        def ready() -> bool:
            text = log_path.read_text(errors="replace")
            assert proc.poll() is None, text[-3000:]
            return "Label Studio is up" in text

        wait_until("`up --label-studio` to say Label Studio is up", ready, timeout=400, every=1)
        banner = re.search(r"Label Studio is up: (\S+)/projects/(\d+)\s+login (\S+), password in (\S+)",
                           log_path.read_text())
        assert banner and banner.group(1) == f"http://127.0.0.1:{ls_port}"
        creds_file = tmp_path / "data" / "labelstudio" / "credentials.json"
        assert banner.group(4) == str(creds_file) and creds_file.stat().st_mode & 0o077 == 0
        creds = json.loads(creds_file.read_text())
        assert creds["password"] not in log_path.read_text() and creds["token"] not in log_path.read_text()
        client = SDK(base_url=banner.group(1), api_key=creds["token"])
        project = int(banner.group(2))
        tasks = list(client.tasks.list(project=project))
        assert len(tasks) == 60
        (ml,) = client.ml.list(project=project)
        assert ml.url == f"http://127.0.0.1:{port}"
        client.actions.create(project=project, id="retrieve_tasks_predictions", selected_items={"all": True, "excluded": []})
        assert any(p.result for t in tasks[:10] for p in client.predictions.list(task=t.id))
    finally:
        assert interrupt_group(proc) == 0
    with pytest.raises(OSError):
        call("GET", f"http://127.0.0.1:{ls_port}/health", timeout=2)
