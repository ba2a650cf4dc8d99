"""What the routes work with, built once per app and kept in `app.extensions["ner"]`."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from ..config import Settings
from ..serving import ModelServer
from ..state import Stores
from ..state.quality import ServedRecorder

EXTENSION = "ner"


@dataclass(frozen=True)
class Services:
    """The settings, this process's model server, the Redis stores and the served-prediction recorder."""

    settings: Settings
    server: ModelServer
    stores: Stores
    served: ServedRecorder


def services() -> Services:
    """The services of the app handling the current request."""
    return current_app.extensions[EXTENSION]
