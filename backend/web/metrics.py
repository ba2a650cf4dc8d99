"""Prometheus metrics of the service (shared across gunicorn workers via PROMETHEUS_MULTIPROC_DIR),
with a bounded set of project labels."""

from __future__ import annotations

import os
import threading

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

from ..state.keys import project_order
from ..state.registry import newest_first

MAX_PROJECT_LABELS = 50  # projects with series of their own; the rest are counted as "other"
MAX_LABELS = 20  # entity labels with series of their own per project (the "all" series counts every one)
OTHER = "other"

REQUESTS = Counter("ner_requests_total", "HTTP requests answered", ["endpoint", "status"])
LATENCY = Histogram(
    "ner_request_seconds",
    "Time to answer a request",
    ["endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 100),
)
PREDICTED_TASKS = Counter("ner_predicted_tasks_total", "Tasks answered by /predict", ["project"])

_labelled: set[str] = set()
_lock = threading.Lock()


def project_label(project: str | None) -> str:
    """The project's own label for its first MAX_PROJECT_LABELS projects in this process, then
    "other": a backend serving thousands of projects must not grow thousands of series."""
    if project is None:
        return "none"
    with _lock:
        if project in _labelled or len(_labelled) < MAX_PROJECT_LABELS:
            _labelled.add(project)
            return project
    return OTHER


class _Versions:
    """`ner_model_version_info{project, version} 1` for the versions served now, read from the
    registry at scrape time: a version no longer served has no series left behind."""

    def __init__(self, current: dict[str, str]) -> None:
        self.current = current

    def collect(self):
        family = GaugeMetricFamily("ner_model_version_info", "Model version served per project (value 1)",
                                   labels=["project", "version"])
        for project in newest_first(self.current)[:MAX_PROJECT_LABELS]:
            family.add_metric([project, self.current[project]], 1)
        yield family


class _Preannotations:
    """What the newest version with annotated pre-annotations saved, per project and label ("all":
    every label): `quality` is {project: (version, QualityLog figures of that version)}."""

    def __init__(self, quality: dict[str, tuple[str, dict]]) -> None:
        self.quality = quality

    def collect(self):
        names = {"effort_saved": "Share of from-scratch span edits the pre-annotations saved",
                 "kept_share": "Share of pre-annotated spans the annotators kept",
                 "preannotated_share": "Share of the annotated spans that were pre-annotated"}
        families = {k: GaugeMetricFamily(f"ner_preannotation_{k}_ratio", text, labels=["project", "version", "label"])
                    for k, text in names.items()}
        tasks = GaugeMetricFamily("ner_preannotation_tasks", "Annotated tasks compared with their pre-annotations",
                                  labels=["project", "version"])
        for project in sorted(self.quality, key=project_order)[:MAX_PROJECT_LABELS]:
            version, figures = self.quality[project]
            tasks.add_metric([project, version], figures["tasks"])
            # the most annotated labels only: label names come from annotators, in any number
            busiest = sorted(figures["labels"].items(), key=lambda kv: -(kv[1].get("final_spans") or 0))[:MAX_LABELS]
            for label, numbers in [("all", figures), *busiest]:
                for key, family in families.items():
                    if numbers[key] is not None:
                        family.add_metric([project, version, label], numbers[key])
        yield from families.values()
        yield tasks


def render(current: dict[str, str], quality: dict[str, tuple[str, dict]] | None = None) -> tuple[bytes, str]:
    """The exposition text (in multi-process mode, the sum over every live worker), then the
    current version of the most recently promoted projects and what their pre-annotations saved."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        text = generate_latest(registry)
    else:
        text = generate_latest()
    versions = CollectorRegistry()
    versions.register(_Versions(current))
    versions.register(_Preannotations(quality or {}))
    return text + generate_latest(versions), CONTENT_TYPE_LATEST
