"""The training recipe's rules the job follows: auto epochs, the promotion gate, full or incremental."""

from __future__ import annotations

from dataclasses import replace

from backend.config import Settings
from backend.ner.labels import LabelSet
from backend.ner.model import NerModel
from backend.ner.readers import Sentence
from worker.training.dataset import ProjectData, sentences_of, split_dev
from worker.training.recipe import (INCREMENTAL_FROM, INCREMENTAL_STEPS, MAX_EPOCHS, MIN_GATE_ENTITIES, Current,
                                    Lineage, epochs_for, plan_training, rejection)


def test_auto_epochs_aim_at_about_200_steps_within_3_to_200():
    auto = Settings(train_epochs=0, train_batch_size=16)
    assert epochs_for(40, auto) == 67  # 3 steps an epoch
    assert epochs_for(240, auto) == 14  # 15 steps an epoch
    assert epochs_for(800, auto) == 4  # 50 steps an epoch
    assert epochs_for(100_000, auto) == 3
    assert epochs_for(1, auto) == MAX_EPOCHS
    assert epochs_for(40, Settings(train_epochs=2)) == 2


def test_promotion_gate_compares_on_the_same_dev_tasks():
    settings = Settings(max_f1_drop=0.05)
    assert rejection(0.70, 0.74, settings) is None  # within the margin
    assert "MAX_F1_DROP" in rejection(0.70, 0.80, settings)
    assert rejection(None, 0.80, settings) is None  # nothing to compare
    assert rejection(0.70, 0.80, Settings(max_f1_drop=1.0)) is None
    # a dev split too small to tell two models apart (49 gold entities) does not hold the newer one back
    assert rejection(0.70, 0.80, settings, dev_entities=MIN_GATE_ENTITIES - 1) is None
    assert "MAX_F1_DROP" in rejection(0.70, 0.80, settings, dev_entities=MIN_GATE_ENTITIES)


def _project(tasks: int, renamed: set[int] = frozenset()) -> ProjectData:
    """`tasks` one-sentence tasks; those in `renamed` annotated differently."""
    def sentence(t: int) -> Sentence:
        return Sentence(["Visit", f"Town{t}", "today"], ["O", "B-per" if t in renamed else "B-geo", "O"])

    return ProjectData({t: [sentence(t)] for t in range(1, tasks + 1)}, LabelSet.from_types(["geo", "per"]))


def _serving(data: ProjectData, split, lineage_tasks: int, stale: int = 0) -> Current:
    prints = {t: f for t, f in data.fingerprints().items() if t in split.train_ids}
    return Current("v7", NerModel(object(), object(), data.labels), data.tasks, split.train_ids, prints,
                   Lineage("v5", lineage_tasks, "2026-12-01T00:00:00Z"), stale)


def test_a_grown_project_trains_the_changes_and_a_replay_sample_from_the_serving_version():
    settings = Settings(train_batch_size=16)
    before = _project(2000)
    current = _serving(before, split_dev(before, settings.dev_fraction), lineage_tasks=1500, stale=3)
    after = _project(2020, renamed={5, 6})  # 20 new tasks, 2 relabelled
    split = split_dev(after, settings.dev_fraction)
    plan = plan_training(split, current, settings)
    # the new tasks, a dev task the new ones pushed past MAX_DEV_TASKS, and the relabelled ones
    changed = (split.train_ids - current.trained_on) | ({5, 6} & split.train_ids)
    assert plan.incremental and plan.changed == len(changed)
    assert len(plan.sample) == INCREMENTAL_STEPS * 16 and plan.steps == INCREMENTAL_STEPS
    assert plan.sample[: len(changed)] == sentences_of(after, changed)  # every change is fitted
    assert plan.stale == 3 + len({5, 6} & current.trained_on)  # relabelled tasks it had learned
    # the step budget stays as the project grows; nothing incremental when it cannot be
    assert plan_training(split_dev(_project(2100), 0.2), current, settings).steps == INCREMENTAL_STEPS
    many = plan_training(split_dev(_project(2990), 0.2), current, settings)  # more changes than half the budget
    assert many.incremental and many.replayed == many.changed > INCREMENTAL_STEPS * 8
    assert plan_training(split, current, Settings(train_incremental="off")).incremental is False
    assert plan_training(split, replace(current, lineage=None), settings).incremental is False


def test_a_full_training_from_the_encoder_is_due_once_the_project_doubled_and_runs_inline_under_200_tasks():
    settings = Settings()
    data = _project(800)
    current = _serving(data, split_dev(data, settings.dev_fraction), lineage_tasks=400)
    plan = plan_training(split_dev(data, settings.dev_fraction), current, settings)
    assert plan.incremental and plan.rebuild and "400" in plan.why  # served now; the full one in the background
    assert not plan_training(split_dev(data, 0.2), _serving(data, split_dev(data, 0.2), 401), settings).rebuild
    small = _project(INCREMENTAL_FROM - 1)
    small_plan = plan_training(split_dev(small, 0.2), _serving(small, split_dev(small, 0.2), 150), settings)
    assert not small_plan.incremental and not small_plan.rebuild
