"""Serving processes' models: which version answers for a project, loaded once, hot-swapped (no Flask)."""

from .cache import UNTRAINED, ModelCache, ServedModel
from .modelserver import ModelServer

__all__ = ["UNTRAINED", "ModelCache", "ModelServer", "ServedModel"]
