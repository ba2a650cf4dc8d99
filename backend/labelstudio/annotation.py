"""One task's annotation as Label Studio reports it: the shape the webhook, the re-sync and the store share."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from ..jsonvalues import is_number


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


def result_spans(result: list, scored: bool = False) -> list[tuple]:
    """(start, end, label) of every `labels` region of an LS result (one per label it carries);
    `scored`: (start, end, label, score), the score None where the region has none."""
    spans: list[tuple] = []
    for region in result or []:
        value = region.get("value") if isinstance(region, dict) else None
        if not isinstance(value, dict) or region.get("type", "labels") != "labels":
            continue
        start, end, labels = value.get("start"), value.get("end"), value.get("labels")
        if isinstance(start, int) and isinstance(end, int) and isinstance(labels, list):
            score = region.get("score")
            score = float(score) if scored and is_number(score) else None
            spans += [(start, end, str(label), score) if scored else (start, end, str(label)) for label in labels]
    return spans
