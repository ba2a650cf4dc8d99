"""One task's annotation as Label Studio reports it: the shape the webhook, the re-sync and the store share."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Annotation:
    """One task's current annotation, as training data: the task data and LS `labels` regions."""

    task_id: int
    annotation_id: int
    data: dict
    result: list = field(default_factory=list)
    completed_by: object = None
    updated_at: str = ""

    def to_json(self) -> str:
        # ASCII escapes keep lone surrogates (which JSON from LS may carry) intact through Redis.
        return json.dumps(asdict(self), ensure_ascii=True, sort_keys=True)

    @classmethod
    def from_json(cls, raw: str | bytes) -> "Annotation":
        return cls(**json.loads(raw))

    @classmethod
    def from_ls(cls, task_id: int, annotation_id: int, data: dict, annotation: dict) -> "Annotation":
        """From one annotation of an LS task, as a webhook or the API reports it (the two agree)."""
        return cls(task_id=task_id, annotation_id=annotation_id, data=data, result=annotation.get("result") or [],
                   completed_by=annotation.get("completed_by"),
                   updated_at=str(annotation.get("updated_at") or annotation.get("created_at") or ""))
