"""The front (`ner-backend front`) against a prediction pool that dies mid-request: a /predict is
never sent twice, a GET on a connection the pool closed is."""

from __future__ import annotations

import io
import socket
import threading
import time

import pytest

from backend.web.front import REUSE_IDLE_S, Front


class DyingPool:
    """A loopback HTTP server that answers GET /health and drops the connection on any POST, as a
    pool process killed by the request it holds does. It counts the requests it saw."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.seen: list[str] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._connection, args=(conn,), daemon=True).start()

    def _connection(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rb") as reader:
            while line := reader.readline():
                method, path = line.decode().split()[:2]
                length = 0
                while (header := reader.readline()) not in (b"\r\n", b""):
                    name, _, value = header.decode().partition(":")
                    length = int(value) if name.lower() == "content-length" else length
                reader.read(length)
                self.seen.append(f"{method} {path}")
                if method != "GET":
                    return  # the process died holding it: no answer, the connection closes
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")

    def close(self) -> None:
        self.sock.close()


@pytest.fixture()
def pool():
    pool = DyingPool()
    yield pool
    pool.close()


def call(front: Front, method: str, path: str, body: bytes = b"") -> tuple[str, bytes]:
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": "", "CONTENT_LENGTH": str(len(body)),
               "CONTENT_TYPE": "application/json", "wsgi.input": io.BytesIO(body),
               "REMOTE_ADDR": "127.0.0.1"}
    status = []
    chunks = front(environ, lambda s, headers: status.append(s))
    return status[0], b"".join(chunks)


def test_a_predict_that_died_with_its_process_is_never_sent_again(pool):
    front = Front(lambda environ, start: [], f"http://127.0.0.1:{pool.port}", max_body=1 << 20)
    assert call(front, "GET", "/health")[0].startswith("200")  # this thread now keeps a connection
    status, body = call(front, "POST", "/predict", b'{"tasks": []}')
    assert status.startswith("502") and b"prediction pool unavailable" in body
    assert pool.seen == ["GET /health", "POST /predict"]  # once, not again on a new connection


def test_an_idle_kept_connection_is_replaced_before_it_is_used(pool):
    front = Front(lambda environ, start: [], f"http://127.0.0.1:{pool.port}", max_body=1 << 20)
    assert call(front, "GET", "/health")[0].startswith("200")
    kept = front.pooled.conn
    time.sleep(REUSE_IDLE_S + 0.1)  # the idle time under test, not a wait for a state
    assert call(front, "GET", "/health")[0].startswith("200")
    assert front.pooled.conn is not kept and kept.sock is None  # closed, a new one used
