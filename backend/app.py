"""The Flask application factory: settings, the model server, auth, JSON errors, the routes."""

from __future__ import annotations

import hmac
import logging

import redis

from flask import Flask, jsonify, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import HTTPException

from .config import Settings
from .jsonvalues import finite
from .protocol import ProtocolError
from .history import TrainingHistory
from .quality import QualityLog, ServedRecorder
from .registry import ModelRegistry
from .serving import ModelServer
from .store import AnnotationStore
from .trainqueue import TrainingQueue

log = logging.getLogger(__name__)
OPEN_PATHS = ("/health",)  # answered without credentials: LS probes it before every /setup


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
    server: ModelServer = app.extensions["ner"]
    server.bootstrap()
    server.start_watching()
    return app


def create_app(settings: Settings | None = None, server: ModelServer | None = None) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.json = StrictJSONProvider(app)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    store = AnnotationStore.from_url(settings.redis_url)  # connects on first use
    server = server or ModelServer(settings, ModelRegistry(settings.model_dir, store.r))  # loads lazily
    app.extensions["ner"] = server
    app.extensions["ner_settings"] = settings
    app.extensions["ner_store"] = store
    app.extensions["ner_queue"] = TrainingQueue(store.r, settings)
    app.extensions["ner_history"] = TrainingHistory(store.r)
    app.extensions["ner_quality"] = QualityLog(store.r)
    app.extensions["ner_served"] = ServedRecorder(app.extensions["ner_quality"])

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

    @app.errorhandler(ProtocolError)
    def _protocol_error(exc: ProtocolError):
        log.warning("bad request to %s: %s", request.path, exc)
        return jsonify(error=str(exc)), 400

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

    from .api import bp
    from .status import bp as status_bp

    app.register_blueprint(bp)
    app.register_blueprint(status_bp)
    return app
