"""Every setting of ner-backend, read once from the environment, with documented defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, field


def _number(env: dict[str, str], name: str, default, kind: type, what: str):
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return kind(raw)
    except ValueError:
        raise ValueError(f"{name} must be {what}, got {raw!r}") from None


def _float(env: dict[str, str], name: str, default: float) -> float:
    return _number(env, name, default, float, "a number")


def _int(env: dict[str, str], name: str, default: int) -> int:
    return _number(env, name, default, int, "an integer")


def _choice(env: dict[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    raw = env.get(name, "").strip().lower() or default
    if raw not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
    return raw


@dataclass(frozen=True)
class Settings:
    """The environment, parsed. See README.md's configuration table for what each does."""

    base_model: str = ""  # "" means the packaged offline MiniLM
    precision: str = "auto"  # auto | fp32 | bf16 | fp16 (inference and training autocast)
    max_length: int = 512  # tokens per window, special tokens included (capped by the model)
    window_stride: int = 128  # tokens shared by two neighbouring windows of a long text
    predict_batch_size: int = 16  # windows per forward pass (16 beat 32 and 8 on a 2-core AVX2 CPU)
    redis_url: str = "redis://localhost:6379/0"
    data_dir: str = "data"  # everything the product writes: models, the embedded Redis's AOF
    model_dir: str = "data/models"  # the model store, one folder per project and version (default: DATA_DIR/models)
    bootstrap_model: str = ""  # a model folder served to projects without a model of their own
    label_map: str = ""  # model type -> config label, e.g. "per=PER,geo=LOC"
    model_cache_size: int = 4  # models kept loaded per serving process
    host: str = "127.0.0.1"
    port: int = 9090
    workers: int = 1
    threads: int = 4
    basic_auth_user: str = ""
    basic_auth_pass: str = field(default="", repr=False)  # secrets stay out of logs
    max_request_bytes: int = 32 * 1024 * 1024
    # the active-learning loop
    min_annotations: int = 10  # annotated tasks before a project's first training
    train_every: int = 10  # new, changed or deleted annotations that trigger the next training
    label_studio_url: str = ""  # with the key: START_TRAINING first re-syncs annotations from LS
    label_studio_api_key: str = field(default="", repr=False)  # a personal access token (or legacy token)
    push_limit: int = 20_000  # with LS configured: unlabelled tasks predicted and written to LS after a promotion (0: off)
    train_epochs: int = 0  # 0: about 200 optimiser steps, between 3 and 200 epochs (see recipe.epochs_for)
    train_lr: float = 2e-4
    train_batch_size: int = 16
    dev_fraction: float = 0.2  # tasks held out to score each training (only with >= 10 tasks)
    max_f1_drop: float = 0.05  # a new version is not promoted if its dev F1 is lower than the current's by more
    gazetteer: str = "auto"  # auto: also label annotated strings where they recur, while dev F1 says it helps; off
    train_timeout: int = 7200  # seconds before RQ stops a training job
    queue_name: str = "ner-training"
    worker_nice: int = 0  # CPU niceness of the training worker (raise it to favour serving over training)
    serve_nice: int = 0  # CPU niceness of the serving processes (`up` sets 5: a training keeps most of the CPU)
    torch_threads: int = 0  # torch threads per serving process (0: the cores shared among WORKERS)
    train_threads: int = 0  # torch threads a training uses (0: every core)
    swap_poll_seconds: float = 2.0  # how often each serving process looks for newly promoted versions

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Settings":
        env = dict(os.environ if env is None else env)
        data_dir = env.get("DATA_DIR", "").strip() or cls.data_dir
        return cls(
            base_model=env.get("BASE_MODEL", "").strip(),
            precision=env.get("PRECISION", "auto").strip().lower() or "auto",
            max_length=_int(env, "MAX_LENGTH", cls.max_length),
            window_stride=_int(env, "WINDOW_STRIDE", cls.window_stride),
            predict_batch_size=_int(env, "PREDICT_BATCH_SIZE", cls.predict_batch_size),
            redis_url=env.get("REDIS_URL", cls.redis_url).strip() or cls.redis_url,
            data_dir=data_dir,
            model_dir=env.get("MODEL_DIR", "").strip() or os.path.join(data_dir, "models"),
            bootstrap_model=env.get("BOOTSTRAP_MODEL", "").strip(),
            label_map=env.get("LABEL_MAP", "").strip(),
            model_cache_size=_int(env, "MODEL_CACHE_SIZE", cls.model_cache_size),
            host=env.get("HOST", cls.host).strip() or cls.host,
            port=_int(env, "PORT", cls.port),
            workers=_int(env, "WORKERS", cls.workers),
            threads=_int(env, "THREADS", cls.threads),
            basic_auth_user=env.get("BASIC_AUTH_USER", ""),
            basic_auth_pass=env.get("BASIC_AUTH_PASS", ""),
            max_request_bytes=_int(env, "MAX_REQUEST_BYTES", cls.max_request_bytes),
            min_annotations=_int(env, "MIN_ANNOTATIONS", cls.min_annotations),
            train_every=_int(env, "TRAIN_EVERY", cls.train_every),
            label_studio_url=env.get("LABEL_STUDIO_URL", "").strip().rstrip("/"),
            label_studio_api_key=env.get("LABEL_STUDIO_API_KEY", "").strip(),
            push_limit=_int(env, "PUSH_LIMIT", cls.push_limit),
            train_epochs=_int(env, "TRAIN_EPOCHS", cls.train_epochs),
            train_lr=_float(env, "TRAIN_LR", cls.train_lr),
            train_batch_size=_int(env, "TRAIN_BATCH_SIZE", cls.train_batch_size),
            dev_fraction=_float(env, "DEV_FRACTION", cls.dev_fraction),
            max_f1_drop=_float(env, "MAX_F1_DROP", cls.max_f1_drop),
            gazetteer=_choice(env, "GAZETTEER", cls.gazetteer, ("auto", "off")),
            train_timeout=_int(env, "TRAIN_TIMEOUT", cls.train_timeout),
            queue_name=env.get("QUEUE_NAME", cls.queue_name).strip() or cls.queue_name,
            worker_nice=_int(env, "WORKER_NICE", cls.worker_nice),
            serve_nice=_int(env, "SERVE_NICE", cls.serve_nice),
            torch_threads=_int(env, "TORCH_THREADS", cls.torch_threads),
            train_threads=_int(env, "TRAIN_THREADS", cls.train_threads),
            swap_poll_seconds=_float(env, "SWAP_POLL_SECONDS", cls.swap_poll_seconds),
        )
