"""The RQ job cover_tasks(project): order a project's unlabelled tasks so that the first ones cover the
data, and write that order to Label Studio as task scores, until the project's own model ranks them."""

from __future__ import annotations

import logging
import time
from itertools import islice

from backend.config import Settings
from backend.labelstudio.client import LabelStudioClient
from backend.labelstudio.labelconfig import project_controls
from backend.ner import coverage
from backend.ner.device import use_threads
from backend.serving import ModelServer, ServedModel
from backend.ner.checkpoint import orders_tasks
from backend.state import Stores, connect
from worker.training.adapt import adapt_encoder, adapted_encoder

from .lswrite import PUSH_BATCH, StalePush, load_version, serving_check, write_predictions

log = logging.getLogger(__name__)


def cover_tasks(project: str) -> dict:
    """Embed the project's unlabelled tasks (up to PUSH_LIMIT), order them by `coverage.cover_order`
    and keep that order in Redis (/predict and later pushes score by it). Then write it to LS: what
    the project is served now (a version too weak to order the tasks, else the bootstrap model, else
    empty pre-annotations) predicts every task, scored by the order, as model version
    `coldstart-<time>`, selected in LS. A version that orders the tasks is never overridden."""
    settings = Settings.from_env()
    use_threads(settings.train_threads)
    stores = connect(settings)
    stores.queue.cover_started(project)
    current = stores.registry.current(project)
    if _orders(project, current, stores):
        return {"project": project, "status": "skipped", "reason": f"{current} orders the tasks"}
    ls = LabelStudioClient(settings.label_studio_url, settings.label_studio_api_key)
    tasks = list(islice(ls.unlabelled_tasks(project, PUSH_BATCH), settings.push_limit))
    keys = _text_keys(project, stores.annotations.config(project))
    texts = [_text(data, keys) for _, data in tasks]
    vectors = coverage.embed(texts, settings.base_model or None)
    scores = {tasks[i][0]: score for i, score in coverage.cover_scores(coverage.cover_order(vectors)).items()}
    made = stores.cover.save(project, scores)
    now = stores.registry.current(project)
    if _orders(project, now, stores):  # promoted meanwhile
        return {"project": project, "status": "kept", "version": made.version, "reason": f"{now} orders the tasks",
                **_adapt(project, texts, settings, stores)}
    try:  # a version promoted while this writes is never selected away (its own push follows)
        write_predictions(project, _served(project, now, settings, stores), made.version, tasks, settings, stores, ls,
                          check=serving_check(stores, project, now, f"cold-start order {made.version}"))
    except StalePush as exc:
        log.info("project %s: %s", project, exc)
        return {"project": project, "status": "stale", "version": made.version, "reason": str(exc),
                **_adapt(project, texts, settings, stores)}
    log.info("project %s: cold-start order %s of %d tasks written", project, made.version, len(tasks))
    return {"project": project, "status": "done", "version": made.version, "tasks": len(tasks),
            **_adapt(project, texts, settings, stores)}


def _adapt(project: str, texts: list[str], settings: Settings, stores: Stores) -> dict:
    """Adapt the encoder to the project's texts once (ADAPT_STEPS), after the order is written:
    the project's trainings from the encoder start from it (see worker.training.adapt)."""
    folder = adapted_encoder(stores.registry.project_dir(project))
    if not settings.adapt_steps or folder.exists() or not any(t.strip() for t in texts):
        return {}
    started = time.monotonic()
    try:
        adapt_encoder(texts, folder, settings.base_model or None, settings.adapt_steps)
    except ValueError as exc:  # texts too short to mask: trainings start from the encoder as it is
        log.warning("project %s: encoder not adapted: %s", project, exc)
        return {}
    seconds = round(time.monotonic() - started, 1)
    log.info("project %s: encoder adapted to %d texts in %.0f s", project, len(texts), seconds)
    return {"adapted": {"texts": len(texts), "steps": settings.adapt_steps, "seconds": seconds}}


def _orders(project: str, version: str | None, stores: Stores) -> bool:
    """Whether `version` (the project's current one, if any) orders the tasks itself."""
    return version is not None and orders_tasks(stores.registry.path(project, version))


def _served(project: str, version: str | None, settings: Settings, stores: Stores) -> ServedModel:
    """What the project is served now, as a serving process loads it: its version, else the
    bootstrap model, else nothing (empty pre-annotations)."""
    return load_version(project, version, settings, stores) if version else ModelServer(settings).bootstrap()


def _text_keys(project: str, config: str | None) -> list[str]:
    """The task data fields the project's labeling config labels (its <Text> values)."""
    controls = project_controls(config, project, "each task's first text field stands in")
    return [c.data_key for c in controls if c.supported]


def _text(data: dict, keys: list[str]) -> str:
    """What a task says, as one string: its labelled fields, else its first string field."""
    texts = [data[k] for k in keys if isinstance(data.get(k), str)]
    if not texts:
        texts = [v for v in data.values() if isinstance(v, str)][:1]
    return " ".join(texts)
