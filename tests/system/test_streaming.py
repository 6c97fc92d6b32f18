"""Streamed summaries over real sockets: `Accept: text/event-stream` on `/v1/summarize`, read
event by event with http.client, from gunicorn as users start it and through the production
front (nginx), which must pass each event on as it comes instead of buffering the answer.

Each chunk runs in a batch of its own (MAX_BATCH_SIZE=1) and in beam search, so a long text's
chunks finish one after another over a measurable time; an answer buffered anywhere would
arrive all at once at the end.
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

from harness.server import Server
from service.ops.front import find_nginx
from tests.conftest import NEWS_SENTENCES, long_news

SERVER_ENV = {"MAX_BATCH_SIZE": "1"}
# Several chunks for the tiny summariser.
LONG = long_news(60)
BODY = {"text": LONG, "num_beams": 4, "max_length": 60}


@dataclass
class Event:
    name: str
    data: dict
    at: float  # seconds after the request was sent


def stream(
    url: str, body: dict, *, timeout: float = 120
) -> tuple[int, dict[str, str], list[Event]]:
    """POST `body` asking for events; the status, headers and each event as it arrived."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
    sent = time.monotonic()
    connection.request("POST", "/v1/summarize", json.dumps(body), headers)
    response = connection.getresponse()
    events, fields = [], {}
    try:
        while line := response.readline():
            line = line.decode().rstrip("\n")
            if line:
                name, value = line.split(": ", 1)
                fields[name] = value
            elif fields:
                events.append(
                    Event(fields["event"], json.loads(fields["data"]), time.monotonic() - sent)
                )
                fields = {}
    finally:
        connection.close()
    return response.status, dict(response.headers), events


def _check_streamed(status: int, headers: dict[str, str], events: list[Event]) -> None:
    assert status == 200 and headers["Content-Type"].startswith("text/event-stream")
    opening, *partials, last = events
    chunks = opening.data["chunks"]
    assert (opening.name, opening.data["done"]) == ("progress", 0) and chunks > 2
    first_round = [e for e in partials if e.name == "partial" and e.data["round"] == 1]
    assert [e.data["done"] for e in first_round] == list(range(1, chunks + 1))
    assert last.name == "summary" and last.data["summary"] and last.data["chunks"] == [chunks]
    # Each event as it was ready: the first partial arrived well before the answer did.
    assert first_round[0].at < last.at - 0.3 * (last.at - opening.at), [e.at for e in events]
    assert last.at - opening.at > 0.2


def test_gunicorn_streams_each_partial_as_it_is_ready(server: Server) -> None:
    _check_streamed(*stream(server.url, BODY))


def test_the_front_passes_each_event_on_unbuffered(start_server: Callable[..., Server]) -> None:
    if find_nginx() is None:
        pytest.skip("nginx is not installed (Debian: apt-get install nginx)")
    front = start_server(SERVER_ENV, ["--drain-delay", "0"], front=True)
    status, headers, events = stream(front.url, BODY)
    assert headers.get("X-Accel-Buffering") is None  # nginx consumes it
    _check_streamed(status, headers, events)


def test_the_request_log_has_the_streams_items_and_batches(server: Server) -> None:
    status, _, events = stream(server.url, {"text": NEWS_SENTENCES[0], "max_length": 16})
    assert status == 200 and events[-1].name == "summary"
    time.sleep(0.2)
    lines = [json.loads(line) for line in server.output().splitlines() if line.startswith("{")]
    logged = [line for line in lines if line.get("endpoint") == "/v1/summarize"]
    assert logged and logged[-1]["items"] == 1 and logged[-1]["batch_ids"]
