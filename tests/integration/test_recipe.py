"""The one training recipe: when it warm-starts, and when annotated strings are served with the model."""

from __future__ import annotations

from backend.config import Settings
from backend.ner.evaluation import evaluate_model
from backend.ner.floor import Floor
from backend.ner.labels import LabelSet
from backend.ner.model import NerModel
from backend.ner.readers import Sentence
from worker.training.recipe import (MIN_GATE_ENTITIES, PRIORS, Current, Plan,
                                    starting_point, train_candidate, training_split)

LABELS = LabelSet.from_types(["org", "per"])


def test_warm_start_only_from_a_model_that_saw_most_of_today_s_tasks():
    current = Current("v3", NerModel(object(), object(), LABELS), tasks=60)
    settings = Settings()
    assert starting_point(current, 90, LABELS, settings)[2] == "current:v3"  # 60 >= 2/3 of 90
    assert starting_point(current, 91, LABELS, settings)[2] == "base"
    assert starting_point(current, 60, LabelSet.from_types(["org"]), settings)[2] == "base"  # labels changed
    assert starting_point(None, 5, LABELS, Settings(bootstrap_model="/models/boot"))[1:] == ("/models/boot", "bootstrap")


def test_annotated_strings_are_served_only_when_they_beat_the_model_on_dev():
    def s(name: str) -> Sentence:
        return Sentence(["the", "board", "of", name, "met", "today", "."], ["O", "O", "O", "B-org", "O", "O", "O"])

    train = [s("Zorblax")] * 6 + [s("Quintrel")] * 6
    dev = [s("Zorblax"), s("Quintrel")]
    settings = Settings(train_epochs=1, precision="fp32")  # one pass: the model alone finds nothing yet
    on = train_candidate(train, dev, LABELS, 14, None, settings)
    assert on.model_only_f1 == 0.0 and on.f1 == 1.0 and on.gazetteer is not None
    assert on.gazetteer.entries == {("Zorblax",): "org", ("Quintrel",): "org"}
    off = train_candidate(train, dev, LABELS, 14, None, Settings(train_epochs=1, precision="fp32", gazetteer="off"))
    assert off.gazetteer is None and off.f1 == 0.0
    # a dev split where the strings mean something else: the model alone is kept
    other = [Sentence(["Zorblax", "said", "so", "."], ["B-per", "O", "O", "O"])]
    assert train_candidate(train, other, LABELS, 13, None, settings).gazetteer is None


def test_the_gate_compares_on_dev_tasks_the_serving_version_never_trained_on():
    def s(name: str) -> Sentence:
        return Sentence(["the", "board", "of", name, "met", "today", "."], ["O", "O", "O", "B-org", "O", "O", "O"])

    settings = Settings(train_epochs=1, precision="fp32", gazetteer="off")
    train, dev = [s("Zorblax")] * 6 + [s("Quintrel")] * 6, [s("Zorblax"), s("Quintrel")]
    first = train_candidate(train + dev, [], LABELS, 14, None, settings).result  # before the project had a dev split
    current = Current("v1", first.ner, 14, trained_on=frozenset(range(1, 15)))
    skipped = train_candidate(train, dev, LABELS, 14, current, settings, unseen_dev=[])
    assert skipped.previous_dev_f1 is None and skipped.reason is None
    assert "gate was skipped" in skipped.note and "v1" in skipped.note
    part = train_candidate(train, dev, LABELS, 14, current, settings, unseen_dev=dev[:1])
    assert part.previous_dev_f1 == evaluate_model(current.predictor(settings), dev[:1])["f1"]


def test_a_version_has_seen_what_its_starting_point_had_seen():
    from dataclasses import replace

    def s(name: str) -> Sentence:
        return Sentence(["the", "board", "of", name, "met", "today", "."], ["O", "O", "O", "B-org", "O", "O", "O"])

    settings = Settings(train_epochs=1, precision="fp32", gazetteer="off")
    train = [s("Zorblax")] * 6 + [s("Quintrel")] * 6
    first = train_candidate(train, [], LABELS, 14, None, settings).result  # before the project had a dev split
    everything = Current("v1", first.ner, 14, trained_on=frozenset(range(1, 15)))
    mine = frozenset(range(1, 15)) - {3, 7}  # 3 and 7 are dev tasks now
    # from the encoder: only its own
    assert train_candidate(train, [], LABELS, 100, everything, settings).seen(mine) == mine
    # warm-started from v1, or incremental from it: v1's, so the gate does not count 3 and 7 as unseen
    warm = train_candidate(train, [], LABELS, 14, everything, settings)
    assert warm.warm_start == "current:v1" and warm.seen(mine) == mine | {3, 7}
    step = Plan(True, train, "incremental", steps=1)
    assert train_candidate(train, [], LABELS, 14, everything, settings, plan=step).seen(mine) == mine | {3, 7}
    # incremental from a background full training: that one's, not the serving version's
    rebuilt = replace(everything, version="background", trained_on=mine)
    assert train_candidate(train, [], LABELS, 14, everything, settings, plan=step, start=rebuilt).seen(mine) == mine
    # a starting point that does not say: unknown
    unknown = replace(everything, trained_on=None)
    assert train_candidate(train, [], LABELS, 14, unknown, settings).seen(mine) is None


def test_a_span_threshold_is_served_only_when_it_saves_edits_on_dev(gmb_train, gmb_eval):
    from dataclasses import replace

    from backend.ner.evaluation import corpus_effort
    from backend.ner.predictor import Predictor
    from worker.training.recipe import THRESHOLDS

    settings = Settings(train_epochs=2, precision="fp32", gazetteer="off")
    candidate = train_candidate(gmb_train[:40], gmb_eval[:30], LabelSet.from_types(
        ["art", "eve", "geo", "gpe", "nat", "org", "per", "tim"]), 50, None, settings)
    assert candidate.threshold in (None, *THRESHOLDS)
    assert candidate.dev_effort_saved >= candidate.dev_effort_saved_all
    served = corpus_effort(Predictor(candidate.ner, precision="fp32"), gmb_eval[:30]).saved
    every = corpus_effort(Predictor(replace(candidate.ner, threshold=None), precision="fp32"), gmb_eval[:30]).saved
    assert (served, every) == (candidate.dev_effort_saved, candidate.dev_effort_saved_all)
    assert candidate.f1 == candidate.dev["f1"]  # F1 and the gate count every span


def test_a_dev_split_too_small_to_judge_is_trained_on_and_the_prior_threshold_served(gmb_train):
    from backend.labelstudio.annotation import Annotation
    from backend.labelstudio.labelconfig import parse_label_config
    from backend.ner.spans import decode_entities
    from tests.support.lsdata import GMB_CONFIG, text_and_regions
    from worker.training.dataset import project_data, split_dev

    settings = Settings()
    for n in (60, 400):
        anns = [Annotation(task_id=i, annotation_id=i, data={"text": text_and_regions(s)[0]},
                           result=text_and_regions(s)[1]) for i, s in enumerate(gmb_train[:n])]
        data = project_data(anns, parse_label_config(GMB_CONFIG))
        held = split_dev(data, settings.dev_fraction)
        entities = sum(len(decode_entities(s.tags)) for s in held.dev)
        split = training_split(data, settings)
        assert held.dev_ids and (entities < MIN_GATE_ENTITIES) == (n == 60)  # GMB: about 2 entities a task
        if n == 60:
            assert split.dev_ids == frozenset() and split.train_ids == held.train_ids | held.dev_ids
        else:
            assert (split.train_ids, split.dev_ids) == (held.train_ids, held.dev_ids)

    quick = dict(train_epochs=1, precision="fp32", gazetteer="off", span_score="chance")
    pooled = train_candidate(split.train[:12], [], data.labels, 12, None, Settings(**quick))  # a first version
    assert pooled.threshold == PRIORS["chance"].unjudged and "no dev split judged" in pooled.note
    assert "judge" in pooled.threshold_why
    v1 = Current("v1", pooled.ner, 12)
    unjudged = train_candidate(split.train[:12], [], data.labels, 12, v1, Settings(**quick))
    assert unjudged.threshold == PRIORS["chance"].unjudged  # v1's spans not yet edited on enough tasks
    judged = Floor("v1", 30, 70, 0.3, None, None)  # as served was best
    later = train_candidate(split.train[:12], [], data.labels, 12, v1, Settings(**quick), live=judged)
    assert later.threshold == PRIORS["chance"].judged and "SPAN_SCORE" not in later.threshold_why
    # the status page shows threshold_why: which score a threshold compares is part of it
    weighed = train_candidate(split.train[:12], [], data.labels, 12, None, Settings(**{**quick, "span_score": "boundaries"}))
    assert weighed.ner.span_score == "boundaries" and "SPAN_SCORE=boundaries" in weighed.threshold_why
    assert weighed.threshold == PRIORS["boundaries"].unjudged
    every = train_candidate(split.train[:12], [], data.labels, 12, None, Settings(**quick, span_threshold="0"))
    assert every.threshold is None and every.ner.threshold is None
    fixed = train_candidate(split.train[:12], split.dev[:20], data.labels, 12, None, Settings(**quick, span_threshold="0.7"))
    assert fixed.threshold == 0.7 and fixed.dev_effort_saved is not None


def test_a_small_full_training_fits_its_sentences_again_with_their_mentions_replaced(monkeypatch):
    import worker.training.recipe as recipe

    monkeypatch.setattr(recipe, "TARGET_STEPS", 4)  # the rule at a few steps: 8 sentences, 16 with copies
    def s(name: str) -> Sentence:
        return Sentence(["the", "board", "of", name, "met", "."], ["O", "O", "O", "B-org", "O", "O"])

    train = [s(name) for name in ("Zorblax", "Quintrel", "Avenor", "Brightwell")] * 2
    quick = dict(train_epochs=0, train_batch_size=16, precision="fp32", gazetteer="off")
    on = train_candidate(train, [], LABELS, 8, None, Settings(**quick))
    assert on.plan.why.endswith("each sentence also with its mentions replaced") and on.config.epochs == 4
    off = train_candidate(train, [], LABELS, 8, None, Settings(**quick, mention_replacement="off"))
    assert off.plan.why == "a full training" and off.config.epochs == 4  # the same steps either way
