"""The simulated annotator against a running backend: annotations go in as Label Studio webhooks,
the service's own workers train and hot-swap, and every test task is predicted over HTTP."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Callable, Iterator

from backend.labelstudio.bodies import gold_event, predict_body, start_training_event
from backend.ner.readers import Sentence, join_words

from .inprocess import Round, SimulationError, check_options, corpus_config, scored, shuffled, test_figures

BATCH = 64  # test tasks per /predict call


def _call(url: str, body: dict | None = None, timeout: float = 600) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method="POST" if body is not None else "GET",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return json.loads(reply.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise SimulationError(f"the service at {url.rsplit('/', 1)[0]} did not answer: {exc}") from None


def word_tags(sentence: Sentence, regions: list[dict]) -> list[str]:
    """Predicted regions (character offsets into the words joined by spaces) as tags on the words."""
    _, starts = join_words(sentence.words)
    tags = ["O"] * len(sentence.words)
    for region in regions:
        value = region["value"]
        inside = [i for i, s in enumerate(starts) if s < value["end"] and s + len(sentence.words[i]) > value["start"]]
        for n, i in enumerate(inside):
            tags[i] = ("B-" if n == 0 else "I-") + value["labels"][0]
    return tags


def _trained(url: str, project: int, annotations: int, timeout: float) -> dict:
    """The record of the training that read `annotations` tasks, once no training is running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        records = _call(f"{url}/projects/{project}/trainings")["trainings"]
        done = [r for r in records if r["annotations"] >= annotations and r["status"] != "running"]
        if done and all(r["status"] != "running" for r in records):
            return done[-1]
        time.sleep(1)
    raise SimulationError(f"project {project}: no training on {annotations} tasks finished in {timeout:.0f} s")


def _served(url: str, project: int, config: str, version: str | None, timeout: float) -> str:
    """The version /setup reports, once it is `version` (every process swaps within a poll)."""
    deadline = time.monotonic() + timeout
    while True:
        served = _call(f"{url}/setup", {"project": str(project), "schema": config})["model_version"]
        if version is None or served == version or time.monotonic() > deadline:
            return served
        time.sleep(0.5)


def simulate_via_service(url: str, project: int, pool: list[Sentence], test: list[Sentence], rounds: list[int],
                         strategy: str = "random", seed: int = 0,
                         progress: Callable[[str], None] | None = None, timeout: float = 3600) -> Iterator[Round]:
    """As `simulate`, through the real service at `url` (its Redis, workers and registry) in
    project `project`, which should be new: its trainings are read back from the service."""
    check_options(pool, rounds, strategy)
    if strategy not in ("random", "sequential"):
        raise SimulationError("--service runs the random and sequential orders only: the others score the pool in-process")
    url = url.rstrip("/")
    config = corpus_config(pool, test)
    sequence, sent = (list(range(len(pool))) if strategy == "sequential" else shuffled(pool, seed)), 0
    for n, target in enumerate(rounds, 1):
        if progress:
            progress(f"round {n}/{len(rounds)} ({strategy}, seed {seed}, via {url}): {target} annotated tasks")
        for i in sequence[sent:target]:
            _call(f"{url}/webhook", gold_event(project, i + 1, pool[i], ann_id=i + 1, config=config))
        sent = target
        _call(f"{url}/webhook", start_training_event(project, config))
        record = _trained(url, project, target, timeout)
        served = _served(url, project, config, record["version"] if record["status"] == "promoted" else None, 60)
        predicted: list[list[str]] = []
        for k in range(0, len(test), BATCH):
            chunk = test[k:k + BATCH]
            body = predict_body([{"text": join_words(s.words)[0]} for s in chunk], f"{project}.0", config, first_id=0)
            results = _call(f"{url}/predict", body)["results"]
            predicted += [word_tags(s, item["result"]) for s, item in zip(chunk, results)]
        figures, spent = scored(test, predicted)
        row = Round(
            strategy=strategy, seed=seed, annotations=target, **test_figures(figures, spent, len(test)),
            train_seconds=record.get("duration_s") or 0.0, epochs=record.get("epochs") or 0,
            warm_start=record.get("warm_start") or "", promoted=record["status"] == "promoted", version=served,
            dev_f1=(record.get("dev") or {}).get("f1"), gazetteer=record.get("gazetteer") or 0,
            reason=record.get("reason") or record.get("error"),
        )
        if progress:
            progress(f"round {n}/{len(rounds)}: F1 {row.f1:.3f} served by {served}")
        yield row
