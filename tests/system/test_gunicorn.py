"""The service as users run it: gunicorn with gunicorn.conf.py, on 127.0.0.1, with the tiny models.

One server serves the read-only checks and the concurrency burst; the graceful-shutdown test
starts (and stops) its own.
"""

import http.client
import json
import re
import runpy
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import ROOT, Faults, post_json
from gunicorn.errors import AppImportError
from prometheus_client.parser import text_string_to_metric_families

from harness.server import Server
from service.core.config import Settings
from service.core.errors import ModelUnavailable
from service.http.app import create_app
from service.inference.seq2seq import GenerationParams

WORDS = (
    "bridge drought museum ceasefire harvest election storm treaty festival railway hospital summit"
).split()
TEXTS = [f"The {word} story: {word}s matter to everyone." for word in WORDS]
QUICK = {"max_length": 12}


def _get(url: str) -> tuple[int, bytes, dict[str, str]]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.status, response.read(), dict(response.headers)


def _metrics(server: Server) -> dict[tuple[str, tuple], float]:
    _, body, _ = _get(server.url + "/metrics")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def _log_lines(server: Server) -> list[dict]:
    lines = []
    for line in server.output().splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if entry.get("logger") == "service.request":
                lines.append(entry)
    return lines


# ----- how it is started -----------------------------------------------------------------------


def test_started_with_the_documented_command_and_bind_overrides_the_config(
    server: Server,
) -> None:
    args = server.process.args
    assert Path(args[0]).name == "gunicorn"
    assert args[1:] == [
        "-c",
        "gunicorn.conf.py",
        "--bind",
        f"127.0.0.1:{server.port}",
        "service:create_app()",
    ]
    config = (ROOT / "gunicorn.conf.py").read_text()
    assert re.search(r'^bind = "0\.0\.0\.0:8000"$', config, re.M)
    output = server.output()
    assert f"Listening at: http://127.0.0.1:{server.port}" in output
    assert "0.0.0.0:8000" not in output
    assert "Using worker: gthread" in output
    assert len(re.findall(r"Booting worker with pid", output)) == 1
    status, body, headers = _get(server.url + "/healthz")
    assert (status, json.loads(body)) == (200, {"status": "alive"})
    assert headers["X-Request-ID"]


START_UP_ERRORS = [
    ("SUMMARIZE_MODEL", "example-org/not-in-any-cache", "fetch-models"),
    ("DEVICE", "cuda:7", "CUDA device 7 is not available"),
    ("MAX_BATCH_SIZE", "lots", "MAX_BATCH_SIZE='lots'"),
    ("LOG_LEVEL", "LOUD", "LOG_LEVEL='LOUD': expected one of DEBUG"),
]


@pytest.mark.parametrize(("setting", "value", "says"), START_UP_ERRORS)
def test_the_post_fork_hook_turns_a_start_up_error_into_its_message(
    demo_env: dict[str, str], setting: str, value: str, says: str
) -> None:
    """What gunicorn's worker gets from the hook: an AppImportError whose message is the
    start-up error's one line (gunicorn prints it alone and exits 4)."""
    hooks = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    env = {**demo_env, setting: value}
    worker = SimpleNamespace(load_wsgi=lambda: create_app(Settings.from_env(env)))
    hooks["post_fork"](None, worker)
    with pytest.raises(AppImportError) as raised:
        worker.load_wsgi()
    message = str(raised.value)
    assert message.startswith("cannot start: ") and says in message
    assert "\n" not in message


def test_a_start_up_error_is_one_line_and_a_non_zero_exit(
    demo_env: dict[str, str], tmp_path: Path
) -> None:
    """One real run (the messages are checked in-process above): one line, no traceback."""
    setting, value, says = START_UP_ERRORS[0]
    failed = Server("bad-start", {**demo_env, setting: value}, log_dir=tmp_path)
    try:
        assert failed.process.wait(120) != 0
    finally:
        failed.stop()
    output = failed.output()
    assert "Traceback" not in output, output
    messages = {
        line.split("cannot start: ", 1)[1]
        for line in output.splitlines()
        if "cannot start: " in line
    }
    assert len(messages) == 1 and says in messages.pop()
    # The master repeats it after its own shutdown lines: the last line says what to fix.
    assert "cannot start: " in output.strip().splitlines()[-1]


def test_real_http_exchange(server: Server) -> None:
    status, body, headers = post_json(
        server.url + "/v1/translate", {"text": TEXTS[0], "target": "ar"}
    )
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert body["translation"] and body["target"] == "ar"
    request = urllib.request.Request(
        server.url + "/v1/translate",
        data=b'{"text": "a\\ud800", "target": "ar"}',
        headers={"Content-Type": "application/json", "X-Request-ID": "gun-bad-1"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=30)
    assert caught.value.code == 400
    assert caught.value.headers["X-Request-ID"] == "gun-bad-1"
    assert json.loads(caught.value.read())["error"]["field"] == "text"


# ----- concurrency and batching ----------------------------------------------------------------


def _burst_requests() -> list[tuple[str, dict]]:
    """24 requests: summaries, Arabic and French translations, some of them lists."""
    requests: list[tuple[str, dict]] = []
    for i in range(8):
        requests.append(("/v1/summarize", {"text": TEXTS[i], **QUICK}))
        requests.append(("/v1/translate", {"text": TEXTS[i + 4], "target": "ar"}))
        if i % 2:
            requests.append(("/v1/translate", {"text": TEXTS[i], "target": "fr"}))
        else:
            texts = [TEXTS[(i + k) % len(TEXTS)] for k in (5, 0, 9)]
            requests.append(("/v1/translate", {"texts": texts, "target": "fr"}))
    requests[-1] = ("/v1/summarize", {"texts": [TEXTS[3], TEXTS[1]], **QUICK})
    return requests


def _alone(server: Server, path: str, body: dict, cache: dict) -> str:
    key = (path, json.dumps(body, sort_keys=True))
    if key not in cache:
        status, answer, _ = post_json(server.url + path, body)
        assert status == 200, answer
        cache[key] = answer["summary"] if "summary" in answer else answer["translation"]
    return cache[key]


def _expected(server: Server, path: str, body: dict, cache: dict) -> dict:
    """What each text gets when it is sent alone, one request at a time."""
    single = {k: v for k, v in body.items() if k not in ("text", "texts")}
    if "text" in body:
        answer = _alone(server, path, {**single, "text": body["text"]}, cache)
        return {"summary" if path == "/v1/summarize" else "translation": answer}
    answers = [_alone(server, path, {**single, "text": t}, cache) for t in body["texts"]]
    return {"summaries" if path == "/v1/summarize" else "translations": answers}


def _post_chunked(server: Server, body: bytes) -> tuple[int, dict]:
    """POST with Transfer-Encoding: chunked (no Content-Length), in 64 KiB chunks."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        chunks = (body[i : i + 65536] for i in range(0, len(body), 65536))
        conn.request(
            "POST",
            "/v1/translate",
            body=chunks,
            headers={"Content-Type": "application/json"},
            encode_chunked=True,
        )
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def test_a_chunked_body_is_held_to_the_body_limit(server: Server) -> None:
    small = json.dumps({"text": "Heavy rain.", "target": "fr"}).encode()
    status, body = _post_chunked(server, small)
    assert status == 200 and body["translation"]
    # Valid JSON padded with spaces past MAX_BODY_BYTES (2 MiB by default).
    big = small[:-1] + b" " * 2_200_000 + b"}"
    status, body = _post_chunked(server, big)
    assert status == 413 and body["error"]["code"] == "payload_too_large"


MALFORMED_CHUNKS = {
    "negative size": b"-5\r\nhello\r\n0\r\n\r\n",
    "not hex": b"zz\r\nhello\r\n0\r\n\r\n",
    "missing CRLF": b"5\r\nhelloXX0\r\n\r\n",
}


@pytest.mark.parametrize("path", ["/v1/translate", "/translate"])
@pytest.mark.parametrize("name", MALFORMED_CHUNKS)
def test_a_malformed_chunked_body_is_a_400_not_a_500(server: Server, path: str, name: str) -> None:
    """gunicorn's chunked reader raises inside the view that reads the body: the client's error,
    so 400 in each route's own error shape, and no traceback in the log."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"X-Request-ID: chunked-{name.replace(' ', '-')}\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(head + MALFORMED_CHUNKS[name])
        response = http.client.HTTPResponse(sock)
        response.begin()
        status, body = response.status, json.loads(response.read())
    assert status == 400, body
    error = body["error"]
    assert (error["code"] if path.startswith("/v1") else error).startswith(
        "bad_request" if path.startswith("/v1") else "the request body could not be read"
    )
    assert "Traceback" not in server.output()


def test_concurrent_requests_are_answered_correctly_and_batched_together(server: Server) -> None:
    requests = _burst_requests()
    cache: dict = {}
    expected = [_expected(server, path, body, cache) for path, body in requests]
    assert len(set(cache.values())) == len(cache), "the tiny models should tell inputs apart"
    before = _metrics(server)

    start = threading.Barrier(len(requests))
    results: list = [None] * len(requests)

    def send(i: int) -> None:
        path, body = requests[i]
        start.wait()
        request = urllib.request.Request(
            server.url + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "X-Request-ID": f"burst-{i}"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            results[i] = (response.status, json.loads(response.read()))

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)

    for i, (path, body) in enumerate(requests):
        assert results[i] is not None, f"request {i} got no answer"
        status, answer = results[i]
        assert status == 200, answer
        for key, value in expected[i].items():
            assert answer[key] == value, (i, path, body)

    after = _metrics(server)

    def grew(name: str, model: str) -> float:
        key = (name, (("model", model),))
        return after.get(key, 0) - before.get(key, 0)

    models = {"/v1/summarize": "summarize", "ar": "en-ar", "fr": "en-fr"}
    sent = dict.fromkeys(models.values(), 0)
    for path, body in requests:  # every text here is one sentence: one item
        sent[models[body.get("target", path)]] += len(body.get("texts", [None]))
    items = {m: grew("service_batch_size_sum", m) for m in sent}
    batches = {m: grew("service_batch_size_count", m) for m in sent}
    assert items == sent
    assert sum(batches.values()) < sum(items.values()), (items, batches)
    assert any(batches[m] < items[m] for m in items), (items, batches)

    # Each request logged one structured line; some batch served several requests.
    lines = {e["request_id"]: e for e in _log_lines(server) if e["request_id"].startswith("burst-")}
    assert set(lines) == {f"burst-{i}" for i in range(len(requests))}
    owners: dict[int, set[str]] = {}
    for request_id, entry in lines.items():
        assert entry["status"] == 200 and entry["method"] == "POST"
        assert entry["endpoint"] in ("/v1/summarize", "/v1/translate")
        assert entry["latency_ms"] > 0 and entry["items"] >= 1 and entry["batch_ids"]
        for batch_id in entry["batch_ids"]:
            owners.setdefault(batch_id, set()).add(request_id)
    assert max(len(ids) for ids in owners.values()) > 1, "no batch was shared by two requests"


# ----- graceful shutdown -----------------------------------------------------------------------


def test_sigterm_answers_every_request_in_flight_then_exits_0(start_server, server: Server) -> None:
    """SIGTERM with a burst queued: every admitted request gets its whole, correct answer, the
    worker drains and gunicorn exits 0. A batch waits 2 s for company after its first item, so
    the requests are surely in flight (their items queued) when the signal arrives."""
    requests = [[f"{text} Item {i}." for text in TEXTS[i * 3 : i * 3 + 3]] for i in range(4)]
    stopping = start_server({"MAX_WAIT_MS": "2000"})
    answers: dict[int, tuple] = {}

    def send(i: int) -> None:
        body = {"texts": requests[i], "target": "fr"}
        try:
            answers[i] = post_json(stopping.url + "/v1/translate", body, timeout=120)
        except OSError as exc:  # shown by the assertion below, not lost in a thread
            answers[i] = (None, repr(exc), {})

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(requests))]
    for thread in threads:
        thread.start()
    queued = ("service_queue_depth", (("model", "en-fr"),))
    items = sum(len(texts) for texts in requests)
    deadline = time.monotonic() + 30
    while _metrics(stopping).get(queued, 0) < items:
        assert time.monotonic() < deadline, "the requests were never queued"
        time.sleep(0.02)
    code = stopping.stop()
    for thread in threads:
        thread.join(60)

    assert code == 0, stopping.output()
    assert sorted(answers) == list(range(len(requests))), (answers, stopping.output())
    for i, texts in enumerate(requests):
        status, body, _ = answers[i]
        assert status == 200, body
        expected = [
            _alone(server, "/v1/translate", {"text": text, "target": "fr"}, {}) for text in texts
        ]
        assert body["translations"] == expected
    output = stopping.output()
    assert "Handling signal: term" in output
    assert "Shutting down: Master" in output
    lines = [e for e in _log_lines(stopping) if e["endpoint"] == "/v1/translate"]
    assert sorted((e["status"], e["items"]) for e in lines) == [(200, 3)] * len(requests)


def test_worker_exit_drains_the_engine_before_the_process_ends(make_engine) -> None:
    """gunicorn.conf.py's worker_exit hook finishes queued work and stops the batch workers."""
    hooks = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    engine = make_engine()
    app = create_app(engine=engine)
    faults = Faults(engine, "en-fr")
    params = GenerationParams(num_beams=1, max_length=8)
    inputs = [faults.ids(text) for text in TEXTS[:3]]
    expected = [engine.submit("en-fr", ids, params).result() for ids in inputs]
    faults.hold(TEXTS[0])
    tickets = [engine.submit("en-fr", ids, params) for ids in inputs]
    assert faults.entered.wait(10)
    exiting = threading.Thread(target=hooks["worker_exit"], args=(None, SimpleNamespace(wsgi=app)))
    exiting.start()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:  # accepted until the hook has closed the queues
            engine.submit("en-fr", inputs[0], params).cancel()
        except ModelUnavailable:
            break
        time.sleep(0.01)
    else:
        pytest.fail("worker_exit did not close the engine")
    assert exiting.is_alive()  # waiting for the held batch
    faults.open()
    exiting.join(30)
    assert not exiting.is_alive()
    assert [ticket.result() for ticket in tickets] == expected
    assert not engine.ready
