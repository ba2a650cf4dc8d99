"""The training recipe's rules the job follows: auto epochs and the promotion gate."""

from __future__ import annotations

from backend.config import Settings
from worker.training.recipe import MAX_EPOCHS, MIN_GATE_ENTITIES, epochs_for, rejection


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
