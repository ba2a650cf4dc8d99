"""The annotation store in Redis: the latest annotation per task, per project, durable and idempotent."""

from __future__ import annotations

import redis

from ..labelstudio.annotation import Annotation
from .keys import PROJECTS, ProjectKeys, project_order


class AnnotationStore:
    """Per project: hash task id -> Annotation, hash annotation id -> task id, a change counter,
    and the ids of deleted annotations.

    Writes are transactions (WATCH/MULTI): the newest annotation of a task wins whatever order
    webhooks arrive in, and re-delivering an event changes nothing (the counter included). A
    deleted annotation never comes back: an update delivered after its deletion, or a re-sync page
    read before it, finds its id among the deleted and is not stored.
    """

    def __init__(self, client: redis.Redis) -> None:
        self.r = client

    def _keys(self, project: str) -> tuple[str, str, str]:
        keys = ProjectKeys(project)
        return keys.annotations, keys.annotation_tasks, keys.changes

    def upsert(self, project: str, ann: Annotation) -> bool:
        """Store `ann` unless the task already holds a newer or identical one; True if it changed."""
        tasks, owners, changes = self._keys(project)
        field_, deleted = str(ann.task_id), ProjectKeys(project).deleted_annotations

        def txn(pipe: redis.client.Pipeline) -> bool:
            if pipe.sismember(deleted, str(ann.annotation_id)):
                pipe.multi()
                return False
            raw = pipe.hget(tasks, field_)
            old = Annotation.from_json(raw) if raw else None
            if old is not None and (old == ann or (old.updated_at, old.annotation_id) > (ann.updated_at, ann.annotation_id)):
                pipe.multi()
                return False
            pipe.multi()
            if old is not None and old.annotation_id != ann.annotation_id:
                pipe.hdel(owners, str(old.annotation_id))
            pipe.hset(tasks, field_, ann.to_json())
            pipe.hset(owners, str(ann.annotation_id), field_)
            pipe.incr(changes)
            pipe.sadd(PROJECTS, project)
            return True

        return self._transaction(txn, tasks, owners, deleted)

    def delete_annotations(self, project: str, annotation_ids: list[int]) -> int:
        """Remove the tasks' annotations with these ids (others are kept); returns how many went."""
        tasks, owners, _ = self._keys(project)
        ids = [str(i) for i in annotation_ids]

        def txn(pipe: redis.client.Pipeline) -> int:
            owned = pipe.hmget(owners, ids) if ids else []
            pipe.multi()
            if ids:  # also ids not stored (yet): a creation delivered after its deletion stays out
                pipe.sadd(ProjectKeys(project).deleted_annotations, *ids)
            return self._remove(pipe, project, [(task, a) for a, task in zip(ids, owned) if task is not None])

        return self._transaction(txn, tasks, owners)

    def delete_unchanged(self, project: str, annotations: list[Annotation]) -> int:
        """Remove these annotations only where the store still holds them exactly (a webhook that
        replaced one since it was read wins); returns how many went."""
        tasks, owners, _ = self._keys(project)
        fields = [str(a.task_id) for a in annotations]

        def txn(pipe: redis.client.Pipeline) -> int:
            held = pipe.hmget(tasks, fields) if fields else []
            pipe.multi()
            # not marked deleted: a task missed by a listing that shifted under it may come back
            return self._remove(pipe, project, [(str(a.task_id), str(a.annotation_id)) for a, raw in zip(annotations, held)
                                                if raw is not None and Annotation.from_json(raw) == a])

        return self._transaction(txn, tasks, owners)

    def _remove(self, pipe: redis.client.Pipeline, project: str, pairs: list) -> int:
        """Queue the removal of (task, annotation id) pairs in a transaction, counted as changes."""
        tasks, owners, changes = self._keys(project)
        for task, annotation_id in pairs:
            pipe.hdel(tasks, task)
            pipe.hdel(owners, annotation_id)
        if pairs:
            pipe.incrby(changes, len(pairs))
        return len(pairs)

    def _transaction(self, fn, *watch: str):
        result = None

        def run(pipe):
            nonlocal result
            result = fn(pipe)

        self.r.transaction(run, *watch)
        return result

    def annotations(self, project: str) -> list[Annotation]:
        tasks, _, _ = self._keys(project)
        return sorted((Annotation.from_json(v) for v in self.r.hvals(tasks)), key=lambda a: a.task_id)

    def count(self, project: str) -> int:
        return int(self.r.hlen(self._keys(project)[0]))

    def changes(self, project: str) -> int:
        """How many stores and deletions changed this project's data, ever (drives retraining)."""
        return int(self.r.get(self._keys(project)[2]) or 0)

    def projects(self) -> list[str]:
        """Every project that has stored an annotation, by id."""
        return sorted((p.decode() for p in self.r.smembers(PROJECTS)), key=project_order)

    def save_config(self, project: str, label_config: str) -> None:
        self.r.set(ProjectKeys(project).label_config, label_config)

    def config(self, project: str) -> str | None:
        raw = self.r.get(ProjectKeys(project).label_config)
        return raw.decode() if raw else None
