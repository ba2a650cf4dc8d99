"""The training job's rules (epochs, promotion gate) and the import boundaries between rooms."""

from __future__ import annotations

import subprocess
import sys

from backend.config import Settings
from backend.history import Training
from worker.jobs import _rejection, epochs_for


def test_auto_epochs_aim_at_about_200_steps_within_3_to_15():
    auto = Settings(train_epochs=0, train_batch_size=16)
    assert epochs_for(40, auto) == 15  # 3 steps an epoch: capped
    assert epochs_for(800, auto) == 4  # 50 steps an epoch
    assert epochs_for(100_000, auto) == 3
    assert epochs_for(40, Settings(train_epochs=2)) == 2


def test_promotion_gate_compares_on_the_same_dev_tasks():
    settings = Settings(max_f1_drop=0.05)
    record = Training("j", dev={"f1": 0.70}, previous_dev_f1=0.74)
    assert _rejection(record, settings) is None  # within the margin
    record.previous_dev_f1 = 0.80
    assert "MAX_F1_DROP" in _rejection(record, settings)
    assert _rejection(Training("j", dev=None, previous_dev_f1=0.8), settings) is None  # nothing to compare
    assert _rejection(record, Settings(max_f1_drop=1.0)) is None


def test_service_never_imports_training_and_worker_never_imports_flask():
    code = ("import sys, backend.app, backend.api; "
            "assert not [m for m in sys.modules if m.startswith('worker')], 'service imported worker'")
    subprocess.run([sys.executable, "-c", code], check=True)
    code = "import sys, worker.jobs; assert 'flask' not in sys.modules, 'worker imported flask'"
    subprocess.run([sys.executable, "-c", code], check=True)
