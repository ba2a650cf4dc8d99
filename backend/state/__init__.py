"""Everything ner-backend keeps in Redis, and `connect`, the one way to reach it."""

from __future__ import annotations

from dataclasses import dataclass

import redis

from ..config import Settings
from .annotations import AnnotationStore
from .cover import CoverOrder
from .history import TrainingHistory
from .quality import QualityLog
from .quota import ProjectQuota
from .registry import ModelRegistry
from .jobqueue import ProjectJobs

# A Redis that stops answering must fail a request or a job within seconds, not hang it: LS gives a
# webhook 1 s and /setup 3 s, and a hung job would hold its project's training slot. The health
# check re-validates a pooled connection idle for 30 s (a Redis restarted meanwhile).
SOCKET_TIMEOUT_S = 5
CONNECT_TIMEOUT_S = 2
HEALTH_CHECK_S = 30


def client(url: str) -> redis.Redis:
    """A Redis client with the house's timeouts (not for RQ's worker loop, which blocks for minutes)."""
    return redis.Redis.from_url(url, socket_timeout=SOCKET_TIMEOUT_S, socket_connect_timeout=CONNECT_TIMEOUT_S,
                                health_check_interval=HEALTH_CHECK_S)


@dataclass(frozen=True)
class Stores:
    """Every store over one client; nothing connects until first used."""

    client: redis.Redis
    annotations: AnnotationStore
    registry: ModelRegistry
    history: TrainingHistory
    queue: ProjectJobs
    quality: QualityLog
    cover: CoverOrder
    quota: ProjectQuota


def connect(settings: Settings) -> Stores:
    """The stores of `settings.redis_url` and `settings.model_dir`, as the service, the jobs and the CLI use them."""
    r = client(settings.redis_url)
    return Stores(r, AnnotationStore(r), ModelRegistry(settings.model_dir, r), TrainingHistory(r),
                  ProjectJobs(r, settings), QualityLog(r), CoverOrder(r), ProjectQuota(r, settings.max_projects))
