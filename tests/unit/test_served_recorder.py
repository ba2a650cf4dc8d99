"""What /predict served waits in memory, bounded in bytes, while Redis lags."""

from __future__ import annotations

import threading

from backend.state.quality import ServedRecorder

REGION = {"from_name": "label", "to_name": "text", "type": "labels",
          "value": {"start": 0, "end": 5, "text": "Paris", "labels": ["LOC"]}, "score": 0.9}


class StalledLog:
    """A quality log whose writes wait until `go` is set (Redis answering slowly)."""

    def __init__(self) -> None:
        self.go, self.written = threading.Event(), 0

    def record_served(self, project, version, results, hidden=None) -> None:
        self.go.wait(10)
        self.written += 1


def test_large_answers_waiting_for_redis_are_bounded_in_bytes_not_only_in_count():
    log = StalledLog()
    recorder = ServedRecorder(log)
    big = {task: [REGION] * 3 for task in range(20_000)}  # a 20,000-task answer: about 38 MB held
    for _ in range(10):
        recorder.record("1", "v1", big)
    assert recorder.dropped >= 8  # at most one waits beside the one being written
    assert recorder.pending_bytes <= ServedRecorder.BACKLOG_BYTES
    log.go.set()
    assert recorder.flush()
    assert recorder.pending_bytes == 0 and log.written == 10 - recorder.dropped
    recorder.record("1", "v1", {1: [REGION]})  # room again once written
    assert recorder.flush() and log.written == 11 - recorder.dropped
