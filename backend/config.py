"""Every setting of ner-backend, read once from the environment: name, type, default and choices in one place."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields

PRECISIONS = ("auto", "fp32", "bf16", "fp16")  # backend.ner.device.PRECISIONS (the engine imports nothing of ours)


def setting(default, *, choices: tuple[str, ...] = (), secret: bool = False, shown: str | None = None):
    """A Settings field read from the environment variable named like it in capitals.

    `choices`: the accepted values (read case-insensitively); `secret`: kept out of repr and logs,
    taken as given (not stripped); `shown`: the default as the README writes it, where the field's
    own default stands for something else."""
    meta = {"choices": choices, "secret": secret, "shown": shown}
    return field(default=default, repr=not secret, metadata=meta)


def env_name(name: str) -> str:
    return name.upper()


def _parse(f, raw: str):
    """One environment value as the field's type; ValueError naming the variable."""
    name, kind = env_name(f.name), type(f.default)
    if f.metadata["choices"]:
        raw = raw.lower()
        if raw not in f.metadata["choices"]:
            raise ValueError(f"{name} must be one of {', '.join(f.metadata['choices'])}, got {raw!r}")
        return raw
    if kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            raise ValueError(f"{name} must be {'an integer' if kind is int else 'a number'}, got {raw!r}") from None
    return raw


@dataclass(frozen=True)
class Settings:
    """The environment, parsed. README.md's configuration table says what each does (a test keeps
    it listing exactly these, with these defaults)."""

    base_model: str = setting("")  # "" means the packaged offline MiniLM
    precision: str = setting("auto", choices=PRECISIONS)  # inference and training autocast
    max_length: int = setting(512)  # tokens per window, special tokens included (capped by the model)
    window_stride: int = setting(128)  # tokens shared by two neighbouring windows of a long text
    predict_batch_size: int = setting(16)  # windows per forward pass (16 beat 32 and 8 on a 2-core AVX2 CPU)
    redis_url: str = setting("redis://localhost:6379/0")
    data_dir: str = setting("data")  # everything the product writes: models, the embedded Redis's AOF
    model_dir: str = setting("", shown="DATA_DIR/models")  # the model store, one folder per project and version
    bootstrap_model: str = setting("")  # a model folder served to projects without a model of their own
    label_map: str = setting("")  # model type -> config label, e.g. "per=PER,geo=LOC"
    model_cache_size: int = setting(4)  # models kept loaded per serving process
    keep_versions: int = setting(3)  # promoted versions kept per project beside the current, the previous and pinned ones
    # retention removes a version this long after it last served (was replaced, or was last held by
    # a serving process): every process polls the registry every SWAP_POLL_SECONDS and swaps in seconds
    retire_grace_s: int = setting(600)
    host: str = setting("127.0.0.1")
    port: int = setting(9090)
    workers: int = setting(1)
    threads: int = setting(4)
    front_threads: int = setting(64)  # `front`: concurrent requests it holds (webhooks never wait behind them)
    basic_auth_user: str = setting("", secret=True)
    basic_auth_pass: str = setting("", secret=True)
    max_request_bytes: int = setting(32 * 1024 * 1024)
    max_tasks_per_request: int = setting(20_000)  # tasks in one /predict (LS sends its batches well under)
    max_task_chars: int = setting(1_000_000)  # characters of one task's text (about 210 MiB of words per million)
    # characters of all texts of one /predict: its answer grows with them, and LS 1.23 waits 100 s,
    # in which 2 cores predict about 1.7 million (150 GMB tasks/s): a larger one is never answered in time
    max_request_chars: int = setting(4_000_000)
    max_projects: int = setting(1000)  # project ids that may keep data here; a new one past it gets a 403
    # the active-learning loop
    min_annotations: int = setting(10)  # annotated tasks before a project's first training
    train_every: int = setting(10)  # new, changed or deleted annotations that trigger the next training
    label_studio_url: str = setting("")  # with the key: START_TRAINING first re-syncs annotations from LS
    label_studio_api_key: str = setting("", secret=True)  # a personal access token (or legacy token)
    push_limit: int = setting(20_000)  # with LS configured: unlabelled tasks a promotion predicts and pushes to LS (0: off)
    push_interval_s: int = setting(600)  # a project's pushes begin at least this far apart; promotions meanwhile coalesce
    # tasks one push job writes before it hands the worker back: a training waits for at most one
    # slice (LS takes about 36 tasks a second, so about 30 s), never for a whole 20,000-task push
    push_slice: int = setting(1000)
    # task-adaptive pre-training: masked-LM steps over the project's texts (from LS, at import) before
    # its trainings from the encoder (0: off); 300 lifted test F1 after 50 tasks by 0.02-0.035 on GMB and BC5CDR
    adapt_steps: int = setting(300)
    train_epochs: int = setting(0)  # 0: about 200 optimiser steps, between 3 and 200 epochs (see recipe.epochs_for)
    # "on": from 200 tasks, a version warm-starts from the serving one and fits the changed tasks with
    # a replay sample (a fixed step budget), with a full training whenever the project doubles;
    # "off": every training fits every task (see recipe.plan_training)
    train_incremental: str = setting("on", choices=("on", "off"))
    # "on": a full training of up to about 530 sentences also fits each of them again with every
    # entity swapped for another annotated mention of its type, in the same steps (see recipe.full_sample)
    mention_replacement: str = setting("on", choices=("on", "off"))
    # what a span's score is, which its version's threshold and floors are chosen on (spans.SPAN_SCORES):
    # "boundaries", its words' mean chosen-tag probability weighed against the chance that its
    # boundaries are wrong (spans.span_score); "chance", that mean alone. Each has its own priors
    # (recipe.PRIORS). A project's versions before a change keep the score they were served on, and
    # the annotators' edits of their spans choose no floor for the versions after it
    span_score: str = setting("boundaries", choices=("chance", "boundaries"))
    # seconds of a background full training one job computes before it hands the worker back (the
    # rest follows in another job, behind any waiting training): the longest a training waits for it
    rebuild_slice_s: int = setting(30)
    train_lr: float = setting(2e-4)
    train_batch_size: int = setting(16)
    dev_fraction: float = setting(0.2)  # tasks held out to score each training (only with >= 10 tasks)
    max_f1_drop: float = setting(0.05)  # a new version is not promoted if its dev F1 is lower than the current's by more
    # auto: also label annotated strings where they recur, while dev F1 says it helps
    gazetteer: str = setting("auto", choices=("auto", "off"))
    span_threshold: str = setting("auto")  # "auto": each version's dev split chooses; or a fixed score in [0, 1] (0: every span)
    train_timeout: int = setting(7200)  # seconds before RQ stops a training job
    # trainings and cold-start orders; pushes and background full trainings go to `background_queue`
    queue_name: str = setting("ner-training")
    worker_nice: int = setting(0)  # CPU niceness of the training worker (raise it to favour serving over training)
    serve_nice: int = setting(0)  # CPU niceness of the serving processes (`up` sets 5: a training keeps most of the CPU)
    torch_threads: int = setting(0)  # torch threads per serving process (0: the cores shared among WORKERS)
    train_threads: int = setting(0)  # torch threads a training uses (0: every core)
    swap_poll_seconds: float = setting(2.0)  # how often each serving process looks for newly promoted versions

    @property
    def background_queue(self) -> str:
        """The queue of pushes and slices of background full trainings: a worker takes them only
        when no training or cold start waits."""
        return f"{self.queue_name}-background"

    @property
    def pushes_to_ls(self) -> bool:
        """Whether the worker writes predictions and task scores to Label Studio (its URL and a key set)."""
        return bool(self.label_studio_url and self.label_studio_api_key and self.push_limit > 0)

    @property
    def fixed_span_threshold(self) -> float | None:
        """SPAN_THRESHOLD as a score (0.0: serve every span), or None for `auto`."""
        return None if self.span_threshold == "auto" else float(self.span_threshold)

    def __post_init__(self) -> None:
        if not self.model_dir:  # the default: under DATA_DIR
            object.__setattr__(self, "model_dir", os.path.join(self.data_dir, "models"))
        if bool(self.basic_auth_user) != bool(self.basic_auth_pass):
            raise ValueError("BASIC_AUTH_USER and BASIC_AUTH_PASS are set together or not at all: "
                             "with one of them, every endpoint would be open")
        object.__setattr__(self, "span_threshold", self.span_threshold.strip().lower())
        if self.span_threshold != "auto":
            try:
                score = float(self.span_threshold)
            except ValueError:
                score = -1.0
            if not 0.0 <= score <= 1.0:  # also refuses nan
                raise ValueError(f"SPAN_THRESHOLD must be auto or a score from 0 to 1, got {self.span_threshold!r}")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Settings":
        """Each field from its variable: blank or unset gives the default; values are stripped
        (secrets aside); LABEL_STUDIO_URL loses a trailing slash."""
        env = dict(os.environ if env is None else env)
        values = {}
        for f in fields(cls):
            raw = env.get(env_name(f.name), "")
            raw = raw if f.metadata["secret"] else raw.strip()
            if raw:
                values[f.name] = _parse(f, raw)
        if "label_studio_url" in values:
            values["label_studio_url"] = values["label_studio_url"].rstrip("/")
        return cls(**values)
