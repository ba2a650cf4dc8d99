"""A project's training data: stored annotations -> words + BIO sentences, labels, a dev split."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field

from backend.labelstudio.annotation import Annotation
from backend.labelstudio.labelconfig import NerControl
from backend.labelstudio.protocol import TooLarge, check_data_size
from backend.ner.labels import LabelSet
from backend.ner.readers import CorpusError, Sentence, data_text, sentence_from_regions

log = logging.getLogger(__name__)
MIN_DEV_TASKS = 10  # below this many tasks every one is needed for training: no dev split
# Every training scores its dev split about six times (the new model, the serving one for the gate,
# the gazetteer, the thresholds, the fast-path check). At DEV_FRACTION 0.2 a project of 20,000 tasks
# would hold 4,000 dev tasks and spend minutes on them; what follows an incremental training's
# steps took 5.7 s with 66 dev tasks and 10.7 s with 250 (2-core Xeon, docs/benchmarks.md, "The flat
# loop"). 250 GMB tasks hold about 550 entities, ten times what the gate needs to tell two models
# apart. Past the cap, the higher-ranked dev tasks are trained on.
MAX_DEV_TASKS = 250


@dataclass
class ProjectData:
    """Sentences by task, the label set to train, and the tasks that could not be used."""

    sentences: dict[int, list[Sentence]]
    labels: LabelSet
    skipped: list[str] = field(default_factory=list)  # one line per unusable task
    _fingerprints: dict[int, str] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def tasks(self) -> int:
        return len(self.sentences)

    def fingerprints(self) -> dict[int, str]:
        """Each task's words and tags as a short hash: a version keeps those it trained on, so the
        next training can tell the tasks added or changed since from those it already learned."""
        if self._fingerprints is None:  # the plan and the version's metrics both read them
            self._fingerprints = {task: _fingerprint(sentences) for task, sentences in self.sentences.items()}
        return self._fingerprints


def _fingerprint(sentences: list[Sentence]) -> str:
    digest = hashlib.sha1()
    for s in sentences:
        digest.update(json.dumps([s.words, s.tags], ensure_ascii=False).encode())
    return digest.hexdigest()[:12]


def _canonical(region: dict, control: NerControl) -> dict:
    """The region with a label's alias (which results may carry) replaced by the label's value."""
    value = region.get("value")
    labels = value.get("labels") if isinstance(value, dict) else None
    if labels and labels[0] in control.aliases:
        return {**region, "value": {**value, "labels": [control.aliases[labels[0]], *labels[1:]]}}
    return region


def _sentences(ann: Annotation, controls: list[NerControl]) -> list[Sentence]:
    """One sentence per labelled text of the task (several <Labels>/<Text> pairs give several)."""
    where = f"task {ann.task_id}"
    if not controls:  # config unknown: the task's text field, every labels region
        return [sentence_from_regions(data_text(ann.data, where), ann.result, where)]
    out = []
    for control in (c for c in controls if c.supported):  # others' regions are not character offsets
        text = ann.data.get(control.data_key)
        if not isinstance(text, str):
            continue
        mine = [_canonical(r, control) for r in ann.result if isinstance(r, dict)
                and r.get("from_name", control.from_name) == control.from_name
                and r.get("to_name", control.to_name) == control.to_name]
        out.append(sentence_from_regions(text, mine, f"{where} ({control.from_name})"))
    return out


def project_data(annotations: list[Annotation], controls: list[NerControl],
                 max_chars: int | None = None) -> ProjectData:
    """Convert every stored annotation; a task whose spans cut words or overlap, or whose text is
    over `max_chars` characters (MAX_TASK_CHARS: an older version stored it, and split into words it
    would take every later training's memory), is skipped (and reported), never fatal: one bad task
    must not stop a project from learning."""
    by_task: dict[int, list[Sentence]] = {}
    skipped: list[str] = []
    for ann in annotations:
        try:
            if max_chars is not None:
                check_data_size(ann.data, max_chars)  # the rule /webhook applies now
        except TooLarge as exc:
            skipped.append(f"task {ann.task_id}: {exc}")
            continue
        try:
            sentences = [s for s in _sentences(ann, controls) if s.words]
        except CorpusError as exc:
            skipped.append(str(exc))
            continue
        except Exception as exc:  # noqa: BLE001 - one unreadable task (stored by an older version, or a
            # shape no check foresaw) must not fail every later training of its project: skip it, say why
            skipped.append(f"task {ann.task_id}: unreadable annotation ({type(exc).__name__}: {exc})")
            continue
        if sentences:
            by_task[ann.task_id] = sentences
    types = {label for c in controls if c.supported for label in c.labels}
    types |= {t[2:] for ss in by_task.values() for s in ss for t in s.tags if t != "O"}
    return ProjectData(by_task, LabelSet.from_types(types), skipped)


def _rank(task_id: int) -> float:
    """A task's fixed place in [0, 1): a hash of its id."""
    return int(hashlib.sha1(f"dev:{task_id}".encode()).hexdigest()[:12], 16) / 16**12


def dev_tasks(data: ProjectData, fraction: float) -> set[int]:
    """The dev split's task ids. A task is dev when its hash rank is below `fraction`, so a task
    never changes sides as tasks come and go, but for the MAX_DEV_TASKS lowest ranked only: past
    that, a task ranked lower can push one to the training side. At least 2 dev tasks (the lowest ranked); none under
    MIN_DEV_TASKS tasks (then a later version's dev tasks were trained on by this one: the gate
    compares on the dev tasks the serving version did not train on, see recipe.train_candidate)."""
    ids = sorted(data.sentences, key=_rank)
    if len(ids) < MIN_DEV_TASKS or fraction <= 0:
        return set()
    dev_ids = {t for t in ids[:MAX_DEV_TASKS] if _rank(t) < fraction}
    return dev_ids | set(ids[: max(0, 2 - len(dev_ids))])


@dataclass(frozen=True)
class Split:
    """A project's tasks split by `dev_tasks`, and the sentences on each side."""

    data: ProjectData
    train_ids: frozenset[int]
    dev_ids: frozenset[int]

    @property
    def train(self) -> list[Sentence]:
        return sentences_of(self.data, self.train_ids)

    @property
    def dev(self) -> list[Sentence]:
        return sentences_of(self.data, self.dev_ids)

    def train_fingerprints(self) -> dict[int, str]:
        """The fingerprints of the training side: what a version trained on this split records."""
        return {t: f for t, f in self.data.fingerprints().items() if t in self.train_ids}

    def unseen_dev(self, trained_on: frozenset[int] | None) -> list[Sentence] | None:
        """The dev sentences a model trained on `trained_on` never saw (None when that is unknown)."""
        return None if trained_on is None else sentences_of(self.data, self.dev_ids - trained_on)


def split_dev(data: ProjectData, fraction: float) -> Split:
    """The `dev_tasks` split of `data`."""
    dev_ids = frozenset(dev_tasks(data, fraction))
    return Split(data, frozenset(data.sentences) - dev_ids, dev_ids)


def sentences_of(data: ProjectData, tasks: set[int]) -> list[Sentence]:
    """The sentences of these tasks, by task id."""
    return [s for t in sorted(tasks) if t in data.sentences for s in data.sentences[t]]
