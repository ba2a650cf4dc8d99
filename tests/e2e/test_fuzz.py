"""Property-based bad input against the real service (gunicorn, 1 worker, redis-server, a trained
model): whatever JSON arrives, the answer is never a 5xx, errors are JSON, the worker process
survives, and every predicted span is the exact code-point slice of its task's text."""

from __future__ import annotations

import copy
import json
import time
import urllib.parse

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.lsdata import GMB_CONFIG
from tests.support.servers import Service, call

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
GMB_LABELS = {"geo", "gpe", "per", "org", "tim", "art", "eve", "nat"}

# Pieces that have broken NER services before: lone and paired surrogates, zero-width and
# bidirectional controls, a BOM, combining marks, emoji sequences, CJK, odd whitespace, NUL.
NASTY = st.sampled_from([
    "\ud800", "\udfff", "\ud83d", "\ude00", "\u200b", "\u200c", "\u200d", "\u200e", "\u200f", "\u202e",
    "\u2066", "\u2069", "\ufeff", "e\u0301", "😀", "👩‍👩‍👧", "🇫🇷", "東京", "שלום", "مرحبا", "\t", "\n", "\r\n",
    "   ", "\x00", "\x85", "\u2028", "\u00a0", "\uffff",
])
WORDS = st.sampled_from(["Obama", "Paris", "visited", "on", "Monday", "the", "U.S.", "Navy", ",", ".", "Iraq",
                         "Ban Ki-moon", "2006", "Baghdad", "said", "President", "Bush"])
TEXTS = st.lists(st.one_of(WORDS, WORDS, NASTY, st.text(max_size=6)), max_size=30).flatmap(
    lambda parts: st.sampled_from([" ", "", "  "]).map(lambda sep: sep.join(parts)))
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20) | NASTY,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def predict_body(texts: list[str]) -> dict:
    return {"tasks": [{"id": i + 1, "data": {"text": t}, "meta": {}, "annotations": [], "predictions": [], "project": 5}
                      for i, t in enumerate(texts)],
            "project": "5.1795679909", "label_config": GMB_CONFIG, "params": {"login": None, "context": None}}


TEMPLATES = {
    "/predict": predict_body(["Obama visited Paris on Monday .", "Ban Ki-moon met Iraqi officials ."]),
    "/setup": {"project": "5.1795679909", "schema": GMB_CONFIG, "hostname": "http://localhost:8080",
               "access_token": "x", "model_version": "v1", "extra_params": ""},
    "/webhook": {"action": "ANNOTATION_CREATED", "project": {"id": 5, "label_config": GMB_CONFIG},
                 "task": {"id": 7, "data": {"text": "Obama visited Paris"}, "project": 5},
                 "annotation": {"id": 70, "task": 7, "project": 5, "was_cancelled": False, "completed_by": 1,
                                "updated_at": "2026-11-26T10:00:00Z",
                                "result": [{"from_name": "label", "to_name": "text", "type": "labels",
                                            "value": {"start": 0, "end": 5, "text": "Obama", "labels": ["per"]}}]}},
}


@pytest.fixture(scope="module")
def service(trained_folder, redis_url, tmp_path_factory):
    svc = Service({"BOOTSTRAP_MODEL": str(trained_folder), "REDIS_URL": redis_url, "QUEUE_NAME": "fuzz-no-worker",
                   "MODEL_DIR": str(tmp_path_factory.mktemp("fuzz-models")), "MIN_ANNOTATIONS": "1000000"},
                  workers=1, log_path=tmp_path_factory.mktemp("fuzz-logs") / "service.log")
    svc.pid = call("GET", svc.url + "/health")[2]["X-Worker"]
    yield svc
    # One process answered everything: no request killed or restarted the gunicorn worker.
    status, _, headers = call("GET", svc.url + "/health")
    assert status == 200 and headers["X-Worker"] == svc.pid
    svc.stop()


def post(service, path: str, body=None, raw: bytes | None = None):
    if raw is None:
        raw = json.dumps(body).encode()  # ensure_ascii: lone surrogates travel as \\udXXX escapes
    status, reply, _ = call("POST", service.url + path, raw=raw)
    assert status < 500, (path, status, reply, raw[:300])
    if status >= 400:
        assert isinstance(reply, dict) and isinstance(reply.get("error"), str) and reply["error"], reply
    return status, reply


def check_predictions(texts: list[str], reply: dict) -> None:
    """One result per task; every region the exact code-point slice of its text, with a config label."""
    assert len(reply["results"]) == len(texts)
    for text, item in zip(texts, reply["results"]):
        assert 0.0 <= item["score"] <= 1.0
        for region in item["result"]:
            value = region["value"]
            assert 0 <= value["start"] < value["end"] and value["labels"][0] in GMB_LABELS
            assert text[value["start"]:value["end"]] == value["text"], (text, region)
            assert value["text"] == value["text"].strip() and 0.0 <= region["score"] <= 1.0


@FUZZ
@given(texts=st.lists(TEXTS, min_size=1, max_size=6))
def test_predicted_spans_are_exact_code_point_slices_of_any_text(service, texts):
    status, reply = post(service, "/predict", predict_body(texts))
    assert status == 200
    check_predictions(texts, reply)


def _paths(value, prefix=()):
    """Every location in a JSON document, as key/index paths."""
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, prefix + (i,))


def mutate(template: dict, path: tuple, replacement, delete: bool):
    if not path:
        return replacement
    body = copy.deepcopy(template)
    parent = _at(body, path[:-1])
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = replacement
    return body


@FUZZ
@given(data=st.data(), path=st.sampled_from(sorted(TEMPLATES)), replacement=JSON, delete=st.booleans())
def test_ls_payloads_with_one_part_broken_get_a_clear_answer(service, data, path, replacement, delete):
    template = TEMPLATES[path]
    where = data.draw(st.sampled_from(list(_paths(template))))
    body = mutate(template, where, replacement, delete and bool(where))
    status, reply = post(service, path, body)
    if path == "/predict" and status == 200:
        tasks = body["tasks"]
        texts = [t["data"]["text"] if isinstance(t, dict) and isinstance(t.get("data"), dict)
                 and isinstance(t["data"].get("text"), str) else "" for t in tasks]
        check_predictions(texts, reply)


@FUZZ
@given(path=st.sampled_from(["/predict", "/setup", "/webhook"]), body=JSON)
def test_any_json_to_any_endpoint_is_never_a_5xx(service, path, body):
    post(service, path, body)


@FUZZ
@given(raw=st.text(max_size=40) | NASTY, where=st.sampled_from(["/versions?project={}", "/projects/{}/trainings",
                                                                 "/projects/{}/learning-curve.svg"]))
def test_any_project_id_in_a_url_is_never_a_5xx(service, raw, where):
    quoted = urllib.parse.quote(raw.encode("utf-8", "surrogatepass"), safe="")
    status, reply, _ = call("GET", service.url + where.format(quoted))
    assert status < 500, (where, raw, reply)


@pytest.mark.parametrize("raw, message", [
    (b"\xff\xfe{\"tasks\": []}", "must be JSON"),  # not UTF-8
    (b"", "must be JSON"),
    (b"null", "JSON object"),
    (b"[" * 100_000 + b"]" * 100_000, "must be JSON"),  # deeper than the parser's recursion limit
    (b'{"tasks": ' + b"[" * 70 + b"]" * 70 + b"}", "nests deeper"),
    (b'{"project": "1", "tasks": [{"data": {"text": "' + b"\xed\xa0\x80" + b'"}}]}', "must be JSON"),  # CESU surrogate
])
@pytest.mark.parametrize("path", ["/predict", "/setup", "/webhook"])
def test_raw_bodies_that_are_not_usable_json_get_a_400(service, path, raw, message):
    status, reply = post(service, path, raw=raw)
    assert status == 400 and message in reply["error"], reply


@pytest.mark.parametrize("path", sorted(TEMPLATES))
def test_a_huge_string_anywhere_is_never_a_5xx(service, path):
    """Each string of a recorded payload in turn becomes 1,000,000 characters."""
    template = TEMPLATES[path]
    strings = [p for p in _paths(template) if p and isinstance(_at(template, p), str)]
    assert len(strings) >= 4
    for where in strings:
        status, reply = post(service, path, mutate(template, where, "x" * 999_999 + "\u200f", False))
        assert status in (200, 400, 413), where  # 413: over a bound the service keeps, which it names
        assert status != 413 or "at most" in reply["error"] or "MAX_" in reply["error"], reply


def _at(document, path: tuple):
    for key in path:
        document = document[key]
    return document


def test_a_100k_character_text_is_predicted_exactly(service, gmb_eval):
    text = ""
    for sentence in gmb_eval:  # real sentences with odd spacing, to 100,000 characters
        text += "  ".join(sentence.words) + " \u200b\n"
        if len(text) >= 100_000:
            break
    text = text[:100_000]
    started = time.monotonic()
    status, reply = post(service, "/predict", predict_body([text]))
    print(f"100k characters predicted in {time.monotonic() - started:.1f} s")
    assert status == 200
    check_predictions([text], reply)
    assert len(reply["results"][0]["result"]) > 100  # entities all along the text, not just the first window


def test_a_10k_task_batch_gets_10k_results_in_order(service, gmb_eval):
    words = [w for s in gmb_eval for w in s.words]
    texts = [" ".join(words[i % 500:i % 500 + 2]) if i % 3 else "" for i in range(10_000)]
    body = predict_body(texts)
    for i in range(0, 10_000, 97):  # some tasks lack the text field or hold a number
        body["tasks"][i]["data"] = {"other": texts[i]} if i % 2 else {"text": i}
        texts[i] = ""
    started = time.monotonic()
    status, reply = post(service, "/predict", body)
    print(f"10,000 tasks predicted in {time.monotonic() - started:.1f} s")
    assert status == 200
    check_predictions(texts, reply)
    assert sum(bool(r["result"]) for r in reply["results"]) > 500
