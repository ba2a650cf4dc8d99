"""The checks of scripts/docker-e2e.sh against a running compose stack: the loop through Label Studio,
a worker killed mid-training, `down`/`up`, a backend replica killed under load. Prints one JSON
object of figures (seconds) and exits non-zero on the first failed step."""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from backend.labelstudio.client import LabelStudioClient
from backend.ner.readers import read_corpus, text_and_regions
from backend.ops.lsdemo import DEMO_CONFIG

ROOT = Path(__file__).resolve().parents[1]


class Failed(Exception):
    """A step of the end-to-end run did not hold."""


def until(what: str, check, timeout: float, every: float = 1.0):
    """The first truthy value of `check()`; Failed naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = check()
        except OSError:  # a service restarting: ask again
            value = None
        if value:
            return value
        time.sleep(every)
    raise Failed(f"timed out after {timeout:.0f} s waiting for {what}")


def http(url: str, body: dict | None = None, timeout: float = 30) -> dict:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as reply:
        return json.loads(reply.read() or b"{}")


class Stack:
    """The compose project: its command line, its containers, the proxy's and Label Studio's URLs."""

    def __init__(self, compose: str, backend: str, ls: str, token: str) -> None:
        self.compose, self.backend, self.ls_url = shlex.split(compose), backend.rstrip("/"), ls.rstrip("/")
        self.ls = LabelStudioClient(self.ls_url, token).sdk

    def run(self, *args: str) -> str:
        return subprocess.run([*self.compose, *args], check=True, capture_output=True, text=True).stdout

    def containers(self, service: str) -> list[str]:
        return self.run("ps", "-q", service).split()

    def served_by_each_replica(self, project: int) -> set[str]:
        """The model version each backend container serves for `project`, asked inside it."""
        ask = ("import json, urllib.request; print(json.load(urllib.request.urlopen(urllib.request.Request("
               f"'http://127.0.0.1:9090/setup', json.dumps({{'project': '{project}', 'schema': {DEMO_CONFIG!r}}})"
               ".encode(), {'Content-Type': 'application/json'}), timeout=10))['model_version'])")
        return {subprocess.run(["docker", "exec", c, "python", "-c", ask], capture_output=True, text=True,
                               timeout=60).stdout.strip() for c in self.containers("backend")}

    def healthy(self) -> bool:
        http(self.backend + "/health", timeout=5)
        with urllib.request.urlopen(self.ls_url + "/health", timeout=5):
            return True

    def trainings(self, project: int) -> dict:
        return http(f"{self.backend}/projects/{project}/trainings")


def loop(stack: Stack, sentences, figures: dict) -> tuple[int, list[int]]:
    """An LS project connected to the backend by its service name; annotations made in LS train a
    version that both replicas serve and whose predictions LS then stores."""
    ls = stack.ls
    project = ls.projects.create(title="docker e2e", label_config=DEMO_CONFIG).id
    ls.projects.import_tasks(id=project, request=[{"text": text_and_regions(s)[0]} for s in sentences])
    tasks = sorted(t.id for t in ls.tasks.list(project=project))
    ls.ml.create(project=project, url="http://ner-backend.internal:9090", title="ner-backend", is_interactive=False)
    for task, sentence in zip(tasks[:12], sentences):
        ls.annotations.create(id=task, result=text_and_regions(sentence)[1])
    sent = time.monotonic()
    version = until("a version trained on the LS annotations", lambda: stack.trainings(project)["current"], 600, 2)
    until(f"both replicas to serve {version}", lambda: stack.served_by_each_replica(project) == {version}, 120, 1)
    figures["annotation_to_both_replicas_s"] = round(time.monotonic() - sent, 1)
    unlabelled = tasks[-1]
    until(f"LS to store predictions of {version}", lambda: any(
        p.model_version == version for p in ls.predictions.list(task=unlabelled)), 180, 2)
    figures["first_version"] = version
    return project, tasks


def worker_killed(stack: Stack, project: int, tasks: list[int], sentences, figures: dict) -> None:
    """The worker container killed mid-training and started again: "Start training" then promotes
    a version that saw every annotation."""
    ls = stack.ls
    for task, sentence in zip(tasks[12:22], sentences[12:22]):
        ls.annotations.create(id=task, result=text_and_regions(sentence)[1])
    until("a training to start", lambda: any(r["status"] == "running" for r in stack.trainings(project)["trainings"]),
          120, 0.5)
    subprocess.run(["docker", "kill", *stack.containers("worker-cpu")], check=True, capture_output=True)
    killed = time.monotonic()
    stack.run("up", "-d", "--no-build", "worker-cpu")
    (backend,) = ls.ml.list(project=project)
    ls.ml.train(id=backend.id)

    def complete():
        current = stack.trainings(project)
        return any(r["status"] == "promoted" and r["annotations"] == 22 and r["version"] == current["current"]
                   for r in current["trainings"])

    until("a version trained on all 22 annotations", complete, 600, 2)
    figures["worker_kill_to_complete_version_s"] = round(time.monotonic() - killed, 1)


def down_and_up(stack: Stack, project: int, up_args: list[str], figures: dict) -> None:
    """`down` and `up` again: annotations, versions and the served version survive on the volumes."""
    def settled():  # no training running, no push still writing to LS (it updates its record)
        history = stack.trainings(project)
        busy = [r for r in history["trainings"]
                if r["status"] == "running" or (r.get("push") or {}).get("status") == "running"]
        return None if busy else history

    before = until("the trainings and their pushes to finish", settled, 300, 1)
    stack.run("down")
    started = time.monotonic()
    stack.run("up", "-d", "--no-build", *up_args)
    until("the stack to be healthy again", stack.healthy, 300, 1)
    figures["up_again_to_healthy_s"] = round(time.monotonic() - started, 1)
    after = stack.trainings(project)
    if after != before:
        raise Failed(f"the training history changed across down/up: {before} -> {after}")
    until("both replicas to serve the same version again",
          lambda: stack.served_by_each_replica(project) == {before["current"]}, 120, 1)
    annotated = sum(1 for t in stack.ls.tasks.list(project=project) if t.total_annotations)
    if annotated != 22:
        raise Failed(f"{annotated} annotated tasks in Label Studio after down/up, not 22")


def replica_killed(stack: Stack, project: int, texts: list[str], figures: dict) -> None:
    """One backend replica killed (SIGKILL to its processes) under /predict load through the proxy:
    every request is answered but those the killed replica held, which get a 502 (nginx never
    sends a /predict that reached a dying replica to the next: it may be what killed it), and the
    killed replica comes back healthy."""
    body = {"tasks": [{"id": i, "data": {"text": t}} for i, t in enumerate(texts[:4])], "project": str(project),
            "label_config": DEMO_CONFIG}
    answered, failed, stop = [], [], threading.Event()

    def load():
        while not stop.is_set():
            try:
                answered.append(len(http(stack.backend + "/predict", body)["results"]))
            except OSError as exc:  # any failure is the finding
                failed.append(repr(exc))

    threads = [threading.Thread(target=load) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        until("traffic", lambda: len(answered) >= 5, 60, 0.2)
        victim = stack.containers("backend")[0]

        def state() -> tuple[int, str, str]:
            out = subprocess.run(["docker", "inspect", "-f", "{{.RestartCount}} {{.State.Pid}} {{.State.Health.Status}}",
                                  victim], check=True, capture_output=True, text=True).stdout.split()
            return int(out[0]), out[1], out[2]

        restarts, pid, _ = state()
        subprocess.run(["kill", "-9", pid], check=True)  # a crash: the restart policy brings it back
        killed, before = time.monotonic(), len(answered)
        until("the killed replica to come back healthy",
              lambda: state()[0] > restarts and state()[2] == "healthy", 300, 0.5)
        figures["replica_kill_to_healthy_s"] = round(time.monotonic() - killed, 1)
        figures["requests_answered_while_a_replica_was_down"] = len(answered) - before
    finally:
        stop.set()
        for t in threads:
            t.join()
    held = [f for f in failed if "502" in f]  # in flight on the killed replica: at most one a client
    figures["failed_requests"], figures["failed_in_flight_at_the_kill"] = len(failed) - len(held), len(held)
    if len(held) < len(failed) or any(n != 4 for n in answered):  # 502s while nginx still tries the dead one
        raise Failed(f"{len(failed)} requests failed while a replica was killed: {failed[:3]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--compose", required=True, help="the docker-compose command line of the project")
    parser.add_argument("--up-args", default="", help="what `up -d` is given after it (profiles' services, --scale)")
    parser.add_argument("--backend", required=True)
    parser.add_argument("--label-studio", required=True)
    parser.add_argument("--token", required=True)
    args = parser.parse_args()
    stack = Stack(args.compose, args.backend, args.label_studio, args.token)
    sentences = read_corpus(ROOT / "tests/data/gmb_train.csv")[:40]
    figures: dict = {}
    step = "loop"
    try:
        until("the stack to be healthy", stack.healthy, 600, 1)
        project, tasks = loop(stack, sentences, figures)
        step = "worker killed mid-training"
        worker_killed(stack, project, tasks, sentences, figures)
        step = "down and up"
        down_and_up(stack, project, shlex.split(args.up_args), figures)
        step = "replica killed under load"
        replica_killed(stack, project, [text_and_regions(s)[0] for s in sentences[30:]], figures)
    except (Failed, subprocess.CalledProcessError, OSError) as exc:  # the step that failed is the report
        print(json.dumps(figures))
        print(f"FAILED at {step}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
