"""The cold-start order of a project's unlabelled tasks, as task scores Label Studio sorts by."""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis

from ..clock import utc_now, utc_stamp
from .keys import COVERED, ProjectKeys, project_order


@dataclass(frozen=True)
class CoverVersion:
    """The cold-start order in force: its model_version in LS, when it was made, how many tasks."""

    version: str
    since: str
    tasks: int


class CoverOrder:
    """Per project: task id -> score (ascending is the covering order), and the version that wrote it."""

    def __init__(self, client: redis.Redis) -> None:
        self.r = client

    def save(self, project: str, scores: dict[int, float]) -> CoverVersion:
        """Replace the project's order with `scores`; returns its new version."""
        keys = ProjectKeys(project)
        now = time.gmtime()
        made = CoverVersion(f"coldstart-{utc_stamp(now)}", utc_now(now), len(scores))
        pipe = self.r.pipeline(transaction=True)
        pipe.delete(keys.cover_scores)
        if scores:
            pipe.hset(keys.cover_scores, mapping={str(t): s for t, s in scores.items()})
        pipe.hset(keys.cover_version, mapping={"version": made.version, "since": made.since, "tasks": made.tasks})
        pipe.sadd(COVERED, project)
        pipe.execute()
        return made

    def scores(self, project: str, task_ids: list[int]) -> dict[int, float]:
        """The scores of those of `task_ids` the order holds (one round trip)."""
        if not task_ids:
            return {}
        raw = self.r.hmget(ProjectKeys(project).cover_scores, [str(t) for t in task_ids])
        return {t: float(v) for t, v in zip(task_ids, raw) if v is not None}

    def rescore(self, project: str, task_ids: list, results: list[dict]) -> None:
        """Give each result (one per task id, in order) whose task the order holds the order's
        score; ids that are not task ids (None) keep theirs."""
        cover = self.scores(project, [t for t in task_ids if t is not None])
        for task_id, result in zip(task_ids, results):
            if task_id in cover:
                result["score"] = cover[task_id]

    def projects(self) -> list[str]:
        """Every project with a cold-start order (the status page lists them in every process)."""
        return sorted((p.decode() for p in self.r.smembers(COVERED)), key=project_order)

    def current(self, project: str) -> CoverVersion | None:
        raw = self.r.hgetall(ProjectKeys(project).cover_version)
        if not raw:
            return None
        fields = {k.decode(): v.decode() for k, v in raw.items()}
        return CoverVersion(fields["version"], fields["since"], int(fields.get("tasks", 0)))
