"""Label Studio shaped data made from BIO sentences: task texts, `labels` regions, webhook bodies."""

from __future__ import annotations

from backend.ner.readers import Sentence
from backend.ner.spans import decode_entities, to_utf16

from backend.lsdemo import DEMO_CONFIG as GMB_CONFIG  # noqa: F401  (the GMB types as LS labels)


def text_and_regions(sentence: Sentence) -> tuple[str, list[dict]]:
    """The words joined by spaces, and one region per entity with UTF-16 offsets."""
    starts, pos = [], 0
    for word in sentence.words:
        starts.append(pos)
        pos += len(word) + 1
    text = " ".join(sentence.words)
    regions = []
    for n, (first, stop, kind) in enumerate(decode_entities(sentence.tags)):
        a, b = starts[first], starts[stop - 1] + len(sentence.words[stop - 1])
        a16, b16 = to_utf16(text, a, b)
        regions.append({"id": f"r{n}", "from_name": "label", "to_name": "text", "type": "labels",
                        "value": {"start": a16, "end": b16, "text": text[a:b], "labels": [kind]}})
    return text, regions


def annotation_event(project: int, task_id: int, sentence: Sentence, ann_id: int | None = None,
                     when: str = "2026-11-01T10:00:00Z", action: str = "ANNOTATION_CREATED",
                     regions: list[dict] | None = None, config: str = GMB_CONFIG) -> dict:
    """An LS 1.23 ANNOTATION_CREATED/UPDATED webhook body for `sentence` as task `task_id`."""
    text, gold = text_and_regions(sentence)
    ann_id = task_id * 10 if ann_id is None else ann_id
    return {
        "action": action,
        "annotation": {"id": ann_id, "result": gold if regions is None else regions, "task": task_id,
                       "project": project, "was_cancelled": False, "completed_by": 1, "created_at": when,
                       "updated_at": when},
        "task": {"id": task_id, "data": {"text": text}, "project": project},
        "project": {"id": project, "title": f"p{project}", "label_config": config},
    }


def entity_f1(gold: list[set], predicted: list[set]) -> float:
    """Exact-match micro F1 over (start, end, label) triples."""
    tp = sum(len(g & p) for g, p in zip(gold, predicted))
    n_gold, n_pred = sum(map(len, gold)), sum(map(len, predicted))
    if not tp:
        return 0.0
    precision, recall = tp / n_pred, tp / n_gold
    return 2 * precision * recall / (precision + recall)
