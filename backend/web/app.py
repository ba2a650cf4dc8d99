"""The Flask application factory: settings, the model server, auth, strict JSON, JSON errors, the blueprints."""

from __future__ import annotations

import hmac
import logging
import os
import socket
import time

import redis
from flask import Flask, g, jsonify, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import HTTPException

from ..config import Settings
from ..jsonvalues import finite
from ..labelstudio.protocol import ProtocolError
from ..serving import ModelServer
from ..state import connect
from ..state.quality import ServedRecorder
from . import metrics
from .services import EXTENSION, Services

log = logging.getLogger(__name__)
OPEN_PATHS = ("/health",)  # answered without credentials: LS probes it before every /setup
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"


class StrictJSONProvider(DefaultJSONProvider):
    """Flask's JSON with allow_nan=False: an answer holding NaN or Infinity is cleaned (null) and
    written again, so the common answer pays nothing for the walk."""

    sort_keys = False

    def dumps(self, obj, **kwargs) -> str:
        kwargs["allow_nan"] = False
        try:
            return super().dumps(obj, **kwargs)
        except ValueError:
            return super().dumps(finite(obj), **kwargs)


def start_serving(app: Flask) -> Flask:
    """What a serving process does once, after gunicorn's fork: load the bootstrap model now, so
    that no request waits for it (LS gives /setup 3 seconds), and start the watcher that swaps in
    newly promoted versions. `create_app` itself stays cheap (tests build apps freely)."""
    server = app.extensions[EXTENSION].server
    server.bootstrap()
    server.start_watching()
    return app


def create_app(settings: Settings | None = None, server: ModelServer | None = None) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.json = StrictJSONProvider(app)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    stores = connect(settings)  # connects on first use
    server = server or ModelServer(settings, stores.registry, stores.quality)  # loads lazily
    app.extensions[EXTENSION] = Services(settings, server, stores, ServedRecorder(stores.quality))
    _guard(app, settings)
    _count(app)
    _errors(app)

    from .mlbackend import bp as mlbackend
    from .projects import bp as projects
    from .status import bp as status

    for blueprint in (mlbackend, projects, status):
        app.register_blueprint(blueprint)
    return app


def _guard(app: Flask, settings: Settings) -> None:
    """HTTP basic auth on every path but OPEN_PATHS, when BASIC_AUTH_USER is set."""

    @app.before_request
    def _auth():
        if not settings.basic_auth_user or request.path in OPEN_PATHS:
            return None
        given = request.authorization
        ok = given is not None and given.type == "basic"
        ok = ok and hmac.compare_digest((given.username or "").encode(), settings.basic_auth_user.encode())
        ok = ok and hmac.compare_digest((given.password or "").encode(), settings.basic_auth_pass.encode())
        if ok:
            return None
        response = jsonify(error="authentication required")
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Basic realm="ner-backend"'
        return response


def _count(app: Flask) -> None:
    """Requests and latency per endpoint for /metrics, and which process answered."""

    @app.before_request
    def _start_timer():
        g.started = time.perf_counter()

    @app.after_request
    def _counted(response):
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        metrics.REQUESTS.labels(endpoint, str(response.status_code)).inc()
        metrics.LATENCY.labels(endpoint).observe(time.perf_counter() - g.get("started", time.perf_counter()))
        response.headers["X-Worker"] = WORKER_ID  # which serving process answered (hot-swap checks, debugging)
        return response


def _errors(app: Flask) -> None:
    """Every error answers JSON {"error": ...}."""

    @app.errorhandler(ProtocolError)
    def _protocol_error(exc: ProtocolError):
        log.warning("bad request to %s: %s", request.path, exc)
        return jsonify(error=str(exc)), exc.status

    @app.errorhandler(redis.exceptions.RedisError)
    def _store_down(exc: Exception):
        # Tell LS the webhook failed (it shows it) rather than drop an annotation silently.
        log.error("annotation store unavailable on %s: %s", request.path, exc)
        return jsonify(error="annotation store unavailable, try again"), 503

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        return jsonify(error=exc.description or exc.name), exc.code

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unexpected error on %s", request.path)
        return jsonify(error=f"internal error: {type(exc).__name__}"), 500
