"""Server-Sent Events on `/v1/summarize` and `/v1/articles` (`Accept: text/event-stream`),
through Flask's test client on the tiny models: the events in order, refusals before the stream,
errors during it, the OpenAPI description. (Over real sockets, through gunicorn and the nginx
front: tests/system/test_streaming.py.)"""

from __future__ import annotations

import json

import pytest
from flask.testing import FlaskClient

from service.inference.engine import Engine
from tests.conftest import NEWS_SENTENCES, Faults, long_news

STREAM = {"Accept": "text/event-stream"}
SENTENCES = NEWS_SENTENCES
LONG = long_news()
QUICK = {"max_length": 16}


def parse_events(body: str) -> list[tuple[str, dict]]:
    """(name, data) of each event of a text/event-stream body."""
    events = []
    for block in body.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((fields["event"], json.loads(fields["data"])))
    return events


def test_a_long_text_streams_progress_each_partial_then_the_json_answer(
    client: FlaskClient,
) -> None:
    response = client.post("/v1/summarize", json={"text": LONG, **QUICK}, headers=STREAM)
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    assert response.headers["X-Accel-Buffering"] == "no"
    assert response.headers["Cache-Control"] == "no-cache"
    events = parse_events(response.get_data(as_text=True))
    (name, opening), *partials, (last, answer) = events
    assert name == "progress" and opening["done"] == 0 and opening["chunks"] > 1
    n = opening["chunks"]
    first_round = [data for name, data in partials if name == "partial" and data["round"] == 1]
    assert [p["done"] for p in first_round] == list(range(1, n + 1))
    assert sorted(p["chunk"] for p in first_round) == list(range(n))
    assert all(p["summary"] and p["chunks"] == n and p["index"] == 0 for p in first_round)
    plain = client.post("/v1/summarize", json={"text": LONG, **QUICK}).get_json()
    assert last == "summary"
    assert answer == plain and answer["chunks"] == [n]


def test_several_texts_are_told_apart_by_index(client: FlaskClient) -> None:
    body = {"texts": SENTENCES[:2], **QUICK}
    events = parse_events(client.post("/v1/summarize", json=body, headers=STREAM).get_data(True))
    partials = {data["index"]: data["summary"] for name, data in events if name == "partial"}
    assert events[-1] == ("summary", client.post("/v1/summarize", json=body).get_json())
    assert [partials[0], partials[1]] == events[-1][1]["summaries"]


def test_an_article_streams_its_summary_then_the_article(client: FlaskClient) -> None:
    body = {"text": LONG, "translate_to": ["fr"], **QUICK}
    events = parse_events(client.post("/v1/articles", json=body, headers=STREAM).get_data(True))
    assert events[0][0] == "progress" and events[0][1]["chunks"] > 1
    assert {name for name, _ in events[1:-1]} <= {"partial", "progress"}
    assert events[-1] == ("article", client.post("/v1/articles", json=body).get_json())


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"text": " "}, 400, "invalid_request"),
        ({"text": "x", "length": "tiny"}, 400, "invalid_request"),
        ({"texts": ["x"] * 1000}, 413, "payload_too_large"),
    ],
)
def test_a_refusal_before_the_work_is_the_json_error_with_its_status(
    client: FlaskClient, body: dict, status: int, code: str
) -> None:
    response = client.post("/v1/summarize", json=body, headers=STREAM)
    assert response.status_code == status
    assert response.mimetype == "application/json"
    assert response.get_json()["error"]["code"] == code


def test_an_error_during_the_stream_is_an_error_event_in_the_json_error_shape(
    client: FlaskClient, engine: Engine
) -> None:
    faults = Faults(engine, "summarize")
    faults.fail(SENTENCES[0], RuntimeError("boom"))
    try:
        response = client.post(
            "/v1/summarize",
            json={"text": SENTENCES[0], **QUICK},
            headers=STREAM | {"X-Request-ID": "sse-1"},
        )
        events = parse_events(response.get_data(as_text=True))
    finally:
        faults.remove()
    assert response.status_code == 200
    assert [name for name, _ in events] == ["progress", "error"]
    error = events[-1][1]
    assert error["status"] == 500 and error["error"]["code"] == "generation_failed"
    assert "sse-1" in error["error"]["message"] and "boom" not in error["error"]["message"]
    assert set(error["error"]) == {"code", "message", "field"}


@pytest.mark.parametrize(
    "accept", ["application/json", "*/*", "text/event-stream;q=0.5, application/json"]
)
def test_json_unless_the_client_prefers_events(client: FlaskClient, accept: str) -> None:
    response = client.post(
        "/v1/summarize", json={"text": SENTENCES[0], **QUICK}, headers={"Accept": accept}
    )
    assert response.mimetype == "application/json" and response.get_json()["summary"]


def test_the_openapi_document_describes_the_streams(client: FlaskClient) -> None:
    paths = client.get("/openapi.json").get_json()["paths"]
    for path in ("/v1/summarize", "/v1/articles"):
        ok = paths[path]["post"]["responses"]["200"]
        assert set(ok["content"]) == {"application/json", "text/event-stream"}
        assert "`partial`" in ok["description"] and "`error`" in ok["description"]
    assert "text/event-stream" not in paths["/v1/translate"]["post"]["responses"]["200"]["content"]
