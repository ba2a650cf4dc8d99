"""Every setting of ner-backend, read once from the environment, with documented defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None


@dataclass(frozen=True)
class Settings:
    """The environment, parsed. See README.md's configuration table for what each does."""

    base_model: str = ""  # "" means the packaged offline MiniLM
    precision: str = "auto"  # auto | fp32 | bf16 | fp16 (inference and training autocast)
    max_length: int = 512  # tokens per window, special tokens included (capped by the model)
    window_stride: int = 128  # tokens shared by two neighbouring windows of a long text
    predict_batch_size: int = 32  # windows per forward pass

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Settings":
        env = dict(os.environ if env is None else env)
        return cls(
            base_model=env.get("BASE_MODEL", "").strip(),
            precision=env.get("PRECISION", "auto").strip().lower() or "auto",
            max_length=_int(env, "MAX_LENGTH", cls.max_length),
            window_stride=_int(env, "WINDOW_STRIDE", cls.window_stride),
            predict_batch_size=_int(env, "PREDICT_BATCH_SIZE", cls.predict_batch_size),
        )
