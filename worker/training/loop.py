"""The fine-tuning loop: AdamW, linear warm-up/decay, clipping, seeded, optional dev early stopping."""

from __future__ import annotations

import copy
import logging
import math
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from backend.ner.alignment import enable_case_feature, encode_for_training, uses_case_feature
from backend.ner.batching import pad_batch
from backend.ner.basemodel import init_model, load_tokenizer
from backend.ner.device import autocast, pick_device, resolve_precision
from backend.ner.evaluation import evaluate_model
from backend.ner.labels import LabelSet
from backend.ner.model import NerModel
from backend.ner.predictor import Predictor
from backend.ner.readers import Sentence
from backend.ner.transitions import estimate_transitions
from backend.ner.words import split_tagged

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters. The defaults suit the 6-layer MiniLM (it wants a high-ish learning rate)."""

    epochs: int = 3
    learning_rate: float = 2e-4
    batch_size: int = 16
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    max_length: int = 256
    label_all_tokens: bool = False
    case_feature: bool = True  # feed capitalisation as token type ids (see alignment.case_types)
    # The word-piece embedding table is half of MiniLM's 22M weights. Training it made every AdamW
    # step update, clip and zero 11.7M numbers that a few hundred sentences barely move: 68 of a
    # 282 ms step on 2 cores (docs/benchmarks.md, "The loop").
    train_word_embeddings: bool = False
    seed: int = 42
    patience: int = 1  # epochs without dev-F1 gain before stopping (only with dev data)
    precision: str = "auto"
    device: str | None = None


@dataclass
class TrainResult:
    """A trained model (its transitions those of the training data, no gazetteer) and how the training went."""

    ner: NerModel
    history: list[dict] = field(default_factory=list)  # one entry per epoch
    dev_metrics: dict | None = None
    epochs_run: int = 0
    best_epoch: int = 0
    duration_s: float = 0.0
    first_loss: float = math.nan  # mean loss of the first few steps, to show it went down

    def summary(self) -> dict:
        return {
            "epochs_run": self.epochs_run,
            "best_epoch": self.best_epoch,
            "duration_s": round(self.duration_s, 2),
            "first_loss": round(self.first_loss, 4),
            "history": self.history,
        }


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


# Batches are drawn from shuffled pools of this many batches, each pool sorted by length, so that a
# batch holds sentences of similar length and dynamic padding computes few pad tokens (on GMB a
# random batch of 16 is about a third padding). The jitter keeps batch membership changing from
# epoch to epoch even when the whole training set fits in one pool.
BUCKET_POOL_BATCHES = 8
LENGTH_JITTER = 4


def _batches(features: list[dict], size: int, rng: random.Random):
    """Length-bucketed batches in a random order (see BUCKET_POOL_BATCHES)."""
    order = list(range(len(features)))
    rng.shuffle(order)
    pool = size * BUCKET_POOL_BATCHES
    batches = []
    for i in range(0, len(order), pool):
        chunk = sorted(order[i : i + pool], key=lambda j: len(features[j]["input_ids"]) + rng.uniform(0, LENGTH_JITTER))
        batches += [chunk[k : k + size] for k in range(0, len(chunk), size)]
    rng.shuffle(batches)
    for batch in batches:
        yield [features[j] for j in batch]


def fine_tune(
    train: list[Sentence],
    config: TrainConfig = TrainConfig(),
    base_model: str | None = None,
    dev: list[Sentence] | None = None,
    labels: LabelSet | None = None,
    init: NerModel | None = None,
    progress: bool | None = None,
) -> TrainResult:
    """Fine-tune a token classifier on `train` and return it (in eval mode).

    `init` is an optional model to warm-start from (trained in place: pass a copy), whose labels
    must be `labels`; otherwise a fresh head is put on `base_model`. With `dev`, every epoch is scored
    with seqeval and training stops after `config.patience` epochs without a better micro-F1,
    keeping the best epoch's weights.
    """
    run = Run(train, config, base_model, labels, init)
    run.train(dev=dev, progress=progress)
    return run.result


class Run:
    """One fine-tuning run, step by step. It can stop between two steps and go on later, in another
    process, from `save`d state (the background full training, `worker/jobs/rebuild.py`): the batches,
    the learning-rate schedule, AdamW's moments and the random state carry over, so the weights
    come out as those of one uninterrupted run."""

    def __init__(self, train: list[Sentence], config: TrainConfig = TrainConfig(), base_model: str | None = None,
                 labels: LabelSet | None = None, init: NerModel | None = None) -> None:
        self.started = time.monotonic()
        self.config = config
        seed_everything(config.seed)
        pieces = [split_tagged(s.words, s.tags) for s in train]
        labels = labels or LabelSet.from_tags(t for _, tags in pieces for t in tags)
        labels.check(t for _, tags in pieces for t in tags)
        if init is not None:
            model, tokenizer = init.model, init.tokenizer
        else:
            tokenizer, model = load_tokenizer(base_model), init_model(base_model, labels)
            if config.case_feature:
                enable_case_feature(model)
        self.device = pick_device(config.device)
        self.precision = resolve_precision(config.precision, self.device)
        model.to(self.device)
        model.get_input_embeddings().weight.requires_grad_(config.train_word_embeddings)
        self.model, self.tokenizer = model, tokenizer
        self.trainable = [p for p in model.parameters() if p.requires_grad]
        self.features = encode_for_training(
            tokenizer, pieces, labels, config.max_length, config.label_all_tokens, uses_case_feature(model)
        )
        if not self.features:
            raise ValueError("no trainable sentences: every sentence is empty after tokenization")
        self.steps_per_epoch = math.ceil(len(self.features) / config.batch_size)
        self.total_steps = self.steps_per_epoch * config.epochs

        from transformers import get_linear_schedule_with_warmup

        # fused: one kernel over all tensors instead of a dozen passes over each (68 -> 11 ms a step on 2 cores)
        self.optimizer = torch.optim.AdamW(_param_groups(self.trainable, config), lr=config.learning_rate, fused=True)
        self.scheduler = get_linear_schedule_with_warmup(self.optimizer, int(config.warmup_ratio * self.total_steps),
                                                         self.total_steps)
        # fp16 needs loss scaling against underflow; bf16 has fp32's range and does not.
        self.scaler = (torch.amp.GradScaler("cuda") if self.precision == "fp16" and self.device.type == "cuda"
                       else None)
        self.result = TrainResult(NerModel(model, tokenizer, labels,
                                           estimate_transitions((t for _, t in pieces), labels)))
        self.rng = random.Random(config.seed)
        self.epoch, self.step_in_epoch, self.epoch_rng = 1, 0, self.rng.getstate()
        self.losses: list[float] = []  # this epoch's
        self.first_losses: list[float] = []

    @property
    def steps_done(self) -> int:
        return (self.epoch - 1) * self.steps_per_epoch + self.step_in_epoch

    @property
    def finished(self) -> bool:
        return self.epoch > self.config.epochs

    def train(self, dev: list[Sentence] | None = None, progress: bool | None = None,
              deadline: float | None = None, max_steps: int | None = None) -> bool:
        """Train until the run is over (True), or stop after the step that passes `deadline`
        (time.monotonic()) or makes `max_steps` steps in this call (False: `save` it to go on)."""
        model, config, result = self.model, self.config, self.result
        best_f1, best_state, stale = -1.0, None, 0
        show = sys.stderr.isatty() if progress is None else progress
        bar = _progress(self.total_steps, show, self.steps_done)
        taken = 0
        while not self.finished:
            model.train()
            self.rng.setstate(self.epoch_rng)  # the epoch's batches, again when it resumes mid-epoch
            batches = list(_batches(self.features, config.batch_size, self.rng))
            for batch in batches[self.step_in_epoch:]:
                batch = {k: v.to(self.device) for k, v in pad_batch(batch, self.tokenizer.pad_token_id or 0).items()}
                loss = _step(model, self.trainable, batch, self.optimizer, self.scheduler, self.scaler,
                             config.max_grad_norm, autocast(self.device, self.precision))
                self.losses.append(loss)
                if len(self.first_losses) < 5:
                    self.first_losses.append(loss)
                self.step_in_epoch += 1
                taken += 1
                bar.update(1)
                bar.set_postfix(epoch=self.epoch, loss=f"{loss:.3f}")
                if ((deadline is not None and time.monotonic() >= deadline) or (max_steps is not None and taken >= max_steps)) \
                        and self.step_in_epoch < len(batches):
                    bar.close()
                    return False
            entry = {"epoch": self.epoch, "loss": round(sum(self.losses) / len(self.losses), 4)}
            result.epochs_run = self.epoch
            if dev:
                model.eval()
                figures = evaluate_model(Predictor(result.ner, precision=self.precision), dev)
                entry["dev_f1"] = figures["f1"]
                if figures["f1"] > best_f1:
                    best_f1, stale, result.best_epoch = figures["f1"], 0, self.epoch
                    best_state = copy.deepcopy(model.state_dict())
                    result.dev_metrics = figures
                else:
                    stale += 1
            else:
                result.best_epoch = self.epoch
            result.history.append(entry)
            log.info("epoch %d: %s", self.epoch, entry)
            self.epoch, self.step_in_epoch, self.epoch_rng, self.losses = self.epoch + 1, 0, self.rng.getstate(), []
            if dev and stale >= config.patience:
                break
            if (deadline is not None and time.monotonic() >= deadline) or (max_steps is not None and taken >= max_steps):
                if not self.finished:
                    bar.close()
                    return False
        bar.close()
        if best_state is not None:
            model.load_state_dict(best_state)
        model.eval()
        result.first_loss = sum(self.first_losses) / len(self.first_losses)
        result.duration_s = time.monotonic() - self.started
        self.epoch = config.epochs + 1
        return True

    def save(self, path: Path) -> None:
        """What `restore` needs to go on (written to a temporary name, then renamed)."""
        state = {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                 "scheduler": self.scheduler.state_dict(), "epoch": self.epoch, "step_in_epoch": self.step_in_epoch,
                 "epoch_rng": self.epoch_rng, "torch_rng": torch.get_rng_state(), "losses": self.losses,
                 "first_losses": self.first_losses, "history": self.result.history}
        partial = path.with_name(path.name + ".partial")
        torch.save(state, partial)
        partial.replace(path)

    def restore(self, path: Path) -> None:
        state = torch.load(path, weights_only=False)  # our own file, written by `save`
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.epoch, self.step_in_epoch, self.epoch_rng = state["epoch"], state["step_in_epoch"], state["epoch_rng"]
        torch.set_rng_state(state["torch_rng"])
        self.losses, self.first_losses, self.result.history = state["losses"], state["first_losses"], state["history"]
        self.result.epochs_run = self.epoch - 1


def _step(model, trainable, batch, optimizer, scheduler, scaler, max_grad_norm: float, precision_context) -> float:
    """One optimisation step: forward, backward (loss-scaled for fp16), clip, update; the loss."""
    with precision_context:
        loss = model(**batch).loss
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
    else:
        loss.backward()
    torch.nn.utils.clip_grad_norm_(trainable, max_grad_norm)
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return loss.item()


def _param_groups(params: list, config: TrainConfig) -> list[dict]:
    """No weight decay on biases and LayerNorm weights, as in BERT's original recipe."""
    decay, no_decay = [], []
    for param in params:
        (decay if param.ndim >= 2 else no_decay).append(param)
    return [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _progress(total: int, show: bool, done: int = 0):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=done, disable=not show, unit="step", dynamic_ncols=True)


def config_dict(config: TrainConfig) -> dict:
    return asdict(config)
