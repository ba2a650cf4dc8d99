"""How useful a task is to annotate next: task confidences from the serving model's word
probabilities, one per active-learning strategy, the batch choice that also wants diversity, and
BALD, which ranks tasks by how far dropout's passes disagree (the simulator's "bald" order).

Every strategy gives a confidence in [0, 1]; lower means "annotate me sooner", so that Label Studio's
"prediction score, ascending" puts the most useful task first. Words the tokenizer dropped have no
probability and do not count; a text without scored words has confidence 1 (nothing to annotate).
"""

from __future__ import annotations

import math
import re
from typing import Callable, Protocol, Sequence

import numpy as np

# The strategies the simulator compares (docs/benchmarks.md); TASK_SCORE is the one /predict sends.
STRATEGIES = ("random", "uncertainty", "mnlp", "entropy", "diverse")
TASK_SCORE = "entropy"
# "diverse" skips a candidate whose word set overlaps this much (Jaccard) with one already chosen
# for the same batch: GMB has runs of near-identical sentences ("... killed in a bomb attack in ...").
DIVERSITY_MAX_OVERLAP = 0.5


class Scored(Protocol):
    scores: list[float | None]
    entropies: list[float | None]


def least_confidence(words: Scored) -> float:
    """The lowest chosen-tag probability over the words (Culotta and McCallum 2005)."""
    scored = [s for s in words.scores if s is not None]
    return min(scored) if scored else 1.0


def mnlp(words: Scored) -> float:
    """exp of the mean per-word log-probability of the chosen tags (Shen et al. 2017's MNLP, as a
    geometric-mean probability): unlike the minimum, it does not favour long texts for having more
    chances of one unsure word."""
    scored = [s for s in words.scores if s is not None]
    if not scored:
        return 1.0
    return math.exp(sum(math.log(max(s, 1e-12)) for s in scored) / len(scored))


def token_entropy(words: Scored, n_labels: int) -> float:
    """1 - the mean word entropy over the maximum entropy log(n_labels) (Settles and Craven 2008)."""
    values = [h for h in words.entropies if h is not None]
    if not values or n_labels < 2:
        return 1.0
    return max(0.0, 1.0 - (sum(values) / len(values)) / math.log(n_labels))


def confidence(words: Scored, strategy: str, n_labels: int) -> float:
    """The task confidence a strategy ranks by ("diverse" ranks by MNLP, then spreads the batch)."""
    if strategy == "uncertainty":
        return least_confidence(words)
    if strategy in ("mnlp", "diverse"):
        return mnlp(words)
    if strategy == "entropy":
        return token_entropy(words, n_labels)
    raise ValueError(f"strategy {strategy!r} has no confidence: choose from {', '.join(STRATEGIES[1:])}")


# BALD (Houlsby et al. 2011) from Monte Carlo dropout (Gal and Ghahramani 2016), which Shelmanov et al.
# 2021 found best for NER: tasks where dropout's passes disagree, not merely where one pass is unsure.
# It costs BALD_PASSES forward passes a task in torch (the int8 graph has no dropout), so it ranks only
# the BALD_CANDIDATES tasks token entropy is least sure of. The simulator's "bald" order against
# entropy, trained every 50 tasks, seeds 0, 1 and 2, test F1 averaged over 300-500 tasks
# (docs/benchmarks.md, "Active learning as the service orders tasks"): GMB +0.012, +0.017 and
# +0.014, BC5CDR +0.003, -0.001 and -0.006. Not the service's order: it pays on one corpus of two.
BALD_CANDIDATES = 1000
BALD_PASSES = 8


def bald(samples: np.ndarray) -> float:
    """The mean over words of the information a word's tag carries about the model's weights, from
    `samples` (passes x words x labels: the tag distributions under dropout): the entropy of the mean
    distribution less the mean of the entropies. 0 where every pass agrees, however unsure."""
    if samples.size == 0:
        return 0.0
    p = np.clip(samples.astype(np.float64), 1e-12, 1.0)
    mean = p.mean(axis=0)
    disagreement = -(mean * np.log(mean)).sum(-1) + (p * np.log(p)).sum(-1).mean(axis=0)
    return float(disagreement.mean())


def by_bald(candidates: Sequence[int], samples: Sequence[np.ndarray | None]) -> list[int]:
    """`candidates` ordered by `bald` of their `samples`, the most disagreement first (a text without
    tokenized words, None, last)."""
    scores = [bald(s) if s is not None else -1.0 for s in samples]
    return [candidates[p] for p in sorted(range(len(candidates)), key=lambda p: -scores[p])]


_WORD = re.compile(r"\w+")


def _word_set(text_words: Sequence[str]) -> frozenset[str]:
    return frozenset(w.lower() for w in text_words if _WORD.match(w))


def pick(candidates: Sequence[int], confidences: Sequence[float], size: int, strategy: str,
         words: Callable[[int], Sequence[str]]) -> list[int]:
    """The `size` candidates to annotate next: lowest confidence first; "diverse" passes over one whose
    words overlap more than DIVERSITY_MAX_OVERLAP with one already taken (and comes back to the passed
    ones only if the batch is not full)."""
    ranked = [c for _, c in sorted(zip(confidences, candidates))]
    if strategy != "diverse":
        return ranked[:size]
    taken: list[int] = []
    sets: list[frozenset[str]] = []
    passed: list[int] = []
    for c in ranked:
        if len(taken) == size:
            break
        mine = _word_set(words(c))
        if any(_jaccard(mine, other) > DIVERSITY_MAX_OVERLAP for other in sets):
            passed.append(c)
            continue
        taken.append(c)
        sets.append(mine)
    return taken + passed[: size - len(taken)]


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0
