"""The checks of scripts/docker-e2e.sh against a running compose stack: two projects' loops through
Label Studio on two workers at once, a worker killed mid-training while the other trains, `down`/`up`,
a backend replica killed under load. Prints one JSON object of figures (seconds) and exits non-zero
on the first failed step."""

from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from backend.clock import utc_seconds
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

    def containers(self, *services: str) -> list[str]:
        """The ids of the services' containers (none named: every service's)."""
        return self.run("ps", "-q", *services).split()

    def served_by_each_replica(self, project: int) -> set[str]:
        """The model version each backend container serves for `project`, asked inside it."""
        ask = ("import json, urllib.request; print(json.load(urllib.request.urlopen(urllib.request.Request("
               f"'http://127.0.0.1:9090/setup', json.dumps({{'project': '{project}', 'schema': {DEMO_CONFIG!r}}})"
               ".encode(), {'Content-Type': 'application/json'}), timeout=10))['model_version'])")
        return {subprocess.run(["docker", "exec", c, "python", "-c", ask], capture_output=True, text=True,
                               timeout=60).stdout.strip() for c in self.containers("backend")}

    def anonymous_volumes(self) -> list[str]:
        """The unnamed volumes Docker made for the containers' VOLUME /data (named ones carry the project's
        name; these, a 64-hex id)."""
        mounts = subprocess.run(["docker", "inspect", "-f", '{{range .Mounts}}{{.Name}} {{end}}', *self.containers()],
                                check=True, capture_output=True, text=True).stdout.split()
        return sorted({m for m in mounts if re.fullmatch(r"[0-9a-f]{64}", m)})

    def healthy(self) -> bool:
        http(self.backend + "/health", timeout=5)
        with urllib.request.urlopen(self.ls_url + "/health", timeout=5):
            return True

    def trainings(self, project: int) -> dict:
        return http(f"{self.backend}/projects/{project}/trainings")


@dataclass
class Project:
    """An LS project of the run and its task ids, in import order."""

    id: int
    tasks: list[int]


def annotate(stack: Stack, projects: list[Project], sentences, first: int, last: int) -> None:
    """Tasks `first` to `last` of every project annotated in LS, the projects taking turns."""
    for i in range(first, last):
        for project in projects:
            stack.ls.annotations.create(id=project.tasks[i], result=text_and_regions(sentences[i])[1])


def start_training(stack: Stack, project: Project) -> None:
    """The project's "Start training" button in LS."""
    (backend,) = stack.ls.ml.list(project=project.id)
    stack.ls.ml.train(id=backend.id)


def replicas_serve(stack: Stack, projects: list[Project], versions: list[str]) -> None:
    """Wait until both backend replicas serve `versions[i]` for `projects[i]`, each."""
    until(f"both replicas to serve {versions}",
          lambda: all(stack.served_by_each_replica(p.id) == {v} for p, v in zip(projects, versions)), 120, 1)


def one_at_a_time(stack: Stack, project: Project) -> None:
    """No two trainings of a project ever ran at the same time, whichever workers took them."""
    records = sorted(stack.trainings(project.id)["trainings"], key=lambda r: utc_seconds(r["started"]))
    for before, after in zip(records, records[1:]):
        if before["finished"] is None or utc_seconds(after["started"]) < utc_seconds(before["finished"]):
            raise Failed(f"project {project.id} trained twice at once: {before} and {after}")


def loop(stack: Stack, sentences, figures: dict) -> list[Project]:
    """Two LS projects connected to the backend by its service name and annotated at once: each
    trains on its own worker at the same time, both replicas serve both versions, and LS stores the
    predictions of each."""
    ls, projects = stack.ls, []
    for name in ("docker e2e a", "docker e2e b"):
        project = ls.projects.create(title=name, label_config=DEMO_CONFIG).id
        ls.projects.import_tasks(id=project, request=[{"text": text_and_regions(s)[0]} for s in sentences])
        projects.append(Project(project, sorted(t.id for t in ls.tasks.list(project=project))))
        ls.ml.create(project=project, url="http://ner-backend.internal:9090", title="ner-backend",
                     is_interactive=False)
    sent = time.monotonic()
    annotate(stack, projects, sentences, 0, 12)
    versions = [until(f"a version of project {p.id} trained on the LS annotations",
                      lambda p=p: stack.trainings(p.id)["current"], 600, 2) for p in projects]
    replicas_serve(stack, projects, versions)
    figures["annotation_to_both_replicas_s"] = round(time.monotonic() - sent, 1)
    a, b = (stack.trainings(p.id)["trainings"][0] for p in projects)
    overlap = (min(utc_seconds(a["finished"]), utc_seconds(b["finished"]))
               - max(utc_seconds(a["started"]), utc_seconds(b["started"])))
    if a["worker"] == b["worker"] or overlap <= 0:
        raise Failed(f"the first trainings did not run side by side on two workers: {a} {b}")
    figures["first_trainings_side_by_side_s"] = overlap
    for project, version in zip(projects, versions):
        unlabelled = project.tasks[-1]
        until(f"LS to store predictions of {version}", lambda task=unlabelled, version=version: any(
            p.model_version == version for p in ls.predictions.list(task=task)), 180, 2)
    figures["first_version"] = versions[0]
    return projects


def worker_killed(stack: Stack, projects: list[Project], sentences, figures: dict) -> None:
    """Both projects training, one on each worker; the worker container of the first project's
    training killed and started again. The other project's training goes on and is promoted as if
    nothing happened; "Start training" then promotes a version of the first that saw every
    annotation, and both replicas serve both."""
    annotate(stack, projects, sentences, 12, 22)

    def both_running():
        running = [[r for r in stack.trainings(p.id)["trainings"] if r["status"] == "running"] for p in projects]
        return running if all(running) else None

    (victim, *_), (other, *_) = until("both projects to train at once", both_running, 180, 0.5)
    host = victim["worker"].split(":")[0]  # the container's id under Docker
    if other["worker"].startswith(host + ":"):
        raise Failed(f"both trainings ran in one container: {victim} {other}")
    (container,) = [c for c in stack.containers("worker-cpu") if c.startswith(host)]
    subprocess.run(["docker", "kill", container], check=True, capture_output=True)
    killed = time.monotonic()
    stack.run("up", "-d", "--no-build", "--scale", "worker-cpu=2", "worker-cpu")
    start_training(stack, projects[0])  # the killed training's annotations, and 21 and 22 (TRAIN_EVERY=10)

    def complete(project: Project):
        history = stack.trainings(project.id)
        return next((r["version"] for r in history["trainings"] if r["status"] == "promoted"
                     and r["annotations"] == 22 and r["version"] == history["current"]), None)

    untouched = until("the other project's training to be promoted", lambda: next(
        (r for r in stack.trainings(projects[1].id)["trainings"] if r["job_id"] == other["job_id"]
         and r["status"] != "running"), None), 600, 1)
    if untouched["status"] not in ("promoted", "rejected"):  # the gate's two verdicts
        raise Failed(f"the training on the other worker did not finish as it would have: {untouched}")
    figures["other_project_training_s"] = untouched["duration_s"]
    start_training(stack, projects[1])  # the annotations that came during that training
    versions = [until(f"a version of project {p.id} trained on all 22 annotations", lambda p=p: complete(p), 600, 2)
                for p in projects]
    figures["worker_kill_to_complete_version_s"] = round(time.monotonic() - killed, 1)
    replicas_serve(stack, projects, versions)
    (dead,) = [r for r in stack.trainings(projects[0].id)["trainings"] if r["job_id"] == victim["job_id"]]
    if dead["status"] != "abandoned":
        raise Failed(f"the killed worker's training was not cut short (killed too late?): {dead}")
    for project in projects:
        one_at_a_time(stack, project)


def down_and_up(stack: Stack, projects: list[Project], up_args: list[str], figures: dict) -> None:
    """`down` and `up` again: annotations, versions and the served versions survive on the volumes."""
    def settled():  # no training running, no push still writing to LS (it updates its record)
        histories = [stack.trainings(p.id) for p in projects]
        busy = [r for h in histories for r in h["trainings"]
                if r["status"] == "running" or (r.get("push") or {}).get("status") == "running"]
        return None if busy else histories

    before = until("the trainings and their pushes to finish", settled, 300, 1)
    unnamed = stack.anonymous_volumes()
    stack.run("down")  # keeps the volumes, as an operator's `down` would: the named ones are the point
    if unnamed:  # ... and the containers' unnamed ones, which the `down -v` at the end no longer sees
        subprocess.run(["docker", "volume", "rm", *unnamed], check=True, capture_output=True)
    started = time.monotonic()
    stack.run("up", "-d", "--no-build", *up_args)
    until("the stack to be healthy again", stack.healthy, 300, 1)
    figures["up_again_to_healthy_s"] = round(time.monotonic() - started, 1)
    for project, history in zip(projects, before):
        after = stack.trainings(project.id)
        if after != history:
            raise Failed(f"the training history changed across down/up: {history} -> {after}")
        replicas_serve(stack, [project], [history["current"]])
        annotated = sum(1 for t in stack.ls.tasks.list(project=project.id) if t.total_annotations)
        if annotated != 22:
            raise Failed(f"{annotated} annotated tasks of project {project.id} in Label Studio after down/up, not 22")


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
        projects = loop(stack, sentences, figures)
        step = "worker killed mid-training"
        worker_killed(stack, projects, sentences, figures)
        step = "down and up"
        down_and_up(stack, projects, shlex.split(args.up_args), figures)
        step = "replica killed under load"
        replica_killed(stack, projects[0].id, [text_and_regions(s)[0] for s in sentences[30:]], figures)
    except (Failed, subprocess.CalledProcessError, OSError) as exc:  # the step that failed is the report
        print(json.dumps(figures))
        print(f"FAILED at {step}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
