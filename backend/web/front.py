"""The public port's front: webhooks answered in a process of their own, everything else forwarded
to the prediction pool.

Label Studio gives a webhook 1 s and sends it to the same URL as `/predict`. In one gunicorn
pool a webhook waits for a thread behind every queued prediction: 0.4-3.9 s (max 8 s) while 50
clients predicted on 2 cores. Here it never waits for a prediction's thread, its process has a
GIL of its own, and `up` runs the pool behind it at a lower CPU priority (docs/reliability.md).
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
import time
from typing import Callable, Iterable
from urllib.parse import quote, urlsplit

log = logging.getLogger(__name__)

LOCAL_PATHS = frozenset({"/webhook"})  # only writes to Redis: answered here, never queued behind a prediction
# Headers that describe one connection, not the request: never passed on (RFC 9110, 7.6.1).
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                        "transfer-encoding", "upgrade"})
OWN_HEADERS = frozenset({"date", "server"})  # gunicorn writes its own: the pool's would be sent twice
CHUNK = 64 * 1024
SAFE_METHODS = frozenset({"GET", "HEAD"})  # sent again after a broken kept-alive connection; nothing else is
REUSE_IDLE_S = 1.0  # a kept connection idle longer is replaced before use: the pool closes them after 2 s


class Front:
    """A WSGI app: LOCAL_PATHS go to `local` (the backend's own Flask app), the rest to `upstream`
    (the prediction pool's base URL) over one kept-alive connection per thread."""

    def __init__(self, local: Callable, upstream: str, max_body: int, timeout: float = 120) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"the prediction pool's URL must be http://HOST:PORT, got {upstream!r}")
        self.local, self.timeout, self.max_body = local, timeout, max_body
        self.host, self.port = parts.hostname, parts.port or 80
        self.pooled = threading.local()

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO") in LOCAL_PATHS:
            return self.local(environ, start_response)
        return self.forward(environ, start_response)

    def forward(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        # Read here in full before it is sent on, so never more than the pool itself would take
        # (MAX_REQUEST_BYTES): this process also answers the webhooks. gunicorn undoes any chunking.
        declared = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(self.max_body + 1) if declared <= self.max_body else b""
        if declared > self.max_body or len(body) > self.max_body:
            start_response("413 Request Entity Too Large", [("Content-Type", "application/json")])
            return [json.dumps({"error": f"request body over MAX_REQUEST_BYTES={self.max_body}"}).encode()]
        target = environ.get("RAW_URI") or quote(environ.get("PATH_INFO", "/").encode("latin-1")) + (
            "?" + environ["QUERY_STRING"] if environ.get("QUERY_STRING") else "")
        headers = _request_headers(environ, len(body))
        try:
            conn, response = self._send(environ["REQUEST_METHOD"], target, body, headers)
        except (OSError, http.client.HTTPException) as exc:  # the pool restarting or gone: say so, in JSON
            log.warning("prediction pool unreachable for %s: %s", environ.get("PATH_INFO"), exc)
            start_response("502 Bad Gateway", [("Content-Type", "application/json")])
            return [json.dumps({"error": f"prediction pool unavailable: {type(exc).__name__}"}).encode()]
        start_response(f"{response.status} {response.reason}",
                       [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP | OWN_HEADERS])
        return self._stream(conn, response)

    def _send(self, method: str, target: str, body: bytes, headers: dict[str, str]):
        """Send on this thread's kept-alive connection, unless it has been idle long enough for the
        pool to have closed it (gunicorn drops an idle one after 2 s). A kept connection that breaks
        anyway is retried on a new one only for GET and HEAD: a /predict whose connection broke may
        have died with the process that held it (a text that took all its memory), and sent again it
        would take the next process down too."""
        retry = method in SAFE_METHODS
        for attempt in (0, 1):
            conn, used = getattr(self.pooled, "conn", None), getattr(self.pooled, "used", 0.0)
            if conn is not None and time.monotonic() - used > REUSE_IDLE_S:
                conn.close()
                conn = None
            reused = conn is not None
            if conn is None:
                conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self.pooled.conn = None  # held by this request until its body has been read
            try:
                conn.request(method, target, body, headers)
                return conn, conn.getresponse()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                conn.close()
                if not (reused and retry) or attempt:
                    raise
            except (OSError, http.client.HTTPException):
                conn.close()
                raise
        raise AssertionError("unreachable")

    def _stream(self, conn: http.client.HTTPConnection, response: http.client.HTTPResponse) -> Iterable[bytes]:
        """The answer's body as it arrives; the connection is kept for this thread's next request
        only when the answer was read to its end (not broken, not abandoned by the client)."""
        keep = False
        try:
            while chunk := response.read(CHUNK):
                yield chunk
            keep = not response.will_close
        finally:
            if keep:
                self.pooled.conn, self.pooled.used = conn, time.monotonic()
            else:
                conn.close()


def _request_headers(environ: dict, length: int) -> dict[str, str]:
    """The client's end-to-end headers from a WSGI environ, the body's length, and who asked."""
    headers = {key[5:].replace("_", "-").title(): value for key, value in environ.items()
               if key.startswith("HTTP_") and key[5:].replace("_", "-").lower() not in HOP_BY_HOP}
    if environ.get("CONTENT_TYPE"):
        headers["Content-Type"] = environ["CONTENT_TYPE"]
    headers["Content-Length"] = str(length)
    client = environ.get("REMOTE_ADDR", "")
    headers["X-Forwarded-For"] = f"{headers['X-Forwarded-For']}, {client}" if "X-Forwarded-For" in headers else client
    return headers
