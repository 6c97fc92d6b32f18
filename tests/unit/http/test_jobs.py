"""`/v1/jobs` through the real app: submission (JSON and JSON Lines), status, results while the
job runs and after, progress events, cancelling, owners, limits and refusals.

No worker runs here (JOBS_WORKER_ITEMS aside, the app starts none): the tests play the worker
through the real SQLite store the app uses, claiming and finishing items, so every state a
client can see is reached on purpose. Jobs run by the real runner are in test_jobs_runner.py.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from service.core.config import Settings
from service.http.app import create_app
from service.jobs.store import ItemError, Outcome
from service.jobs.stores import open_store

KEY = "k3y-for-the-newsroom-0001"
OTHER_KEY = "another-key-of-the-desk-02"
ITEMS = [
    {"id": "a", "text": "The council approved the new bridge on Tuesday."},
    {"id": "b", "text": "Farmers fear the drought will ruin the harvest."},
    {"id": "c", "text": "The museum reopened after a long renovation."},
]


@pytest.fixture
def make_client(engine, tmp_path: Path):
    """make_client(**setting_changes) -> (test client, the job store it uses)."""
    stores = []

    def make(**changes):
        path = tmp_path / "jobs.db"
        settings = engine.settings.replace(jobs_store=f"sqlite:///{path}", **changes)
        app = create_app(settings, engine=engine)
        store = open_store(str(path))
        stores.append(store)
        return app.test_client(), store

    yield make
    for store in stores:
        store.close()


@pytest.fixture
def client_and_store(make_client):
    return make_client()


def _submit(client, body=None, **kw):
    return client.post(
        "/v1/jobs", json=body or {"task": "translate", "target": "fr", "items": ITEMS}, **kw
    )


def _play_worker(store, count: int, *, fail: set[str] = frozenset()) -> list[str]:
    """Claim `count` items and write their outcomes, as a worker would; their ids."""
    claims = store.claim("test-worker", count, 60)
    for claim in claims:
        if claim.item_id in fail:
            store.finish(claim, Outcome(claim.item_id, error=ItemError("timeout", "too slow")))
        else:
            store.finish(claim, Outcome(claim.item_id, result={"translation": claim.text.upper()}))
    return [claim.item_id for claim in claims]


def _lines(response) -> list[dict]:
    return [json.loads(line) for line in response.data.decode().splitlines()]


def test_a_job_is_accepted_with_202_and_its_location(client_and_store) -> None:
    client, store = client_and_store
    response = _submit(client)
    assert response.status_code == 202
    body = response.get_json()
    assert body == {"id": body["id"], "status": "queued", "total": 3}
    assert response.headers["Location"] == f"/v1/jobs/{body['id']}"
    job = store.get(body["id"])
    assert job.spec.task == "translate"
    assert job.spec.options == {"source": "en", "target": "fr", "format": "text"}


def test_status_follows_the_job_from_queued_to_done(client_and_store) -> None:
    client, store = client_and_store
    location = _submit(client).headers["Location"]
    queued = client.get(location).get_json()
    assert queued["status"] == "queued"
    assert (queued["total"], queued["done"], queued["failed"]) == (3, 0, 0)
    assert queued["started_at"] is None and queued["eta_s"] is None
    _play_worker(store, 2, fail={"b"})
    running = client.get(location).get_json()
    assert running["status"] == "running"
    assert (running["done"], running["failed"]) == (1, 1)
    assert running["started_at"].endswith("Z") and running["finished_at"] is None
    assert running["eta_s"] is not None and running["eta_s"] >= 0
    _play_worker(store, 5)
    done = client.get(location).get_json()
    assert (done["status"], done["done"], done["failed"], done["eta_s"]) == ("done", 2, 1, 0)
    assert done["finished_at"] is not None


def test_results_hold_what_is_done_while_running_and_everything_after(client_and_store) -> None:
    client, store = client_and_store
    location = _submit(client).headers["Location"]
    assert client.get(f"{location}/results").data == b""
    first = _play_worker(store, 1)
    response = client.get(f"{location}/results")
    assert response.mimetype == "application/x-ndjson"
    assert [line["id"] for line in _lines(response)] == first
    _play_worker(store, 5, fail={"c"})
    lines = {line["id"]: line for line in _lines(client.get(f"{location}/results"))}
    assert set(lines) == {"a", "b", "c"}
    assert lines["a"] == {"id": "a", "result": {"translation": ITEMS[0]["text"].upper()}}
    assert lines["c"] == {"id": "c", "error": {"code": "timeout", "message": "too slow"}}


def test_events_report_progress_then_the_finished_job(client_and_store) -> None:
    client, store = client_and_store
    location = _submit(client).headers["Location"]
    _play_worker(store, 1)
    # The stream polls the store: a worker finishing the rest meanwhile ends it.
    later = threading.Timer(0.3, _play_worker, (store, 5))
    later.start()
    response = client.get(f"{location}/events")
    later.join()
    assert response.mimetype == "text/event-stream"
    events = [
        (block.split("\n")[0].removeprefix("event: "), json.loads(block.split("data: ", 1)[1]))
        for block in response.data.decode().strip().split("\n\n")
    ]
    assert events[0][0] == "progress" and events[0][1]["done"] == 1
    assert events[-1][0] == "finished"
    assert events[-1][1]["status"] == "done" and events[-1][1]["done"] == 3
    assert [name for name, _ in events[:-1]] == ["progress"] * (len(events) - 1)


def test_events_of_a_finished_job_are_its_final_status(client_and_store) -> None:
    client, store = client_and_store
    location = _submit(client).headers["Location"]
    _play_worker(store, 3)
    text = client.get(f"{location}/events").data.decode()
    assert text.startswith("event: finished\n") and text.count("event:") == 1


def test_cancel_drops_the_items_not_started(client_and_store) -> None:
    client, store = client_and_store
    location = _submit(client).headers["Location"]
    _play_worker(store, 1)
    response = client.delete(location)
    assert response.status_code == 200
    assert response.get_json()["status"] == "cancelled"
    assert store.claim("test-worker", 10, 60) == []
    assert client.get(location).get_json()["status"] == "cancelled"
    assert [line["id"] for line in _lines(client.get(f"{location}/results"))] == ["a"]


def test_an_unknown_job_is_404_on_every_route(client_and_store) -> None:
    client, _ = client_and_store
    for method, suffix in (("get", ""), ("get", "/results"), ("get", "/events"), ("delete", "")):
        response = getattr(client, method)(f"/v1/jobs/nope{suffix}")
        assert response.status_code == 404, suffix
        assert response.get_json()["error"]["code"] == "not_found"


def test_a_job_belongs_to_its_key(make_client) -> None:
    keys = Settings.from_env({"API_KEYS": f"{KEY},{OTHER_KEY}"}).api_keys
    client, _ = make_client(api_keys=keys)
    assert _submit(client).status_code == 401
    mine, theirs = {"X-API-Key": KEY}, {"X-API-Key": OTHER_KEY}
    location = _submit(client, headers=mine).headers["Location"]
    assert client.get(location, headers=mine).status_code == 200
    for method, suffix in (("get", ""), ("get", "/results"), ("get", "/events"), ("delete", "")):
        response = getattr(client, method)(f"{location}{suffix}", headers=theirs)
        assert response.status_code == 404, suffix
    assert client.get(location, headers=mine).get_json()["status"] == "queued"


def test_a_retried_submission_with_its_idempotency_key_gets_the_same_job(make_client) -> None:
    """A client that lost the 202 (a timeout, a 503 while the store hung) sends again with the
    same key: one job, whatever the retry holds; another key, or another caller, another job."""
    keys = Settings.from_env({"API_KEYS": f"{KEY},{OTHER_KEY}"}).api_keys
    client, store = make_client(api_keys=keys, jobs_max_in_flight=1)
    mine = {"X-API-Key": KEY, "Idempotency-Key": "archive-2026-12-05"}
    first = _submit(client, headers=mine)
    retry = _submit(client, headers=mine)  # over JOBS_MAX_IN_FLIGHT were it a new job
    assert first.status_code == retry.status_code == 202, retry.get_json()
    assert retry.get_json() == first.get_json()
    assert retry.headers["Location"] == first.headers["Location"]
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert len(store.claim("w", 100, 60)) == len(ITEMS)  # the items once
    theirs = {"X-API-Key": OTHER_KEY, "Idempotency-Key": "archive-2026-12-05"}
    assert _submit(client, headers=theirs).get_json()["id"] != first.get_json()["id"]
    other_key = {"X-API-Key": KEY, "Idempotency-Key": "another"}
    assert _submit(client, headers=other_key).status_code == 429  # a new job: over the limit


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9", "two words"])
def test_an_idempotency_key_that_is_not_visible_ascii_is_refused(client_and_store, key) -> None:
    client, store = client_and_store
    response = _submit(client, headers={"Idempotency-Key": key})
    assert response.status_code == 400
    assert response.get_json()["error"]["field"] == "Idempotency-Key"
    assert store.claim("w", 100, 60) == []


def test_an_open_event_stream_ends_when_the_server_starts_stopping(client_and_store) -> None:
    """On SIGTERM (the worker drains) a stream of a running job ends with a 503 error event:
    held open until the job ends, it would keep the process from stopping within its grace."""
    client, _ = client_and_store
    location = _submit(client).headers["Location"]
    response = client.get(f"{location}/events", buffered=False)
    chunks = iter(response.response)
    assert b"event: progress" in next(chunks)
    client.application.extensions["jobs"].drain()
    got: list[bytes] = []
    for chunk in chunks:  # a stream that went on would send a heartbeat every 15 s
        got.append(chunk)
        if b"event: error" in chunk or len(got) >= 2:
            break
    rest = b"".join(got)
    assert b"event: error" in rest and b"jobs_unavailable" in rest
    assert b"event: finished" not in rest


def test_an_upload_of_json_lines_takes_its_options_from_the_query(client_and_store) -> None:
    client, store = client_and_store
    lines = "\n".join(json.dumps(item) for item in ITEMS).encode()
    response = client.post(
        "/v1/jobs?task=article&translate_to=fr,ar&max_length=20",
        data=lines,
        content_type="application/x-ndjson",
    )
    assert response.status_code == 202, response.get_json()
    job = store.get(response.get_json()["id"])
    assert job.total == 3
    assert job.spec.options["translate_to"] == ["fr", "ar"]
    assert job.spec.options["max_length"] == 20


def test_a_bad_line_is_that_items_error_not_a_failed_job(client_and_store) -> None:
    client, store = client_and_store
    data = b'{"id": "ok", "text": "Fine."}\n{"id": "empty", "text": "  "}\n[1, 2]\n'
    response = client.post(
        "/v1/jobs?task=summarize", data=data, content_type="application/x-ndjson"
    )
    assert response.status_code == 202
    location = response.headers["Location"]
    errors = {
        line["id"]: line["error"]["code"] for line in _lines(client.get(f"{location}/results"))
    }
    assert errors == {"empty": "invalid_request", "2": "invalid_request"}
    status = client.get(location).get_json()
    assert (status["status"], status["failed"]) == ("queued", 2)


def test_a_malformed_upload_is_400_naming_the_line(client_and_store) -> None:
    client, store = client_and_store
    data = b'{"text": "Fine."}\n\n{"text": "cut sho\n'
    response = client.post(
        "/v1/jobs?task=summarize", data=data, content_type="application/x-ndjson"
    )
    assert response.status_code == 400
    assert "line 3" in response.get_json()["error"]["message"]
    assert store.claim("w", 10, 60) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            {
                "task": "translate",
                "target": "fr",
                "items": [{"id": 1, "text": "a"}, {"id": "1", "text": "b"}],
            },
            "items",
        ),
        ({"task": "translate", "target": "fr", "items": []}, "items"),
        ({"task": "dance", "items": ITEMS}, "task"),
        ({"task": "translate", "items": ITEMS}, "target"),
        ({"task": "translate", "target": "de", "items": ITEMS}, "target"),
        ({"task": "article", "translate_to": ["ja"], "items": ITEMS}, "translate_to"),
        ({"task": "summarize", "target": "fr", "items": ITEMS}, "target"),
        (
            {"task": "summarize", "items": ITEMS, "callback_url": "ftp://example.com/x"},
            "callback_url",
        ),
    ],
)
def test_a_bad_job_is_400_naming_the_field(client_and_store, body, field) -> None:
    client, store = client_and_store
    response = _submit(client, body)
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["error"]["field"] == field
    assert store.claim("w", 10, 60) == []


def test_a_callback_to_a_private_address_is_refused_unless_allowed(make_client) -> None:
    body = {"task": "summarize", "items": ITEMS, "callback_url": "http://127.0.0.1:9/hook"}
    off, _ = make_client()
    assert _submit(off, body).get_json()["error"]["code"] == "callback_refused"  # no secret
    closed, _ = make_client(jobs_webhook_secret="s3cret")
    refused = _submit(closed, body)
    assert refused.status_code == 400
    assert "loopback" in refused.get_json()["error"]["message"]
    allowed, _ = make_client(jobs_webhook_secret="s3cret", jobs_webhook_allow=("127.0.0.1",))
    assert _submit(allowed, body).status_code == 202


def test_limits_are_413_naming_them(make_client) -> None:
    client, _ = make_client(jobs_max_items=2, jobs_max_bytes=200)
    too_many = _submit(client)
    assert too_many.status_code == 413
    assert "the limit is 2" in too_many.get_json()["error"]["message"]
    data = b"\n".join(json.dumps({"text": "x" * 120}).encode() for _ in range(2))
    upload = client.post("/v1/jobs?task=summarize", data=data, content_type="application/x-ndjson")
    assert upload.status_code == 413
    assert "200 bytes" in upload.get_json()["error"]["message"]


def test_jobs_in_flight_are_limited_per_caller(make_client) -> None:
    client, store = make_client(jobs_max_in_flight=1)
    location = _submit(client).headers["Location"]
    refused = _submit(client)
    assert refused.status_code == 429
    assert refused.get_json()["error"]["code"] == "too_many_jobs"
    client.delete(location)
    assert _submit(client).status_code == 202


def test_a_body_of_another_type_is_415(client_and_store) -> None:
    client, _ = client_and_store
    response = client.post("/v1/jobs", data="a text", content_type="text/plain")
    assert response.status_code == 415


def test_an_unreachable_store_is_503_with_retry_after(engine, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    settings = engine.settings.replace(jobs_store=f"sqlite:///{blocker}/jobs.db")
    client = create_app(settings, engine=engine).test_client()
    for response in (_submit(client), client.get("/v1/jobs/some-id")):
        assert response.status_code == 503
        assert response.get_json()["error"]["code"] == "jobs_unavailable"
        assert "Retry-After" in response.headers


def test_the_job_routes_are_in_the_openapi_document(client_and_store) -> None:
    client, _ = client_and_store
    paths = client.get("/openapi.json").get_json()["paths"]
    assert set(paths["/v1/jobs"]["post"]["responses"]) >= {"202", "400", "413", "429"}
    assert "Location" in paths["/v1/jobs"]["post"]["responses"]["202"]["headers"]
    assert set(paths["/v1/jobs/{job_id}"]) == {"get", "delete"}
    assert (
        "application/x-ndjson"
        in paths["/v1/jobs/{job_id}/results"]["get"]["responses"]["200"]["content"]
    )


def test_a_cancelled_job_calls_back_once(make_client, webhook_receiver) -> None:
    client, _ = make_client(jobs_webhook_secret="s3cret", jobs_webhook_allow=("127.0.0.1",))
    body = {"task": "summarize", "items": ITEMS, "callback_url": webhook_receiver.url}
    location = _submit(client, body).headers["Location"]
    client.delete(location)
    client.delete(location)  # already cancelled: no second callback
    webhook_receiver.wait_for(1)
    client.application.extensions["webhooks"].close()
    assert len(webhook_receiver.got) == 1
    assert json.loads(webhook_receiver.got[0][1])["job"]["status"] == "cancelled"


def test_a_job_of_unusable_items_only_is_failed_at_once(client_and_store) -> None:
    client, _ = client_and_store
    response = _submit(client, {"task": "summarize", "items": [{"text": ""}, 7]})
    assert response.status_code == 202
    assert response.get_json()["status"] == "failed"
    status = client.get(response.headers["Location"]).get_json()
    assert (status["status"], status["failed"], status["eta_s"]) == ("failed", 2, 0)


def test_an_upload_over_max_body_bytes_is_read_when_within_jobs_max_bytes(make_client) -> None:
    # Character limits make access control read the body before the view: still the upload's
    # own limit applies, not MAX_BODY_BYTES.
    client, store = make_client(max_body_bytes=100, rate_limit_chars=("1000000/hour",))
    data = b"\n".join(json.dumps({"text": f"Item {i} of the archive."}).encode() for i in range(20))
    assert len(data) > 100
    response = client.post(
        "/v1/jobs?task=summarize", data=data, content_type="application/x-ndjson"
    )
    assert response.status_code == 202, response.get_json()
    assert store.get(response.get_json()["id"]).total == 20
    assert _submit(client).status_code == 413  # a JSON body keeps MAX_BODY_BYTES
