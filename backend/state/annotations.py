"""The annotation store in Redis: every annotation of every task, the newest trained on, durable and idempotent."""

from __future__ import annotations

import json
import time

import redis

from ..labelstudio.annotation import Annotation
from .keys import PROJECTS, ProjectKeys, project_order

# Deletions of ids the store never held, remembered per project (the newest): LS can deliver a
# deletion before the creation it follows, seconds apart, never thousands of annotations apart.
UNSEEN_TOMBSTONES = 1000


def _recency(a: Annotation) -> tuple:
    """How annotations of a task are ordered: by update time, then id (a fixed order for equal times)."""
    return a.updated_at, a.annotation_id


def _newer(a: Annotation, b: Annotation) -> bool:
    return _recency(a) > _recency(b)


class AnnotationStore:
    """Per project: hash task id -> the Annotation it trains on (its newest), the task's older
    annotations beside it (another annotator's), hash annotation id -> task id, a change counter,
    and the ids of deleted annotations (every one it held; the newest UNSEEN_TOMBSTONES it never held).

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
        """Store `ann`. A task trains on its newest annotation; an older one of another annotator
        is kept beside it, to train on if the newer is deleted. True if what the task trains on
        changed (re-delivering an event, or an older annotation, changes nothing)."""
        keys = ProjectKeys(project)
        tasks, owners, changes = self._keys(project)
        field_, aid = str(ann.task_id), str(ann.annotation_id)

        def txn(pipe: redis.client.Pipeline) -> bool:
            if pipe.sismember(keys.deleted_annotations, aid) or pipe.zscore(keys.deleted_unseen, aid) is not None:
                pipe.multi()
                return False
            raw = pipe.hget(tasks, field_)
            old = Annotation.from_json(raw) if raw else None
            others = json.loads(pipe.hget(keys.task_others, field_) or "[]")
            if old is not None and old.annotation_id != ann.annotation_id and _newer(old, ann):
                # another annotator's older annotation: kept beside the one the task trains on
                held = pipe.hget(keys.other_annotations, aid)
                if held is not None and not _newer(ann, Annotation.from_json(held)):
                    pipe.multi()
                    return False
                pipe.multi()
                pipe.hset(keys.other_annotations, aid, ann.to_json())
                pipe.hset(keys.task_others, field_, json.dumps(sorted({*others, aid})))
                pipe.hset(owners, aid, field_)
                return False
            if old is not None and (old == ann or _newer(old, ann)):
                pipe.multi()
                return False
            pipe.multi()
            if old is not None and old.annotation_id != ann.annotation_id:  # the older one stays, beside
                pipe.hset(keys.other_annotations, str(old.annotation_id), old.to_json())
                others = sorted({*others, str(old.annotation_id)})
            if aid in others:
                pipe.hdel(keys.other_annotations, aid)
                others.remove(aid)
            pipe.hset(keys.task_others, field_, json.dumps(others))
            pipe.hset(tasks, field_, ann.to_json())
            pipe.hset(owners, aid, field_)
            pipe.incr(changes)
            pipe.sadd(PROJECTS, project)
            return True

        return self._transaction(txn, tasks, owners, keys.deleted_annotations, keys.deleted_unseen, keys.task_others,
                                 keys.other_annotations)

    def delete_annotations(self, project: str, annotation_ids: list[int]) -> int:
        """Remove the annotations with these ids; a task whose newest one goes trains on its next
        newest, if another annotator's is kept. Returns how many annotations went."""
        keys = ProjectKeys(project)
        tasks, owners, changes = self._keys(project)
        ids = list(dict.fromkeys(str(i) for i in annotation_ids))
        now = time.time()

        def txn(pipe: redis.client.Pipeline) -> int:
            owned = pipe.hmget(owners, ids) if ids else []
            by_task: dict[str, set[str]] = {}
            for aid, task in zip(ids, owned):
                if task is not None:
                    by_task.setdefault(task.decode(), set()).add(aid)
            plans = []
            for task, going in by_task.items():
                raw = pipe.hget(tasks, task)
                current = Annotation.from_json(raw) if raw else None
                others = json.loads(pipe.hget(keys.task_others, task) or "[]")
                kept = [Annotation.from_json(r) for r in (pipe.hmget(keys.other_annotations, others) if others else [])
                        if r is not None]
                plans.append((task, going, current, [a for a in kept if str(a.annotation_id) not in going]))
            pipe.multi()
            stored = [aid for aid, task in zip(ids, owned) if task is not None]
            if stored:  # deleted for ever: an update or a re-sync page delivered later stays out
                pipe.sadd(keys.deleted_annotations, *stored)
            unseen = [aid for aid, task in zip(ids, owned) if task is None]
            if unseen:  # a creation delivered after its deletion stays out too, but ids never stored
                # are made up as easily as real ones: only the newest UNSEEN_TOMBSTONES are kept
                pipe.zadd(keys.deleted_unseen, {aid: now for aid in unseen[-UNSEEN_TOMBSTONES:]})
                pipe.zremrangebyrank(keys.deleted_unseen, 0, -UNSEEN_TOMBSTONES - 1)
            gone = 0
            for task, going, current, kept in plans:
                gone += len(going)
                pipe.hdel(owners, *going)
                pipe.hdel(keys.other_annotations, *going)
                if current is not None and str(current.annotation_id) in going:
                    pipe.incr(changes)
                    if kept:  # the next newest annotation of the task is trained on now
                        successor = max(kept, key=_recency)
                        pipe.hset(tasks, task, successor.to_json())
                        pipe.hdel(keys.other_annotations, str(successor.annotation_id))
                        kept = [a for a in kept if a is not successor]
                    else:
                        pipe.hdel(tasks, task)
                pipe.hset(keys.task_others, task, json.dumps(sorted(str(a.annotation_id) for a in kept)))
            return gone

        return self._transaction(txn, tasks, owners, keys.task_others, keys.other_annotations)

    def delete_unchanged(self, project: str, annotations: list[Annotation]) -> int:
        """Remove these annotations only where the store still holds them exactly (a webhook that
        replaced one since it was read wins), with every other annotation kept for their tasks (LS
        no longer lists any for them); returns how many tasks went, counted as changes."""
        keys = ProjectKeys(project)
        tasks, owners, changes = self._keys(project)
        fields = [str(a.task_id) for a in annotations]

        def txn(pipe: redis.client.Pipeline) -> int:
            held = pipe.hmget(tasks, fields) if fields else []
            gone = [(str(a.task_id), str(a.annotation_id)) for a, raw in zip(annotations, held)
                    if raw is not None and Annotation.from_json(raw) == a]
            others = {task: json.loads(pipe.hget(keys.task_others, task) or "[]") for task, _ in gone}
            pipe.multi()
            # not marked deleted: a task missed by a listing that shifted under it may come back
            for task, annotation_id in gone:
                pipe.hdel(tasks, task)
                pipe.hdel(owners, annotation_id, *others[task])
                if others[task]:
                    pipe.hdel(keys.other_annotations, *others[task])
                pipe.hdel(keys.task_others, task)
            if gone:
                pipe.incrby(changes, len(gone))
            return len(gone)

        return self._transaction(txn, tasks, owners, keys.task_others, keys.other_annotations)

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

    def others(self, project: str) -> list[Annotation]:
        """The older annotations kept beside the ones tasks train on (other annotators')."""
        return [Annotation.from_json(v) for v in self.r.hvals(ProjectKeys(project).other_annotations)]

    def annotation_ids(self, project: str) -> dict[int, set[int]]:
        """Every annotation id kept per task: the one it trains on and the others beside it."""
        out: dict[int, set[int]] = {}
        for aid, task in self.r.hgetall(self._keys(project)[1]).items():
            out.setdefault(int(task), set()).add(int(aid))
        return out

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
