"""A training record keeps what the recipe's candidate says, field for field, from one place."""

from __future__ import annotations

import dataclasses
import json

from backend.state.history import Training
from worker.training.loop import TrainConfig
from worker.training.recipe import Candidate


def test_every_outcome_of_a_candidate_is_a_field_of_the_training_record():
    candidate = Candidate(result=None, config=TrainConfig(epochs=7), warm_start="base", dev={"f1": 0.5},
                          previous_dev_f1=0.4, threshold=0.9, threshold_why="the prior")
    record = Training("job")
    outcome = candidate.outcome()
    assert set(outcome) <= {f.name for f in dataclasses.fields(Training)}
    for name, value in outcome.items():
        setattr(record, name, value)
    restored = Training(**json.loads(json.dumps(dataclasses.asdict(record))))  # as the history stores it
    assert (restored.epochs, restored.threshold, restored.threshold_why, restored.gazetteer) == (7, 0.9, "the prior", 0)
