"""The jobs API as clients use it: real gunicorn on the tiny models, jobs submitted over HTTP
(a JSON body and a JSON Lines upload), followed through their event stream, every result read
back, and the finished job called back, signed, on a real local server (allowed here by
JOBS_WEBHOOK_ALLOW, as a deployment would allow an intranet host)."""

from __future__ import annotations

import http.client
import json
import time
from urllib.parse import urlsplit

from harness.server import Server, get, post
from service.jobs.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify

SECRET = "webhook-secret-of-the-desk"
SERVER_ENV = {
    "JOBS_WEBHOOK_SECRET": SECRET,
    "JOBS_WEBHOOK_ALLOW": "127.0.0.1",
    "JOBS_WORKER_ITEMS": "4",
}
SENTENCES = [
    "The council approved the new bridge on Tuesday.",
    "Farmers fear the drought will ruin the harvest.",
    "The museum reopened after a long renovation.",
]


def _events(server: Server, location: str) -> list[tuple[str, dict]]:
    """The job's Server-Sent Events, read as they come until the stream ends."""
    parts = urlsplit(server.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    try:
        conn.request("GET", f"{location}/events", headers={"Accept": "text/event-stream"})
        response = conn.getresponse()
        assert response.status == 200
        assert response.getheader("Content-Type").startswith("text/event-stream")
        text = response.read().decode()
    finally:
        conn.close()
    events = []
    for block in text.strip().split("\n\n"):
        name, data = block.split("\n", 1)
        events.append((name.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return events


def _results(server: Server, location: str) -> list[dict]:
    reply = get(server.url, f"{location}/results", timeout=60)
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("application/x-ndjson")
    text = reply.body if isinstance(reply.body, str) else json.dumps(reply.body)
    return [json.loads(line) for line in text.splitlines()]


def test_a_json_job_runs_to_the_end_with_events_results_and_a_signed_callback(
    server: Server, webhook_receiver
) -> None:
    items = [{"id": f"n{i}", "text": f"{SENTENCES[i % 3]} Report {i}."} for i in range(12)]
    body = {"task": "translate", "target": "fr", "items": items}
    reply = post(server.url, "/v1/jobs", body | {"callback_url": webhook_receiver.url})
    assert reply.status == 202, reply.body
    location = reply.headers["Location"]
    assert reply.body == {"id": location.rsplit("/", 1)[1], "status": "queued", "total": 12}
    events = _events(server, location)
    assert events[-1][0] == "finished"
    final = events[-1][1]
    assert (final["status"], final["done"], final["failed"], final["total"]) == ("done", 12, 0, 12)
    counts = [data["done"] + data["failed"] for _, data in events]
    assert counts == sorted(counts)  # progress only goes forward
    results = _results(server, location)
    assert sorted(line["id"] for line in results) == sorted(item["id"] for item in items)
    assert all(isinstance(line["result"]["translation"], str) for line in results)
    webhook_receiver.wait_for(1, timeout=60)
    headers, sent = webhook_receiver.got[0]
    assert verify(
        SECRET, sent, headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER], now=time.time()
    )
    assert json.loads(sent)["job"]["status"] == "done"


def test_an_uploaded_archive_gets_every_line_answered(server: Server) -> None:
    lines = [json.dumps({"id": i, "text": f"{SENTENCES[i % 3]} Item {i}."}) for i in range(30)]
    lines.insert(7, json.dumps({"id": "no-text"}))
    reply = post(
        server.url,
        "/v1/jobs?task=summarize&max_length=12&num_beams=1",
        "\n".join(lines).encode(),
        content_type="application/x-ndjson",
    )
    assert reply.status == 202, reply.body
    location = reply.headers["Location"]
    until = time.monotonic() + 300
    while (status := get(server.url, location).body)["status"] not in ("done", "failed"):
        assert time.monotonic() < until, status
        time.sleep(0.2)
    assert (status["done"], status["failed"], status["total"]) == (30, 1, 31)
    assert status["finished_at"] >= status["started_at"] >= status["created_at"]
    results = {line["id"]: line for line in _results(server, location)}
    assert set(results) == {str(i) for i in range(30)} | {"no-text"}
    assert results["no-text"]["error"]["code"] == "invalid_request"


def test_a_malformed_upload_is_refused_naming_its_line(server: Server) -> None:
    reply = post(
        server.url,
        "/v1/jobs?task=translate&target=fr",
        b'{"text": "fine"}\n{"text": "broken"\n',
        content_type="application/x-ndjson",
    )
    assert reply.status == 400
    assert "line 2" in reply.body["error"]["message"]
