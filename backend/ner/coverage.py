"""A cold start that picks: before a project's model can rank tasks, order them so that the first
ones annotated cover the data, from sentence embeddings of the packaged encoder."""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence

import numpy as np

from .basemodel import quiet_transformers, resolve_base_model

# Clusters the first tasks are drawn from: one task each, the largest cluster first, before any task
# repeats a cluster. Fifty is what an annotator labels before the first model arrives (MIN_ANNOTATIONS
# is 10; the first hour is 50-200 tasks).
COVER_CLUSTERS = 50
KMEANS_ROUNDS = 25
# When the project's own model takes over the order: once a promoted version's dev F1 reaches
# HANDOVER_F1, measured on at least HANDOVER_ENTITIES gold entities (fewer cannot tell a model that
# ranks tasks well from one that is lucky on a few, as for the promotion gate).
HANDOVER_F1 = 0.5
HANDOVER_ENTITIES = 50
def handed_over(dev: dict | None) -> bool:
    """True when a version with these dev figures (seqeval's f1 and support) should order the tasks."""
    return bool(dev) and dev.get("support", 0) >= HANDOVER_ENTITIES and (dev.get("f1") or 0.0) >= HANDOVER_F1


CHARS_PER_TOKEN = 32  # characters kept per token embedded: English word pieces average under 5


def embed(texts: list[str], base_model: str | None = None, batch_size: int = 64, max_length: int = 128) -> np.ndarray:
    """One unit vector per text: the encoder's last hidden states, mean-pooled over real tokens (how
    the packaged MiniLM was trained as a sentence-embedding model)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    path = resolve_base_model(base_model)
    with quiet_transformers():
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModel.from_pretrained(path).eval()
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths pad little
    out = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            # cut before tokenizing: truncation keeps max_length tokens but the tokenizer reads the
            # whole text first, and a task may hold a million characters
            enc = tokenizer([texts[i][:max_length * CHARS_PER_TOKEN] for i in chunk], padding=True, truncation=True,
                            max_length=max_length, return_tensors="pt")
            hidden = model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
            out[chunk] = torch.nn.functional.normalize(pooled, dim=-1).numpy()
    return out


def _kmeans(vectors: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Cluster of each vector: k-means++ seeding, then Lloyd rounds on cosine similarity."""
    rng = np.random.default_rng(seed)
    centres = [vectors[rng.integers(len(vectors))]]
    nearest = 1.0 - vectors @ centres[0]
    for _ in range(1, k):
        weights = np.clip(nearest, 0, None) ** 2
        pick = rng.choice(len(vectors), p=weights / weights.sum()) if weights.sum() > 0 else rng.integers(len(vectors))
        centres.append(vectors[pick])
        nearest = np.minimum(nearest, 1.0 - vectors @ vectors[pick])
    centres = np.stack(centres)
    for _ in range(KMEANS_ROUNDS):
        assign = (vectors @ centres.T).argmax(1)
        for c in range(k):
            members = vectors[assign == c]
            if len(members):
                mean = members.mean(0)
                centres[c] = mean / max(np.linalg.norm(mean), 1e-12)
    return (vectors @ centres.T).argmax(1)


def cluster_of(vectors: np.ndarray, count: int = COVER_CLUSTERS, seed: int = 0) -> np.ndarray:
    """The cover cluster of each of `vectors` (k-means, at most `count` clusters)."""
    return _kmeans(vectors, max(1, min(count, len(vectors))), seed) if len(vectors) else np.zeros(0, dtype=np.int64)


def interleave(queues: list[list[int]]) -> list[int]:
    """The heads of every queue in turn, then the seconds, and so on: no queue gives its (k+1)th
    before every longer one has given its kth."""
    order: list[int] = []
    depth = 0
    while any(depth < len(q) for q in queues):
        order += [q[depth] for q in queues if depth < len(q)]
        depth += 1
    return order


def cover_order(vectors: np.ndarray, clusters: int = COVER_CLUSTERS, seed: int = 0) -> list[int]:
    """Every index of `vectors`, in the order to annotate them: k-means clusters, the largest first,
    and from each in turn a member drawn at random (seeded) not yet taken. So the first `clusters`
    tasks each come from a different part of the data, the commonest parts first, and no part
    repeats before all have come once. A random member, not the one nearest the cluster's centre:
    on GMB in document order (50 tasks, 3 seeds) the most typical members held 2.1 entities a task
    against 2.3 drawn at random, and the model trained on them saved 25 % of the edits against 31 %
    (docs/benchmarks.md, "The first hour")."""
    return covering(cluster_of(vectors, clusters, seed), seed)


def covering(assign: np.ndarray, seed: int = 0) -> list[int]:
    """`cover_order` for tasks already clustered (`assign`: each one's cluster)."""
    rng = np.random.default_rng(seed)
    queues = [[int(i) for i in rng.permutation(np.flatnonzero(assign == c))] for c in np.unique(assign)]
    queues.sort(key=len, reverse=True)
    return interleave(queues)


def within_clusters(assign: Sequence[int], confidences: Sequence[float],
                    annotated: Mapping[int, int] | None = None) -> list[int]:
    """Positions of `confidences` in the order to annotate them: the least confident task of the
    cover cluster with the fewest tasks annotated so far (`annotated`: cluster -> tasks; `assign`:
    each position's cluster), then again, counting each task taken as annotated. Uncertainty picks
    within a part of the data; coverage keeps a run of tasks from piling into one part."""
    members: dict[int, list[int]] = {}
    for position in sorted(range(len(confidences)), key=lambda p: confidences[p], reverse=True):
        members.setdefault(int(assign[position]), []).append(position)  # least confident last: pop()
    counts = dict(annotated or {})
    heap = [(counts.get(c, 0), confidences[queue[-1]], c) for c, queue in members.items()]
    heapq.heapify(heap)
    order: list[int] = []
    while heap:
        taken, _, c = heapq.heappop(heap)
        queue = members[c]
        order.append(queue.pop())
        if queue:
            heapq.heappush(heap, (taken + 1, confidences[queue[-1]], c))
    return order


def cover_scores(order: list[int]) -> dict[int, float]:
    """Task index -> a score in [0, 1) that sorts ascending into `order` (what LS's "prediction
    score, ascending" shows first)."""
    n = max(1, len(order))
    return {task: round(rank / n, 6) for rank, task in enumerate(order)}
