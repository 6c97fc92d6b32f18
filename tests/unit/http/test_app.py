"""The app factory, readiness while models load, the request log line, and the 500 handler."""

import json
import logging
import threading
import time
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient

import service.inference.engine
from service import tasks
from service.core.config import Settings
from service.core.logs import JsonFormatter, configure_logging
from service.http.app import create_app

TEXT = "The council approved the new bridge on Tuesday."


@pytest.fixture
def request_log() -> Iterator[list[logging.LogRecord]]:
    """Records of the `service.request` logger (the service's loggers do not propagate)."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("service.request")
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield records
    logger.removeHandler(handler)
    logger.setLevel(previous)


def _lines(records: list[logging.LogRecord], request_id: str) -> list[dict]:
    formatter = JsonFormatter()
    return [
        json.loads(formatter.format(r))
        for r in records
        if r.getMessage() == "request" and getattr(r, "request_id", None) == request_id
    ]


# ----- the factory -----------------------------------------------------------------------------


def test_create_app_from_settings_owns_its_engine(demo_env: dict[str, str]) -> None:
    settings = Settings.from_env({**demo_env, "MAX_BODY_BYTES": "12345"})
    app = create_app(settings)
    try:
        engine = app.extensions["engine"]
        assert engine.settings is settings and engine.ready
        assert app.extensions["metrics"] is engine.metrics
        assert app.config["SETTINGS"] is settings
        body = b'{"text": "Rain.", "target": "fr"}'
        client = app.test_client()
        for size, status in ((12345, 200), (12346, 413)):
            padded = body[:-1] + b" " * (size - len(body)) + b"}"
            response = client.post("/v1/translate", data=padded, content_type="application/json")
            assert response.status_code == status
        assert app.test_client().get("/readyz").status_code == 200
    finally:
        app.extensions["engine"].close(timeout=30)
    assert not engine.ready


def test_apps_on_a_shared_engine_share_it_and_its_metrics(engine) -> None:
    first, second = create_app(engine=engine), create_app(engine=engine)
    assert first.extensions["engine"] is second.extensions["engine"] is engine
    assert first.config["SETTINGS"] is engine.settings
    assert first.extensions["metrics"] is second.extensions["metrics"]


def test_configure_logging_installs_one_json_handler() -> None:
    configure_logging("INFO")
    configure_logging("DEBUG")
    logger = logging.getLogger("service")
    handlers = [h for h in logger.handlers if isinstance(h.formatter, JsonFormatter)]
    assert len(handlers) == 1
    assert logger.level == logging.DEBUG
    configure_logging("INFO")


def test_json_formatter_writes_one_object_per_record() -> None:
    record = logging.makeLogRecord(
        {"name": "service.x", "levelno": logging.INFO, "levelname": "INFO", "msg": "hé %s"}
    )
    record.args = ("ا",)
    record.request_id = "r1"
    line = JsonFormatter().format(record)
    assert "\n" not in line and "ا" in line  # real characters, one line
    entry = json.loads(line)
    assert entry["message"] == "hé ا" and entry["request_id"] == "r1"
    assert {"time", "level", "logger"} <= set(entry)


# ----- readiness -------------------------------------------------------------------------------


def test_readyz_is_503_until_every_model_has_loaded(
    demo_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    load_model = service.inference.engine.load_model

    def slow_load(*args, **kwargs):
        release.wait(30)
        return load_model(*args, **kwargs)

    monkeypatch.setattr(service.inference.engine, "load_model", slow_load)
    app = create_app(Settings.from_env({**demo_env, "EAGER_LOAD": "false", "RETRY_AFTER_S": "3"}))
    try:
        client = app.test_client()
        assert client.get("/healthz").status_code == 200
        waiting = client.get("/readyz")
        assert waiting.status_code == 503
        assert waiting.get_json() == {
            "status": "not ready",
            "models": {"summarize": "loading", "en-fr": "loading", "en-ar": "loading"},
        }
        refused = client.post("/v1/summarize", json={"text": TEXT})
        assert refused.status_code == 503
        assert refused.get_json()["error"]["code"] == "model_unavailable"
        assert refused.headers["Retry-After"] == "3"
        release.set()
        deadline = time.monotonic() + 30
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "models did not load"
            time.sleep(0.05)
        summary = client.post("/v1/summarize", json={"text": TEXT, "max_length": 8})
        assert summary.status_code == 200
    finally:
        release.set()
        app.extensions["engine"].close(timeout=30)


def test_readyz_reports_a_model_that_failed_to_load(demo_env: dict[str, str]) -> None:
    env = {**demo_env, "EAGER_LOAD": "false", "SUMMARIZE_MODEL": "/nonexistent/summarizer"}
    app = create_app(Settings.from_env(env))
    try:
        client = app.test_client()
        deadline = time.monotonic() + 30
        while True:
            body = client.get("/readyz").get_json()
            if body["models"]["summarize"] != "loading" or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.get_json()["models"]["summarize"].startswith("failed: ")
        assert "/nonexistent/summarizer" in response.get_json()["models"]["summarize"]
        refused = client.post("/v1/summarize", json={"text": TEXT})
        assert refused.status_code == 503
        assert refused.get_json()["error"]["code"] == "model_unavailable"
    finally:
        app.extensions["engine"].close(timeout=30)


# ----- the request log -------------------------------------------------------------------------


def test_one_structured_log_line_per_request(
    client: FlaskClient, request_log: list[logging.LogRecord]
) -> None:
    response = client.post(
        "/v1/translate",
        json={"texts": [TEXT, "Talks resumed."], "target": "fr"},
        headers={"X-Request-ID": "log-1"},
    )
    assert response.status_code == 200
    (line,) = _lines(request_log, "log-1")
    assert line["logger"] == "service.request"
    assert line["method"] == "POST"
    assert line["endpoint"] == "/v1/translate"
    assert line["status"] == 200
    assert isinstance(line["latency_ms"], float) and line["latency_ms"] >= 0
    assert line["items"] == 2
    assert line["batch_ids"] and all(isinstance(b, int) for b in line["batch_ids"])
    assert line["batch_ids"] == sorted(set(line["batch_ids"]))


def test_errors_and_unknown_paths_are_logged_but_metrics_scrapes_are_not(
    client: FlaskClient, request_log: list[logging.LogRecord]
) -> None:
    client.post("/v1/summarize", json={"text": " "}, headers={"X-Request-ID": "log-2"})
    client.get("/no/such/path", headers={"X-Request-ID": "log-3"})
    client.get("/metrics", headers={"X-Request-ID": "log-4"})
    (error,) = _lines(request_log, "log-2")
    # A refused request still says how many texts it held; it ran in no batch.
    assert (error["status"], error["items"], error["batch_ids"]) == (400, 1, None)
    (unknown,) = _lines(request_log, "log-3")
    assert (unknown["endpoint"], unknown["status"]) == ("unmatched", 404)
    assert _lines(request_log, "log-4") == []


# ----- 500 -------------------------------------------------------------------------------------


def test_unexpected_exception_is_json_500_without_internals_and_is_logged(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch, request_log: list[logging.LogRecord]
) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("secret at /srv/models/key.txt: password=hunter2")

    monkeypatch.setattr(tasks, "summarize", broken)
    response = client.post(
        "/v1/summarize", json={"text": TEXT}, headers={"X-Request-ID": "boom-500"}
    )
    assert response.status_code == 500
    assert response.mimetype == "application/json"
    assert response.headers["X-Request-ID"] == "boom-500"
    error = response.get_json()["error"]
    assert error["code"] == "internal_error" and error["field"] is None
    assert "boom-500" in error["message"]
    raw = response.get_data(as_text=True)
    for leak in ("secret", "hunter2", "RuntimeError", "Traceback", "/srv", ".py"):
        assert leak not in raw
    logged = [r for r in request_log if r.exc_info and r.__dict__.get("request_id") == "boom-500"]
    assert len(logged) == 1
    assert "hunter2" in JsonFormatter().format(logged[0])  # the log has the details
    (line,) = _lines(request_log, "boom-500")
    assert line["status"] == 500


def test_model_failure_is_500_without_internals_and_the_worker_survives(
    client: FlaskClient, engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(batch, params, **kw):
        raise RuntimeError("kernel exploded in /opt/secret")

    monkeypatch.setattr(engine.model("en-fr"), "generate", broken)
    response = client.post(
        "/v1/translate", json={"text": TEXT, "target": "fr"}, headers={"X-Request-ID": "boom-1"}
    )
    assert response.status_code == 500
    error = response.get_json()["error"]
    assert error["code"] == "generation_failed"
    assert "secret" not in response.get_data(as_text=True)
    assert "exploded" not in error["message"]
    assert "boom-1" in error["message"]  # what to quote when reporting it
    monkeypatch.undo()
    again = client.post("/v1/translate", json={"text": TEXT, "target": "fr"})
    assert again.status_code == 200


def test_an_input_too_big_for_device_memory_is_503_without_retry_after(
    client: FlaskClient,
    engine,
    request_log: list[logging.LogRecord],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def out_of_memory(batch, params, **kw):
        # Whatever the backend raises when a device runs out of memory (torch's, CTranslate2's).
        raise engine.backend.OUT_OF_MEMORY[0]("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(engine.model("en-fr"), "generate", out_of_memory)
    response = client.post(
        "/v1/translate", json={"text": TEXT, "target": "fr"}, headers={"X-Request-ID": "oom-1"}
    )
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "out_of_memory"
    assert "Retry-After" not in response.headers  # the same input would not fit again
    (line,) = _lines(request_log, "oom-1")
    assert (line["status"], line["items"]) == (503, 1)


def test_a_streamed_answer_is_logged_once_its_stream_ends(
    client: FlaskClient, request_log: list[logging.LogRecord]
) -> None:
    """With `Accept: text/event-stream`, the line waits for the last event: it has the items
    and the batches the summary ran in."""
    response = client.post(
        "/v1/summarize",
        json={"texts": [TEXT, "Talks resumed."], "max_length": 16},
        headers={"X-Request-ID": "log-sse", "Accept": "text/event-stream"},
    )
    assert response.status_code == 200
    assert "event: summary" in response.get_data(as_text=True)
    response.close()
    (line,) = _lines(request_log, "log-sse")
    assert (line["endpoint"], line["status"], line["items"]) == ("/v1/summarize", 200, 2)
    assert line["batch_ids"] and line["batch_ids"] == sorted(set(line["batch_ids"]))
    assert "error" not in line
