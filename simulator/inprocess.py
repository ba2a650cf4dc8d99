"""The simulated annotator in-process: replay a gold corpus into a project round by round, train
exactly as the worker does (worker.training's dataset and recipe), and measure what annotators would get."""

from __future__ import annotations

import random
import sys
import time
from collections import Counter
from pathlib import Path
from dataclasses import asdict, dataclass, field, replace
from statistics import fmean
from typing import Callable, Iterator

from backend.config import Settings
from backend.labelstudio.annotation import Annotation
from backend.labelstudio.labelconfig import parse_label_config
from backend.ner import coverage
from backend.ner.acquisition import (BALD_CANDIDATES, BALD_PASSES, STRATEGIES as ACTIVE, TASK_SCORE, by_bald,
                                     confidence, pick)
from backend.ner.effort import Effort, effort
from backend.ner.floor import hidden_spans, scored_entities
from backend.ner.predictor import Predictor
from backend.ner.evaluation import predict_corpus_tags, score
from backend.ner.readers import Sentence, text_and_regions
from backend.ner.spans import BOUNDARIES, SPAN_SCORES, decode_entities
from backend.ner.edited import VersionQuality, evidence
from simulator.annotators import SecondAnnotator
from worker.training.adapt import adapt_encoder, adapted_folder
from worker.training.dataset import project_data
from worker.training.loop import fine_tune
from worker.training.recipe import (Current, Lineage, full_sample, lineage_after, plan_training, starting_point,
                                    train_candidate, training_split)


# The orders tasks can come in: the pool's own (what Label Studio shows by default: import order),
# random, the cold start (a covering order until the project's model is good enough, then TASK_SCORE),
# "clustered" (the same, then TASK_SCORE within the cover clusters: the least confident task of the
# cluster with the fewest annotated, `coverage.within_clusters`), "bald" (the same, then the
# BALD_CANDIDATES tasks TASK_SCORE is least sure of, by BALD from Monte Carlo dropout), and the
# active-learning strategies (random until a model is served).
COVERING = ("coldstart", "clustered", "bald")
STRATEGIES = ("sequential", "random", *COVERING, *(s for s in ACTIVE if s != "random"))


class SimulationError(ValueError):
    """Options the simulator cannot run with (said in one line)."""


@dataclass
class Round:
    """What annotators would have after `annotations` tasks: the served model's figures on the
    test set, and what the training of this round did."""

    strategy: str
    seed: int
    annotations: int
    precision: float
    recall: float
    f1: float
    edits_per_task: float
    effort_saved: float | None
    train_seconds: float
    epochs: int
    warm_start: str
    promoted: bool
    version: str | None  # the version served after this round ("v<n>"), None while untrained
    handed_over: bool = False  # coldstart: the served model orders the next round's tasks
    threshold: float | None = None  # the served version's span-score threshold (None: every span served) ...
    threshold_why: str = ""  # ... and what chose this round's
    f1_all: float | None = None  # test F1 ...
    effort_saved_all: float | None = None  # ... and effort saved, had every span been served
    dev_f1: float | None = None
    gazetteer: int = 0  # annotated strings the served version labels wherever they recur
    model_only_f1: float | None = None  # test F1 of this round's model alone ...
    with_strings_f1: float | None = None  # ... and with the annotated strings, served or not
    reason: str | None = None
    plan: str = ""  # what this round's training fitted: every task, or the changes and a replay sample
    choose_seconds: float = 0.0  # scoring the pool to choose this round's batch
    words_per_task: float = 0.0  # of the batch added this round: what a task costs to read ...
    entities_per_task: float = 0.0  # ... and to annotate
    per_label: dict = field(default_factory=dict)
    effort: dict = field(default_factory=dict)  # deletes, creates, relabels, gold over the test set
    second_annotator: str | None = None  # a noisy second annotator of every task, and what trained
    floors: dict = field(default_factory=dict)  # with `floors`: {score: {floor: test edits saved}} (`floor_savings`)

    def to_dict(self) -> dict:
        return asdict(self)


def project_config(types: list[str]) -> str:
    """A labeling config with one <Labels> over one <Text>, holding every entity type."""
    labels = "".join(f'<Label value="{t}"/>' for t in types)
    return f'<View><Labels name="label" toName="text">{labels}</Labels><Text name="text" value="$text"/></View>'


def as_annotation(sentence: Sentence, task_id: int) -> Annotation:
    """The gold annotation an annotator would submit for `sentence`, as the webhook stores it."""
    text, regions = text_and_regions(sentence)
    return Annotation(task_id=task_id, annotation_id=task_id, data={"text": text}, result=regions)


def corpus_config(pool: list[Sentence], test: list[Sentence]) -> str:
    """The simulated project's labeling config: every entity type of both corpora."""
    return project_config(sorted({t[2:] for s in pool + test for t in s.tags if t != "O"}))


def scored(test: list[Sentence], predicted: list[list[str]]) -> tuple[dict, Effort]:
    """seqeval figures and summed annotator effort of `predicted` tags against `test`'s gold."""
    gold = [s.tags for s in test]
    total = Effort()
    for g, p in zip(gold, predicted):
        total += effort(decode_entities(p), decode_entities(g))
    return score(gold, predicted), total


def test_figures(figures: dict, spent: Effort, tasks: int) -> dict:
    """The test-set fields of a Round."""
    return {"precision": figures["precision"], "recall": figures["recall"], "f1": figures["f1"],
            "edits_per_task": round(spent.edits / max(1, tasks), 4),
            "effort_saved": None if spent.saved is None else round(spent.saved, 4),
            "per_label": {k: v["f1"] for k, v in figures["per_label"].items()},
            "effort": {"deletes": spent.deletes, "creates": spent.creates, "relabels": spent.relabels,
                       "gold": spent.gold}}


def measure(current: Current | None, test: list[Sentence], settings: Settings) -> tuple[dict, Effort]:
    """seqeval figures and summed effort of the served model on `test` (nothing predicted while
    no version is served)."""
    if current is None:
        return scored(test, [["O"] * len(s.tags) for s in test])
    return scored(test, predict_corpus_tags(current.predictor(settings), test))


def floor_savings(current: Current, test: list[Sentence], settings: Settings) -> dict[str, dict[str, float | None]]:
    """{span score: {floor: share of the test edits saved}}: what the served version's spans would
    save on `test` had only those scored at or above each floor (`floor.FLOORS`) been shown, under
    each of `spans.SPAN_SCORES`, whichever the version serves on (the priors are chosen on these)."""
    both = Predictor(replace(current.ner, span_score=BOUNDARIES), precision=settings.precision)
    every = both.tag_words_at([s.words for s in test], [None])[0]
    out = {}
    for unit in SPAN_SCORES:
        quality = VersionQuality()
        for sentence, words in zip(test, every):
            edges = (words.begins, words.insides) if unit == BOUNDARIES else ()
            quality.add(scored_entities(words.tags, words.scores, *edges), decode_entities(sentence.tags))
        out[unit] = {f"{value:g}": None if spent.saved is None else round(spent.saved, 4)
                     for value, spent in quality.efforts().items()}
    return out


def check_options(pool: list[Sentence], rounds: list[int], strategy: str) -> None:
    if strategy not in STRATEGIES:
        raise SimulationError(f"unknown strategy {strategy!r}: choose from {', '.join(STRATEGIES)}")
    if not rounds or any(n <= 0 for n in rounds) or sorted(set(rounds)) != rounds:
        raise SimulationError(f"--rounds must be increasing positive task counts, got {rounds}")
    if rounds[-1] > len(pool):
        raise SimulationError(f"the pool has {len(pool)} sentences; --rounds asks for {rounds[-1]}")


def shuffled(pool: list[Sentence], seed: int) -> list[int]:
    """The random order of the pool's tasks (every strategy's first round takes its head)."""
    order = list(range(len(pool)))
    random.Random(seed).shuffle(order)
    return order


def first_order(pool: list[Sentence], strategy: str, seed: int, settings: Settings) -> tuple[list[int], list[int]]:
    """The order tasks come in before a model ranks them (the pool's own for sequential, the covering
    order for coldstart and clustered, a seeded shuffle otherwise), and each task's cover cluster
    (empty where the order does not cover)."""
    if strategy == "sequential":
        return list(range(len(pool))), []
    if strategy in COVERING:
        vectors = coverage.embed([" ".join(s.words) for s in pool], settings.base_model or None)
        assign = coverage.cluster_of(vectors, seed=seed)
        return coverage.covering(assign, seed), assign.tolist()
    return shuffled(pool, seed), []


def next_batch(pool: list[Sentence], taken: list[int], size: int, strategy: str, order: list[int],
               current: Current | None, settings: Settings, handed_over: bool = False,
               clusters: list[int] | None = None) -> list[int]:
    """The next `size` tasks: sequential, random and the covering orders (until `handed_over`) take
    the next ones of `order`; the others rank what is left by the served model's task confidence
    (`order` while nothing is served), clustered within each task's cover cluster (`clusters`), bald
    by BALD among the least confident."""
    done = set(taken)
    left = [i for i in order if i not in done]
    if strategy in ("sequential", "random") or current is None or (strategy in COVERING and not handed_over):
        return left[:size]
    ranking = TASK_SCORE if strategy in COVERING else strategy
    predictor = current.predictor(settings)
    tagged = predictor.tag_words([pool[i].words for i in left])
    n_labels = len(current.labels.labels)
    confidences = [confidence(t, ranking, n_labels) for t in tagged]
    if strategy == "bald":
        unsure = pick(left, confidences, BALD_CANDIDATES, ranking, lambda i: pool[i].words)
        samples = predictor.dropout_samples([pool[i].words for i in unsure], BALD_PASSES, seed=len(taken))
        return by_bald(unsure, samples)[:size]
    if strategy == "clustered":
        annotated = Counter(clusters[i] for i in taken)
        return [left[p] for p in coverage.within_clusters([clusters[i] for i in left], confidences, annotated)[:size]]
    return pick(left, confidences, size, ranking, lambda i: pool[i].words)


def adapted_settings(pool: list[Sentence], settings: Settings,
                     progress: Callable[[str], None] | None = None) -> Settings:
    """`settings` training from the encoder adapted to the pool's texts (ADAPT_STEPS), once per pool."""
    if not settings.adapt_steps:
        return settings
    texts = [" ".join(s.words) for s in pool]
    folder = adapted_folder(Path(settings.data_dir) / "adapted", texts, settings.base_model, settings.adapt_steps, 0)
    if progress and not folder.exists():
        progress(f"adapting the encoder to the pool's {len(texts)} texts ({settings.adapt_steps} masked-LM steps)")
    adapt_encoder(texts, folder, settings.base_model or None, settings.adapt_steps)
    return replace(settings, base_model=str(folder))


def annotate_served(current: Current, batch: list[Sentence], edited: VersionQuality, settings: Settings) -> None:
    """What annotators of `batch` were shown by the served version, compared with what they submit,
    with the spans it tagged but did not show (as a serving process records them)."""
    predictor = current.predictor(settings)
    shown, every = predictor.tag_words_at([s.words for s in batch], [predictor.threshold, None])
    def scored(words):
        return scored_entities(words.tags, words.scores, words.begins, words.insides)

    for sentence, served, tagged in zip(batch, shown, every):
        spans = scored(served)
        edited.add(spans, decode_entities(sentence.tags), hidden_spans(spans, scored(tagged)))


def simulate(pool: list[Sentence], test: list[Sentence], rounds: list[int], strategy: str = "random",
             seed: int = 0, settings: Settings | None = None,
             progress: Callable[[str], None] | None = None, second: SecondAnnotator | None = None,
             floors: bool = False) -> Iterator[Round]:
    """Annotate the pool up to each round's count, train as the worker would, score on `test`;
    yields each round as soon as it is measured. With `second`, every task is annotated by a noisy
    second annotator too, and trains as `second.merge` says (the served spans are still compared
    with the gold annotation). With `floors`, each round also gives `floor_savings`."""
    settings = settings or Settings()
    check_options(pool, rounds, strategy)
    controls = parse_label_config(corpus_config(pool, test))
    order, clusters = first_order(pool, strategy, seed, settings)
    settings = adapted_settings(pool, settings, progress)
    handed = False
    taken: list[int] = []
    annotations: list[Annotation] = []
    two: dict[int, list[Sentence]] = {}  # with `second`: task id -> the sentences it trains on
    noise = random.Random(f"second-annotator-{seed}")
    current: Current | None = None
    rebuilt: Current | None = None  # a full training from the encoder, finished since the last round
    edited: dict[str, VersionQuality] = {}  # per version: its spans on the tasks annotated while it served
    for n, target in enumerate(rounds, 1):
        started = time.monotonic()
        batch = next_batch(pool, taken, target - len(taken), strategy, order, current, settings, handed, clusters)
        choose_seconds = time.monotonic() - started
        if current is not None:
            annotate_served(current, [pool[i] for i in batch], edited.setdefault(current.version, VersionQuality()), settings)
        taken += batch
        annotations += [as_annotation(pool[i], i + 1) for i in batch]
        if second is not None:
            two.update({i + 1: second.trained_on(pool[i], noise) for i in batch})
        if progress:
            progress(f"round {n}/{len(rounds)} ({strategy}, seed {seed}): training on {target} annotated tasks")
        data = project_data(annotations, controls)
        if second is not None:
            data = replace(data, sentences={task: two[task] for task in data.sentences})
        split = training_split(data, settings)
        started = time.monotonic()
        start = rebuilt or current
        plan = plan_training(split, start, settings, seed)
        candidate = train_candidate(split.train, split.dev, data.labels, data.tasks, current, settings, seed=seed,
                                    progress=progress is not None,
                                    unseen_dev=split.unseen_dev(current.trained_on) if current else None,
                                    live=evidence(reversed(edited.items())), plan=plan, start=rebuilt)
        seconds = time.monotonic() - started
        prints = split.train_fingerprints()
        if candidate.reason is None:
            lineage, stale = lineage_after(candidate, start, f"v{n}", data.tasks, "")
            current = Current(f"v{n}", candidate.ner, data.tasks, candidate.seen(split.train_ids), prints, lineage, stale)
            handed = handed or (strategy in COVERING and coverage.handed_over(candidate.dev))
        # the worker's background full training, done before the next round's (which starts from it)
        rebuilt = full_training(split, data, prints, settings, seed) if plan.rebuild else None
        figures, spent = measure(current, test, settings)
        every_span = {}
        if current is not None and current.ner.threshold is not None:
            unfiltered, spent_all = measure(replace(current, ner=replace(current.ner, threshold=None)), test, settings)
            every_span = {"threshold": current.ner.threshold, "f1_all": unfiltered["f1"],
                          "effort_saved_all": None if spent_all.saved is None else round(spent_all.saved, 4)}
        model_only = with_strings = None
        if candidate.tried:  # both ways on the test set, whichever the dev split chose
            fresh = Current("", candidate.result.ner, data.tasks)
            model_only = measure(fresh, test, settings)[0]["f1"]
            with_strings = measure(replace(fresh, ner=replace(fresh.ner, gazetteer=candidate.tried)), test, settings)[0]["f1"]
        row = Round(
            strategy=strategy, seed=seed, annotations=target, **test_figures(figures, spent, len(test)),
            train_seconds=round(seconds, 1), epochs=candidate.config.epochs, warm_start=candidate.warm_start,
            promoted=candidate.reason is None, version=current.version if current else None, dev_f1=candidate.f1,
            handed_over=handed, **every_span, threshold_why=candidate.threshold_why,
            reason=candidate.reason or candidate.note, plan=plan.why,
            gazetteer=len(current.ner.gazetteer or ()) if current else 0,
            model_only_f1=model_only, with_strings_f1=with_strings, choose_seconds=round(choose_seconds, 1),
            words_per_task=round(fmean(len(pool[i].words) for i in batch), 2),
            entities_per_task=round(fmean(len(decode_entities(pool[i].tags)) for i in batch), 3),
            second_annotator=None if second is None else f"{second.rate} noise, trained on {second.merge}",
            floors=floor_savings(current, test, settings) if floors and current is not None else {},
        )
        if progress:
            progress(f"round {n}/{len(rounds)}: F1 {row.f1:.3f}, {row.edits_per_task:.2f} edits a task, "
                     f"effort saved {row.effort_saved}, trained {row.train_seconds:.0f} s ({row.warm_start})")
        yield row


def full_training(split, data, prints: dict[int, str], settings: Settings, seed: int) -> Current:
    """What `worker/jobs/rebuild.py` trains in the background: every training task, from the encoder."""
    _, base, _ = starting_point(None, data.tasks, data.labels, settings)
    result = fine_tune(*full_sample(split.train, settings, seed), base_model=base, labels=data.labels)
    name = f"a full training on {data.tasks} tasks"
    return Current(name, result.ner, data.tasks, split.train_ids, prints, Lineage(name, data.tasks, ""))


def mean_by_strategy(rows: list[Round], key: str) -> dict[str, list[tuple[int, float]]]:
    """{strategy: [(annotations, mean of `key` over seeds)]}, for plots and tables."""
    groups: dict[tuple[str, int], list[float]] = {}
    for r in rows:
        value = getattr(r, key)
        if value is not None:
            groups.setdefault((r.strategy, r.annotations), []).append(value)
    out: dict[str, list[tuple[int, float]]] = {}
    for (strategy, n), values in sorted(groups.items()):
        out.setdefault(strategy, []).append((n, fmean(values)))
    return out


def stderr_progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
