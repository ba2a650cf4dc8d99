"""The service through real gunicorn (2 workers) on loopback, with LS-shaped payloads."""

from __future__ import annotations

import http.client
import json
import os

import pytest

from tests.support.lsdata import CONFIG, ls_predict_body
from tests.support.servers import Service, call

TEXTS = [
    "Iraqi officials met U.S. envoys in Baghdad on Sunday .",
    "😀 President  Bush\tflew to 👩‍👩‍👧 Baghdad on Monday",
    "nothing to see",
    "",
]


@pytest.fixture(scope="module")
def service(trained_folder, tmp_path_factory):
    svc = Service(
        {"BOOTSTRAP_MODEL": str(trained_folder), "LABEL_MAP": "geo=LOC,gpe=LOC", "MAX_REQUEST_BYTES": "2000000"},
        log_path=tmp_path_factory.mktemp("logs") / "service.log",
    )
    yield svc
    svc.stop()


def test_health_setup_versions(service):
    status, body, _ = call("GET", service.url + "/health")
    assert status == 200 and body["status"] == "UP"
    assert body["torch_threads"] == max(1, (os.cpu_count() or 1) // 2)  # two workers share the cores
    status, body, _ = call("POST", service.url + "/setup", {
        "project": "3.1795679909", "schema": CONFIG, "hostname": "http://localhost:8080",
        "access_token": "x", "extra_params": None})
    assert status == 200 and body["model_version"].startswith("bootstrap-")
    version = body["model_version"]
    for _ in range(4):  # every worker answers the same version
        assert call("POST", service.url + "/setup", {"project": "3.1795679909", "schema": CONFIG})[1] == body
    assert call("GET", service.url + "/versions")[1] == {"versions": [version], "current": version}


def test_predict_one_result_per_task_in_order_with_code_point_offsets(service):
    tasks = [{"text": t} for t in TEXTS] + [{"other": "no text field"}, {"text": 42}]
    status, body, _ = call("POST", service.url + "/predict", ls_predict_body(tasks))
    assert status == 200
    results = body["results"]
    assert len(results) == len(tasks)
    found = set()
    for task, item in zip(tasks, results):
        assert item["model_version"].startswith("bootstrap-")
        assert 0.0 <= item["score"] <= 1.0
        text = task.get("text") if isinstance(task.get("text"), str) else ""
        for region in item["result"]:
            assert region["from_name"] == "label" and region["to_name"] == "text" and region["type"] == "labels"
            value = region["value"]
            assert text[value["start"] : value["end"]] == value["text"]
            assert value["labels"][0] in {"LOC", "PER", "TIME"}
            assert 0.0 <= region["score"] <= 1.0
            found.add((value["text"], value["labels"][0]))
    assert ("Baghdad", "LOC") in found  # geo mapped by LABEL_MAP
    assert any(label == "TIME" for _, label in found)  # tim mapped through the alias
    assert results[4]["result"] == [] and results[5]["result"] == []
    # code points, not UTF-16 units: 😀 and 👩 👩 👧 (joined by ZWJs) count one each
    second = [r["value"] for r in results[1]["result"] if r["value"]["text"] == "Baghdad"]
    assert [(v["start"], v["end"]) for v in second] == [(32, 39)]  # UTF-16 would say 36-43


def test_uncertain_tasks_score_lower(service):
    _, body, _ = call("POST", service.url + "/predict", ls_predict_body([{"text": TEXTS[0]}, {"text": ""}]))
    assert body["results"][1]["score"] == 1.0 >= body["results"][0]["score"]


def test_interactive_single_task(service):
    body = ls_predict_body([{"text": TEXTS[0]}], context={"result": []})
    status, reply, _ = call("POST", service.url + "/predict", body)
    assert status == 200 and len(reply["results"]) == 1 and reply["results"][0]["result"]


def test_config_from_setup_is_used_when_predict_has_none(service):
    call("POST", service.url + "/setup", {"project": "8.1", "schema": CONFIG})
    # the other worker may not have seen /setup: then it answers empty, never wrongly
    status, body, _ = call("POST", service.url + "/predict", ls_predict_body([{"text": TEXTS[0]}], "8.1", None))
    assert status == 200 and len(body["results"]) == 1


def test_several_labels_text_pairs(service):
    config = """<View><Text name="t1" value="$title"/><Text name="t2" value="$body"/>
      <Labels name="l1" toName="t1"><Label value="LOC"/></Labels>
      <Labels name="l2" toName="t2"><Label value="TIME" alias="tim"/></Labels></View>"""
    task = {"title": TEXTS[0], "body": TEXTS[0]}
    _, body, _ = call("POST", service.url + "/predict", ls_predict_body([task], config=config))
    (item,) = body["results"]
    pairs = {(r["from_name"], r["to_name"], r["value"]["labels"][0]) for r in item["result"]}
    # each control gets only its own labels, predicted on its own field
    assert pairs <= {("l1", "t1", "LOC"), ("l2", "t2", "TIME")}
    assert ("l1", "t1", "LOC") in pairs and ("l2", "t2", "TIME") in pairs


@pytest.mark.parametrize(
    "path, raw, status, message",
    [
        ("/predict", b"{not json", 400, "must be JSON"),
        ("/predict", b"[]", 400, "JSON object"),
        ("/predict", b'{"tasks": {}}', 400, "'tasks' must be a list"),
        ("/predict", b'{"tasks": []}', 400, "'tasks' is empty"),
        ("/predict", b'{"tasks": [{"data": {"text": "x"}}], "project": "../../etc"}', 400, "project id"),
        ("/predict", b'{"tasks": [{"data": {"text": "x"}}], "label_config": 5}', 400, "label_config"),
        ("/setup", b'{"schema": "<View/>"}', 400, "missing 'project'"),
        ("/setup", b'{"project": "3", "schema": "<View><Text name=\\"t\\" value=\\"$t\\"/></View>"}', 400, "no <Labels>"),
        ("/setup", b'{"project": "3", "schema": "<View"}', 400, "not valid XML"),
        ("/setup", b'{"project": true}', 400, "project id"),
    ],
)
def test_bad_input_gets_a_clear_4xx(service, path, raw, status, message):
    code, body, _ = call("POST", service.url + path, raw=raw)
    assert code == status and message in body["error"], body


def test_odd_tasks_get_empty_results_not_errors(service):
    body = ls_predict_body([{"text": TEXTS[0]}])
    body["tasks"] += ["not a task", {"id": 9}, {"id": 10, "data": None}]
    status, reply, _ = call("POST", service.url + "/predict", body)
    assert status == 200 and len(reply["results"]) == 4
    assert [r["result"] for r in reply["results"][1:]] == [[], [], []]


def test_config_without_labels_gives_empty_results(service):
    body = ls_predict_body([{"text": TEXTS[0]}], config="<View><Text name='t' value='$text'/></View>")
    status, reply, _ = call("POST", service.url + "/predict", body)
    assert status == 200 and reply["results"][0]["result"] == []


def test_huge_body_is_refused_before_it_is_read(service):
    """A body declared larger than MAX_REQUEST_BYTES gets a JSON 413 without being uploaded.

    Only the headers and a few bytes are sent: the refusal must come from the declared length
    (sending the whole body would race the server closing the connection).
    """
    conn = http.client.HTTPConnection("127.0.0.1", service.port, timeout=30)
    conn.putrequest("POST", "/predict")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(2_100_000))
    conn.endheaders()
    conn.send(b'{"tasks": [')
    response = conn.getresponse()
    assert response.status == 413
    assert "error" in json.loads(response.read())
    conn.close()
    # the service is still fine afterwards
    assert call("GET", service.url + "/health")[0] == 200


def test_webhook_metrics_status_page(service):
    assert call("POST", service.url + "/webhook", {"action": "PROJECT_UPDATED"})[0] == 200
    call("POST", service.url + "/predict", ls_predict_body([{"text": TEXTS[0]}]))
    status, text, headers = call("GET", service.url + "/metrics")
    assert status == 200 and "ner_requests_total" in text and "ner_request_seconds_bucket" in text
    assert 'ner_predicted_tasks_total{project="3"}' in text
    status, page, _ = call("GET", service.url + "/")
    assert status == 200 and "bootstrap-" in page


def test_basic_auth(trained_folder, tmp_path):
    svc = Service({"BOOTSTRAP_MODEL": str(trained_folder), "BASIC_AUTH_USER": "ls", "BASIC_AUTH_PASS": "s3cret"},
                  workers=1, log_path=tmp_path / "auth.log")
    try:
        assert call("GET", svc.url + "/health")[0] == 200
        for method, path, body in [("POST", "/setup", {"project": "1"}), ("POST", "/predict", ls_predict_body([{"text": "a"}])),
                                   ("GET", "/versions", None), ("GET", "/metrics", None), ("GET", "/", None),
                                   ("POST", "/webhook", {"action": "X"})]:
            status, reply, headers = call(method, svc.url + path, body)
            assert status == 401 and reply == {"error": "authentication required"}, path
            assert headers["WWW-Authenticate"].startswith("Basic")
            assert call(method, svc.url + path, body, auth=("ls", "wrong"))[0] == 401
            assert call(method, svc.url + path, body, auth=("ls", "s3cret"))[0] == 200, path
        for path in ["/projects/1/trainings", "/projects/1/learning-curve.svg", "/nowhere"]:
            assert call("GET", svc.url + path)[0] == 401, path  # checked before any route or store
    finally:
        svc.stop()


def test_untrained_without_bootstrap_model(tmp_path):
    private_tmp, home = tmp_path / "tmp", tmp_path / "home"
    private_tmp.mkdir()
    home.mkdir()
    env = {"BOOTSTRAP_MODEL": "", "TMPDIR": str(private_tmp), "HOME": str(home), "XDG_RUNTIME_DIR": ""}
    svc = Service(env, workers=1, log_path=tmp_path / "untrained.log")
    try:
        assert [p.name[:12] for p in private_tmp.iterdir()] == ["ner-metrics-"]  # its Prometheus folder
        assert call("POST", svc.url + "/setup", {"project": "2.5", "schema": CONFIG})[1] == {"model_version": "untrained"}
        _, body, _ = call("POST", svc.url + "/predict", ls_predict_body([{"text": TEXTS[0]}, {"text": "b"}]))
        assert [r["result"] for r in body["results"]] == [[], []]
        assert {r["model_version"] for r in body["results"]} == {"untrained"}
    finally:
        svc.stop()
    assert list(private_tmp.iterdir()) == []  # removed when the server stopped
    assert list(home.iterdir()) == []  # no gunicorn control socket (~/.gunicorn) either


@pytest.mark.slow  # its own service, at the default body limit (~30 s)
def test_a_20_mb_single_task_is_refused_and_memory_stays_flat(trained_folder, tmp_path):
    """Split into words, a 20 MB text would take about 4 GiB before the model saw any of it."""
    from tests.support.servers import descendants, rss_mb

    svc = Service({"BOOTSTRAP_MODEL": str(trained_folder)}, workers=1, log_path=tmp_path / "service.log")
    try:
        text = ("Angela Merkel met Obama in Paris . " * 600_000)[:20_000_000]
        body = ls_predict_body([{"text": "Angela Merkel met Obama in Paris ."}])
        call("POST", svc.url + "/predict", body)  # warm: the model is loaded and has predicted
        workers = descendants(svc.proc.pid)
        before = sum(rss_mb(pid) for pid in workers)
        for _ in range(3):
            status, reply, _ = call("POST", svc.url + "/predict", ls_predict_body([{"text": text}]), timeout=120)
            assert status == 413 and "MAX_TASK_CHARS is 1000000" in reply["error"], reply
        status, reply, _ = call("POST", svc.url + "/predict", ls_predict_body([{"text": "x"}] * 20_001), timeout=120)
        assert status == 413 and "MAX_TASKS_PER_REQUEST" in reply["error"]
        # 33 texts just under MAX_TASK_CHARS fit the 32 MiB body: refused before any word is made
        many = ls_predict_body([{"text": text[:999_999]}] * 33)
        assert len(json.dumps(many)) < 32 * 1024 * 1024
        status, reply, _ = call("POST", svc.url + "/predict", many, timeout=120)
        assert status == 413 and "MAX_REQUEST_CHARS is 4000000" in reply["error"], reply
        after = sum(rss_mb(pid) for pid in workers)
        print(f"\nRSS of the serving process: {before:.0f} MiB before, {after:.0f} MiB after")
        # The body itself is read (its bytes, then its text: ~40 MB a request, which glibc may keep
        # for reuse in each of the 4 threads' arenas); its words, ~4 GiB, are never made.
        assert after - before < 300, (before, after)
        assert call("POST", svc.url + "/predict", body)[0] == 200
    finally:
        svc.stop()
