"""The one training recipe (how long to train, where to start from, whether to promote), shared by
the RQ job, the CLI trainer and the simulator, so that what the simulator measures is what users get."""

from __future__ import annotations

import copy
import math
import random
from dataclasses import dataclass, replace

from backend.config import Settings
from backend.ner.evaluation import corpus_efforts, evaluate_model
from backend.ner.floor import EVERY, Floor
from backend.ner.gazetteer import Gazetteer
from backend.ner.labels import LabelSet
from backend.ner.model import NerModel
from backend.ner.predictor import Predictor
from backend.ner.readers import Sentence
from backend.ner.spans import BOUNDARIES, CHANCE, decode_entities

from .dataset import ProjectData, Split, sentences_of, split_dev
from .loop import TrainConfig, TrainResult, fine_tune
from .mentions import with_replaced_mentions

# Optimiser steps a training aims for when TRAIN_EPOCHS is 0 (auto). Few tasks need many passes:
# on 50 GMB sentences, 60 steps gave held-out F1 0.49 and 400 steps 0.63. 200 steps do as well as
# 400 from 50 to 1,000 tasks (simulated rounds, test F1 within +-0.01 either way; docs/benchmarks.md,
# "The loop") and halve the loop's wait.
TARGET_STEPS = 200
MIN_EPOCHS, MAX_EPOCHS = 3, 200
# Warm-start from the serving model only while it has seen most of today's tasks: a model fitted to
# a handful of tasks is a worse start than the encoder once the data has grown well past it.
WARM_START_SHARE = 2 / 3
# The F1 gate needs a dev split that can tell two models apart: with a few dev tasks (~10 entities)
# F1 swings by 0.1 from one task to the next, and the gate refused better models (a version trained
# on 25 tasks was refused next to one trained on 10). Below this many gold entities on dev, the
# newer model (more data) is promoted and the record says the gate could not judge. Such a dev
# split judges nothing, so its tasks are trained on instead: on BC5CDR after 50 cold-start tasks
# (3 seeds, test set), training on all 50 rather than ~40 (and serving from the prior 0.9) lifted
# the edits saved from 12-20 % to 23-29 % (docs/benchmarks.md, "The first hour").
MIN_GATE_ENTITIES = 50
# Span-score thresholds tried on the dev split: the one that saves the annotator the most edits is
# served (none, when none saves more than serving every span). A weak model's wrong spans cost a
# delete each: on BC5CDR after 50 tasks, serving every span saved 0.1 % of the edits.
THRESHOLDS = (0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


@dataclass(frozen=True)
class Priors:
    """The span-score thresholds served without a dev split to choose one, in one score's units."""

    judged: float  # while the annotators' edits of recent versions judge the spans and choose no floor
    unjudged: float  # while too few of them do: a first version, or a few sparse tasks


# Served without a dev split (`spans.span_score`'s two scores). The chance a span is right: 0.9, the
# value dev splits chose most often (25 of 57 simulated rounds on GMB and BC5CDR; none in 19), and
# 0.95 while no annotator's edits judge the spans (from 0.9, one of six first versions cost 5.2 %
# more edits than it saved). Weighed against its boundaries (the default): 0.99, the lowest floor at
# which no first version of GMB, BC5CDR and WNUT-17 tweets (3 seeds each) cost more edits than it
# saved (0.0-20.2 %; from 0.97 a WNUT-17 one cost 3.5 %, from 0.95 9.7 %), and past the first ones
# 0.95, which on GMB and BC5CDR saved more than 0.9 on every version trained after 25 and 50 tasks.
# After 50 cold-start tasks: GMB F1 0.625 and 41.9 % of the edits saved against 0.595 and 37.5 %
# with "chance" (docs/benchmarks.md, "The first hour").
PRIORS = {CHANCE: Priors(judged=0.9, unjudged=0.95), BOUNDARIES: Priors(judged=0.95, unjudged=0.99)}
UNJUDGED_WHY = ", higher while the annotators' edits of its versions are too few to judge them"
# The flat loop. A full training runs about TARGET_STEPS steps, and at least MIN_EPOCHS passes over
# every task, so its wait grows with the project (webhook -> new version 32 s at 300 tasks, 97 s at
# 3,000 on a 2-core Xeon). From INCREMENTAL_FROM tasks on, a version warm-starts from the serving
# one and takes INCREMENTAL_STEPS steps over the tasks added or changed since it trained, mixed
# with a replay sample of the rest (at least as many sentences): 21 s at 300 tasks, 27 s at 3,000,
# 31 s at 20,000 (docs/benchmarks.md, "The flat loop", with its test F1 against full trainings).
# Under INCREMENTAL_FROM tasks a full training is itself about TARGET_STEPS steps.
INCREMENTAL_FROM = 200
INCREMENTAL_STEPS = 80
# A full training from the encoder again once the project has REBUILD_GROWTH times the tasks of the
# last one: incremental versions drift from what a model of all the data would learn, and a
# deleted or corrected annotation keeps its influence on their weights until the next full training.
# It runs in the background (worker/jobs/rebuild.py) while incremental versions go on serving, and
# the first training after it starts from it.
REBUILD_GROWTH = 2.0


def auto_epochs(train_sentences: int, batch_size: int) -> int:
    """Enough epochs for about TARGET_STEPS optimiser steps, within MIN..MAX_EPOCHS."""
    steps_per_epoch = math.ceil(train_sentences / max(1, batch_size))
    return max(MIN_EPOCHS, min(MAX_EPOCHS, math.ceil(TARGET_STEPS / max(1, steps_per_epoch))))


def epochs_for(train_sentences: int, settings: Settings) -> int:
    """TRAIN_EPOCHS, or (auto) `auto_epochs` at TRAIN_BATCH_SIZE."""
    return settings.train_epochs if settings.train_epochs > 0 else auto_epochs(train_sentences, settings.train_batch_size)


def train_config(train_sentences: int, settings: Settings, seed: int = 42) -> TrainConfig:
    return TrainConfig(epochs=epochs_for(train_sentences, settings), learning_rate=settings.train_lr,
                       batch_size=settings.train_batch_size, precision=settings.precision, seed=seed)


# Mention replacement, in the first hour: after 50 cold-start tasks (3 seeds, served spans) it lifted
# test F1 from 0.550 to 0.585 on GMB and from 0.586 to 0.621 on BC5CDR, and the edits saved from 34.1
# to 37.6 % and from 29.9 to 32.4 %, in the same steps (docs/benchmarks.md, "The first hour").
def full_sample(train: list[Sentence], settings: Settings, seed: int = 42) -> tuple[list[Sentence], TrainConfig]:
    """What a full training fits, and how: `train`, followed by each sentence again with its mentions
    replaced (`mentions.py`) while the auto epochs keep that at about TARGET_STEPS steps (up to about
    530 sentences; beyond, MIN_EPOCHS would double the steps), then `train_config` for that many."""
    sample = train
    if (settings.mention_replacement == "on" and settings.train_epochs <= 0
            and auto_epochs(2 * len(train), settings.train_batch_size) > MIN_EPOCHS):
        sample = with_replaced_mentions(train, seed)
    return sample, train_config(len(sample), settings, seed)


@dataclass(frozen=True)
class Lineage:
    """The last full training behind a version: incremental versions carry their ancestor's."""

    version: str
    tasks: int  # annotated tasks that full training read
    at: str  # when it finished (UTC, ISO)

    @classmethod
    def from_dict(cls, raw) -> Lineage | None:
        try:
            return cls(str(raw["version"]), int(raw["tasks"]), str(raw["at"]))
        except (KeyError, TypeError, ValueError):  # a version saved before lineages: unknown
            return None


@dataclass
class Plan:
    """What a training fits: every training task from a starting point (full), or the tasks added
    and changed since the serving version plus a replay sample of the rest, from it (incremental)."""

    incremental: bool
    sample: list[Sentence]  # the sentences fitted (incremental: changed first, then the replay)
    why: str
    changed: int = 0  # tasks added or changed since the serving version trained
    replayed: int = 0  # sentences it had learned, drawn again so that it does not forget them
    stale: int = 0  # tasks deleted or changed since the last full training: in the weights until the next
    steps: int = 0  # optimiser steps (incremental)
    rebuild: bool = False  # a full training from the encoder is due: the project grew REBUILD_GROWTH times since the last

    def to_dict(self) -> dict:
        return {"incremental": self.incremental, "rebuild": self.rebuild, "why": self.why, "changed": self.changed,
                "replayed": self.replayed, "stale": self.stale, "steps": self.steps}


@dataclass
class Current:
    """The serving version of a project, as the recipe needs it."""

    version: str
    ner: NerModel
    tasks: int  # annotated tasks its training read (train + dev); 0 when unknown
    trained_on: frozenset[int] | None = None  # the task ids it trained on; None when unknown
    fingerprints: dict[int, str] | None = None  # what it trained on, task by task; None when unknown
    lineage: Lineage | None = None  # the full training it descends from; None when unknown
    stale: int = 0  # annotations deleted or changed since that full training: still in its weights

    @classmethod
    def from_metrics(cls, version: str, ner: NerModel, metrics: dict) -> Current:
        """What a model folder's metrics.json says of the tasks it trained on (older folders say less)."""
        trained_on, prints, lineage = metrics.get("train_tasks"), metrics.get("train_fingerprints"), metrics.get("lineage")
        return cls(version, ner, int(metrics.get("annotations") or 0),
                   frozenset(trained_on) if isinstance(trained_on, list) else None,
                   fingerprints={int(t): f for t, f in prints.items()} if isinstance(prints, dict) else None,
                   lineage=Lineage.from_dict(lineage),
                   stale=int(lineage.get("stale") or 0) if isinstance(lineage, dict) else 0)

    @property
    def labels(self) -> LabelSet:
        return self.ner.labels

    def predictor(self, settings: Settings) -> Predictor:
        return Predictor(self.ner, precision=settings.precision)


@dataclass
class Candidate:
    """A trained model and what the gate needs to decide on it."""

    result: TrainResult
    config: TrainConfig
    warm_start: str  # "current:<version>", "incremental:<version>", "bootstrap" or "base"
    dev: dict | None  # seqeval figures of the new model on the dev split
    previous_dev_f1: float | None  # the serving model's micro-F1 on the dev tasks it has not seen
    gazetteer: Gazetteer | None = None  # served with the model: it beat the model alone on dev
    tried: Gazetteer | None = None  # the annotated strings that were tried, served or not
    model_only_f1: float | None = None  # dev F1 without the gazetteer, when one was tried
    threshold: float | None = None  # spans scored below it are not served (None: all are) ...
    threshold_why: str = ""  # ... and what chose it
    dev_effort_saved: float | None = None  # share of edits the served pre-annotations save on dev ...
    dev_effort_saved_all: float | None = None  # ... and what serving every span would
    reason: str | None = None  # why it must not be promoted; None: promote
    note: str | None = None  # what the gate could not judge, for the record
    plan: Plan | None = None  # what it fitted: every task, or the changes and a replay sample
    # the tasks its starting point's weights had seen (empty from the encoder; None: unknown)
    inherited: frozenset[int] | None = frozenset()

    @property
    def f1(self) -> float | None:
        return self.dev["f1"] if self.dev else None

    def seen(self, train_ids: frozenset[int]) -> frozenset[int] | None:
        """Every task in the new model's weights (None when unknown): `train_ids`, what it trained
        on, and all its starting point had seen. A version trained before the project had a dev
        split saw today's dev tasks and passes them on to every version warm-started from it,
        which the gate then judged on tasks it had learned: on GMB (cold start, seed 0) the version
        of 150 tasks, warm-started from one trained on all of the first 100, scored dev F1 0.91 and
        held the gate at 0.716 where the tasks none had seen gave it 0.554."""
        return None if self.inherited is None else train_ids | self.inherited

    def outcome(self) -> dict:
        """What a training record keeps of this candidate (`Training`'s fields of the same names)."""
        return {"epochs": self.config.epochs, "warm_start": self.warm_start, "dev": self.dev,
                "previous_dev_f1": self.previous_dev_f1, "gazetteer": len(self.gazetteer or ()),
                "threshold": self.threshold, "threshold_why": self.threshold_why,
                "dev_effort_saved": self.dev_effort_saved, "dev_effort_saved_all": self.dev_effort_saved_all,
                "plan": self.plan.to_dict() if self.plan else None}

    @property
    def ner(self) -> NerModel:
        """The new model as it would be served: with the annotated strings when dev chose them."""
        return replace(self.result.ner, gazetteer=self.gazetteer, threshold=self.threshold)


def starting_point(current: Current | None, tasks: int, labels: LabelSet, settings: Settings):
    """(init, base_model, description): a copy of the current model when its labels are unchanged
    and it saw at least WARM_START_SHARE of the `tasks` annotated now; else the bootstrap model's
    encoder when configured; else the base model."""
    if current is not None and current.labels == labels and current.tasks >= WARM_START_SHARE * tasks:
        return replace(current.ner, model=copy.deepcopy(current.ner.model)), None, f"current:{current.version}"
    if settings.bootstrap_model:
        return None, settings.bootstrap_model, "bootstrap"
    return None, settings.base_model or None, "base"


def plan_training(split: Split, current: Current | None, settings: Settings, seed: int = 42) -> Plan:
    """Incremental from the serving version when it can be (see INCREMENTAL_FROM), else full."""
    tasks = split.data.tasks
    full = Plan(False, split.train, "a full training")
    if current is None or current.fingerprints is None or current.lineage is None or settings.train_incremental == "off":
        return full
    known, now = current.fingerprints, split.data.fingerprints()
    full.stale = current.stale + sum(1 for t in known if t not in split.train_ids or now.get(t) != known[t])
    if current.labels != split.data.labels:
        return replace(full, why="a full training: the labels changed")
    if tasks < INCREMENTAL_FROM:
        return replace(full, why=f"a full training: under {INCREMENTAL_FROM} tasks one takes about {TARGET_STEPS} steps")
    due = tasks >= REBUILD_GROWTH * current.lineage.tasks
    changed = sorted(t for t in split.train_ids if known.get(t) != now[t])
    fresh = sentences_of(split.data, set(changed))
    pool = sentences_of(split.data, split.train_ids - set(changed))
    budget = max(INCREMENTAL_STEPS * settings.train_batch_size, 2 * len(fresh))
    replay = random.Random(seed * 1_000_003 + tasks).sample(pool, min(len(pool), budget - len(fresh)))
    sample = fresh + replay
    passes = max(1, round(budget / max(1, len(sample))))  # a small project: the whole sample, several times
    steps = passes * math.ceil(len(sample) / settings.train_batch_size)
    why = (f"incremental from {current.version}: {len(changed)} tasks added or changed, {len(replay)} sentences "
           f"replayed, {steps} steps")
    if due:
        why += (f"; a full training from the encoder is due in the background ({tasks} tasks, {REBUILD_GROWTH:g} "
                f"times the {current.lineage.tasks} of the last, {current.lineage.version})")
    return Plan(True, sample, why, changed=len(changed), replayed=len(replay), stale=full.stale, steps=steps,
                rebuild=due)


def lineage_after(candidate: Candidate, current: Current | None, version: str, tasks: int, at: str) -> tuple[Lineage, int]:
    """The full training behind a new version and the annotations deleted or changed since: its
    own when it trained from the encoder, else its starting point's."""
    if current is not None and current.lineage is not None and candidate.warm_start.startswith(("current:", "incremental:")):
        return current.lineage, candidate.plan.stale if candidate.plan else current.stale
    return Lineage(version, tasks, at), 0


def training_split(data: ProjectData, settings: Settings) -> Split:
    """The tasks a version trains on and is judged on: `split_dev`'s split, or every task for
    training while that dev split holds fewer than MIN_GATE_ENTITIES gold entities."""
    split = split_dev(data, settings.dev_fraction)
    if split.dev_ids and sum(len(decode_entities(s.tags)) for s in split.dev) < MIN_GATE_ENTITIES:
        return Split(data, split.train_ids | split.dev_ids, frozenset())
    return split


def dev_f1(current: Current | None, dev: list[Sentence], settings: Settings) -> float | None:
    """The serving model's micro-F1 on `dev` (None without one, or when its labels differ)."""
    if current is None or not dev or set(t for s in dev for t in s.tags) - set(current.labels.labels):
        return None
    return evaluate_model(Predictor(replace(current.ner, threshold=None), precision=settings.precision), dev)["f1"]


def rejection(f1: float | None, previous: float | None, settings: Settings, dev_entities: int | None = None) -> str | None:
    """Why a new version must not replace the serving one (None: promote it)."""
    if f1 is None or previous is None or f1 >= previous - settings.max_f1_drop:
        return None
    if dev_entities is not None and dev_entities < MIN_GATE_ENTITIES:
        return None
    return (f"dev F1 {f1:.4f} is more than MAX_F1_DROP={settings.max_f1_drop} below the serving "
            f"version's {previous:.4f} on the same dev tasks")


def train_candidate(train: list[Sentence], dev: list[Sentence], labels: LabelSet, tasks: int,
                    current: Current | None, settings: Settings, seed: int = 42,
                    progress: bool = False, unseen_dev: list[Sentence] | None = None,
                    live: Floor | None = None, plan: Plan | None = None, start: Current | None = None) -> Candidate:
    """Train a new version on `train` as the recipe says, score it on `dev`, and gate it against
    the serving one on `unseen_dev`: the dev sentences the serving version did not train on (None:
    all of `dev`). A version trained before the project had a dev split saw tasks that are dev now.
    `live`: what the annotators' edits of an earlier version's spans say to serve (no dev split: see
    `_try_threshold`). `plan`: `plan_training`'s (None: a full training on `train`); `start`: what
    an incremental plan starts from when not the serving version (a finished background full training)."""
    plan = plan or Plan(False, train, "a full training")
    origin = start or current
    if plan.incremental:
        config = replace(train_config(len(plan.sample), settings, seed), epochs=max(1, round(
            plan.steps / math.ceil(len(plan.sample) / settings.train_batch_size))))
        init, base, warm = replace(origin.ner, model=copy.deepcopy(origin.ner.model)), None, f"incremental:{origin.version}"
        sample, inherited = plan.sample, origin.trained_on
    else:
        sample, config = full_sample(train, settings, seed)
        if len(sample) > len(train):
            plan = replace(plan, why=f"{plan.why}, each sentence also with its mentions replaced")
        init, base, warm = starting_point(current, tasks, labels, settings)
        inherited = current.trained_on if init is not None else frozenset()  # init: the current model's
    result = fine_tune(sample, config, base_model=base, labels=labels, init=init, progress=progress)
    result.ner.span_score = settings.span_score
    new = Predictor(result.ner, precision=settings.precision)
    scores = evaluate_model(new, dev) if dev else None
    gate = dev if unseen_dev is None else unseen_dev
    candidate = Candidate(result, config, warm, scores, dev_f1(current, gate, settings), plan=plan,
                          inherited=inherited)
    if settings.gazetteer == "auto":
        _try_gazetteer(candidate, new, train, dev)
    judged = candidate.dev
    if gate is not dev and gate and candidate.previous_dev_f1 is not None:
        new.gazetteer = candidate.gazetteer
        judged = evaluate_model(new, gate)
    f1, entities = (judged["f1"], judged["support"]) if judged else (None, None)
    candidate.reason = rejection(f1, candidate.previous_dev_f1, settings, entities)
    if candidate.reason is None and rejection(f1, candidate.previous_dev_f1, settings) is not None:
        candidate.note = (f"promoted although its dev F1 {f1:.4f} is below the serving version's "
                          f"{candidate.previous_dev_f1:.4f}: {entities} dev entities cannot tell them apart "
                          f"(the gate needs {MIN_GATE_ENTITIES})")
    elif current is not None and dev and not gate:
        candidate.note = (f"the gate was skipped: the serving version {current.version} has seen every dev "
                          f"task (it, or a version it started from, trained before the project had a dev split)")
    served_from = None  # what the serving version shows, when the annotators' evidence is about it
    if current is not None and live is not None and live.version == current.version:
        served_from = EVERY if current.ner.threshold is None else current.ner.threshold
    _try_threshold(candidate, new, dev, settings.fixed_span_threshold, live, served_from=served_from,
                   unit=settings.span_score)
    if settings.span_score != CHANCE:  # a threshold means something only beside the score it compares
        candidate.threshold_why += f"; scores weigh each span's type against its boundaries (SPAN_SCORE={settings.span_score})"
    return candidate


def _try_threshold(candidate: Candidate, new: Predictor, dev: list[Sentence], fixed: float | None,
                   live: Floor | None = None, served_from: float | None = None, *, unit: str) -> None:
    """Serve only spans scored at or above the THRESHOLDS value that saves the most edits on `dev`
    (F1 and the gate are the model's own, every span counted); without one, the `unit` score's
    PRIORS (`unjudged` while no `live` evidence judges the project's spans), or the `live` floor the annotators'
    edits of an earlier version's spans chose where that evidence carries over (`Floor.carries_over`:
    higher where its spans cost more than they saved, lower where the spans it tagged and did not
    show would have saved more on enough tasks), or the serving version's own lower threshold
    (`served_from`) where that evidence confirms it (`Floor.confirms`); the `fixed` one
    (SPAN_THRESHOLD) when set, 0 serving every span."""
    if fixed is not None:
        candidate.threshold_why = f"SPAN_THRESHOLD={fixed} fixes it"
    if not dev:
        unjudged = live is None
        prior = PRIORS[unit].unjudged if unjudged else PRIORS[unit].judged
        candidate.threshold = prior if fixed is None else fixed or None
        if fixed is None:
            candidate.threshold_why = (f"no dev split yet (one needs {MIN_GATE_ENTITIES} gold entities): the prior "
                                       f"{prior}{UNJUDGED_WHY if unjudged else ''}")
        if fixed is None and live is not None and live.carries_over(prior):
            candidate.threshold = live.floor or None  # EVERY (0): no threshold
            candidate.threshold_why = f"no dev split yet, and the annotators' edits say so: {live.reason}"
        elif fixed is None and live is not None and served_from is not None and live.confirms(served_from, prior):
            candidate.threshold = served_from or None
            candidate.threshold_why = (f"no dev split yet, and the annotators' edits keep what {live.version} "
                                       f"served: {live.reason}")
        elif fixed is None and live is not None and live.spent(prior):
            candidate.threshold_why += (f" ({live.reason}, but {live.version}'s own spans as served cost no more "
                                        f"edits than they saved: the costly spans are no longer shown)")
        candidate.note = candidate.note or (
            f"no dev split judged this version (one needs {MIN_GATE_ENTITIES} gold entities): "
            f"trained on every task, spans served from score {candidate.threshold or 0}")
        return
    new.gazetteer = candidate.gazetteer
    thresholds = THRESHOLDS if fixed is None else (fixed or None,)
    every, *tried = corpus_efforts(new, dev, [None, *thresholds])
    best, saved = None, every.saved
    candidate.dev_effort_saved_all = saved
    for threshold, effort in zip(thresholds, tried):
        if fixed is not None or (effort.saved is not None and saved is not None and effort.saved > saved):
            best, saved = threshold, effort.saved
    candidate.threshold, candidate.dev_effort_saved = best, saved
    if fixed is None:
        candidate.threshold_why = (f"on the {len(dev)} dev tasks, {'every span' if best is None else f'spans from {best}'} "
                                   f"saved the most edits ({saved:.0%})" if saved is not None else "the dev split has no entity")


def _try_gazetteer(candidate: Candidate, new: Predictor, train: list[Sentence], dev: list[Sentence]) -> None:
    """Serve the strings annotated in `train` wherever they recur, only if that beats the model
    alone on `dev` (built from train only, so the dev comparison and every later gate stay unseen
    data). Without a dev split there is no evidence, and they are not served: on GMB they did not
    help at 10, 25 or 50 tasks (docs/benchmarks.md)."""
    gazetteer = Gazetteer.from_sentences(train)
    if not gazetteer or not dev:
        return
    candidate.tried = gazetteer
    new.gazetteer = gazetteer
    merged = evaluate_model(new, dev)
    new.gazetteer = None
    candidate.model_only_f1 = candidate.f1
    if merged["f1"] > candidate.f1:
        candidate.gazetteer, candidate.dev = gazetteer, merged
