"""Prometheus metrics of the service (shared across gunicorn workers via PROMETHEUS_MULTIPROC_DIR)."""

from __future__ import annotations

import os

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

REQUESTS = Counter("ner_requests_total", "HTTP requests answered", ["endpoint", "status"])
LATENCY = Histogram(
    "ner_request_seconds",
    "Time to answer a request",
    ["endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 100),
)
PREDICTED_TASKS = Counter("ner_predicted_tasks_total", "Tasks answered by /predict", ["project"])
MODEL_VERSION = Gauge(
    "ner_model_version_info", "Model version served per project (value 1)", ["project", "version"],
    multiprocess_mode="livemax",
)


def render() -> tuple[bytes, str]:
    """The exposition text; in multi-process mode, the sum over every live worker."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
