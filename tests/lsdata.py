"""Label Studio shaped data made from BIO sentences: task texts, `labels` regions, webhook bodies."""

from __future__ import annotations

from backend.lsdemo import DEMO_CONFIG as GMB_CONFIG  # noqa: F401  (the GMB types as LS labels)
from backend.ner.readers import Sentence, text_and_regions  # noqa: F401  (LS-shaped gold, shared)

# A project config with aliases (TIME is "tim" to the model), as the service tests use it.

CONFIG = """<View>
  <Labels name="label" toName="text">
    <Label value="LOC" background="green"/><Label value="PER"/><Label value="TIME" alias="tim"/>
  </Labels>
  <Text name="text" value="$text"/>
</View>"""


def ls_predict_body(tasks, project="3.1795679909", config=CONFIG, context=None):
    """Shaped like what Label Studio 1.23 sends (see the protocol doc)."""
    return {
        "tasks": [
            {"id": i + 1, "data": data, "meta": {}, "annotations": [], "predictions": [], "project": 3}
            for i, data in enumerate(tasks)
        ],
        "project": project,
        "label_config": config,
        "params": {"login": None, "password": None, "context": context},
    }


# Texts where code points, UTF-16 units and what an editor shows part ways, each with the entity
# strings an annotator marks in it (in order). Offsets into them are Python str indices.
HARD_TEXTS = [
    ("🐱 Warning: This is a test text", ["test"]),  # Label Studio's own emoji test: 21-25
    ("🇩🇪 Angela Merkel met 🇫🇷 Emmanuel Macron in 🇧🇪 Brussels", ["Angela Merkel", "Emmanuel Macron", "Brussels"]),
    ("Jose\u0301 Garci\u0301a flew from Bogota\u0301 to Zu\u0308rich",
     ["Jose\u0301 Garci\u0301a", "Bogota\u0301", "Zu\u0308rich"]),
    ("习近平在北京会见了 Angela Merkel 😀 和 Olaf", ["北京", "Angela Merkel", "Olaf"]),
    ("Paris\r\nBerlin and\r\n\r\nRome 👩‍👩‍👧 Baghdad", ["Berlin", "Rome", "Baghdad"]),
    ("Name:\tAngela\tMerkel\tfrom\tHamburg", ["Angela\tMerkel", "Hamburg"]),
    ("😀😀 Visit   New   York    soon , said  Obama  .", ["New   York", "Obama"]),
]


def hard_regions(text: str, entities: list[str], labels: tuple[str, ...] = ("LOC",)) -> list[dict]:
    """LS `labels` regions for each entity string in `text`, found left to right, code points."""
    regions, pos = [], 0
    for n, entity in enumerate(entities):
        start = text.index(entity, pos)
        pos = start + len(entity)
        regions.append({"id": f"h{n}", "from_name": "label", "to_name": "text", "type": "labels",
                        "value": {"start": start, "end": pos, "text": entity, "labels": [labels[n % len(labels)]]}})
    return regions


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
