"""Label Studio shaped data for the tests: configs, texts that trip offsets, gold webhook bodies."""

from __future__ import annotations

from backend.labelstudio import bodies
from backend.ops.lsdemo import DEMO_CONFIG as GMB_CONFIG  # noqa: F401  (the GMB types as LS labels)
from backend.ner.readers import Sentence, text_and_regions  # noqa: F401  (LS-shaped gold, shared)

# A project config with aliases (TIME is "tim" to the model), as the service tests use it.

CONFIG = """<View>
  <Labels name="label" toName="text">
    <Label value="LOC" background="green"/><Label value="PER"/><Label value="TIME" alias="tim"/>
  </Labels>
  <Text name="text" value="$text"/>
</View>"""
WHEN = "2026-11-01T10:00:00Z"  # a fixed time: re-sending an event is a re-delivery, not an update


def ls_predict_body(tasks, project="3.1795679909", config=CONFIG, context=None):
    """Shaped like what Label Studio 1.23 sends (see the protocol doc)."""
    return bodies.predict_body(tasks, project, config, context)


def annotation_event(project: int, task_id: int, sentence: Sentence, ann_id: int | None = None, when: str = WHEN,
                     action: str = bodies.CREATED, regions: list[dict] | None = None, config: str = GMB_CONFIG) -> dict:
    """An LS 1.23 ANNOTATION_CREATED/UPDATED webhook body for `sentence` as task `task_id`."""
    return bodies.gold_event(project, task_id, sentence, regions, ann_id=ann_id, when=when, action=action,
                               config=config)


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


def entity_f1(gold: list[set], predicted: list[set]) -> float:
    """Exact-match micro F1 over (start, end, label) triples."""
    tp = sum(len(g & p) for g, p in zip(gold, predicted))
    n_gold, n_pred = sum(map(len, gold)), sum(map(len, predicted))
    if not tp:
        return 0.0
    precision, recall = tp / n_pred, tp / n_gold
    return 2 * precision * recall / (precision + recall)
