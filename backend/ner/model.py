"""The NER model as one bundle: the network and everything that must travel with it."""

from __future__ import annotations

from dataclasses import dataclass

from .gazetteer import Gazetteer
from .labels import LabelSet
from .spans import CHANCE


@dataclass
class NerModel:
    """A token classifier with the tokenizer and labels it was trained with, the tag transitions of
    its training data (for Viterbi decoding) and, when the dev split chose them, the annotated
    strings it labels wherever they recur. Trained, saved, loaded and served as one."""

    model: object  # a transformers *ForTokenClassification
    tokenizer: object
    labels: LabelSet
    transitions: list[list[float]] | None = None  # tag bigram log-probs
    gazetteer: Gazetteer | None = None
    # spans whose score (spans.span_score) is below this are not served (a wrong span costs a
    # delete); None: every span. Chosen on the dev split by the recipe.
    threshold: float | None = None
    # what that score is (spans.SPAN_SCORES): a threshold means something only with its score
    span_score: str = CHANCE

    @property
    def device(self):
        """Where the network's weights are (a torch.device)."""
        return next(self.model.parameters()).device
