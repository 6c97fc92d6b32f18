"""Jobs that really run: submitted over the app, run by its jobs' worker on the tiny demo
models, read back over the app, and reported to a real callback server with a signature that
verifies."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.http.app import create_app
from service.jobs.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify

SECRET = "webhook-secret-of-the-desk"
TEXTS = [
    "The council approved the new bridge on Tuesday.",
    "Farmers fear the drought will ruin the harvest.",
    "The museum reopened after a long renovation.",
]


@pytest.fixture
def client(engine, tmp_path: Path) -> Iterator:
    settings = engine.settings.replace(
        jobs_store=f"sqlite:///{tmp_path / 'jobs.db'}",
        jobs_worker_items=4,
        jobs_webhook_secret=SECRET,
        jobs_webhook_allow=("127.0.0.1",),
    )
    app = create_app(settings, engine=engine)
    app.extensions["jobs"].start()
    yield app.test_client()
    app.extensions["jobs"].stop(timeout=30)
    app.extensions["webhooks"].close()


def _finished(client, location: str, timeout: float = 120) -> dict:
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        status = client.get(location).get_json()
        if status["status"] in ("done", "failed", "cancelled"):
            return status
        time.sleep(0.05)
    raise AssertionError(f"the job did not finish: {status}")


def test_a_translation_job_runs_to_the_end_and_calls_back(client, webhook_receiver) -> None:
    items = [{"id": f"t{i}", "text": text} for i, text in enumerate(TEXTS)]
    items.append({"id": "blank", "text": " "})
    body = {"task": "translate", "target": "fr", "items": items}
    response = client.post("/v1/jobs", json=body | {"callback_url": webhook_receiver.url})
    assert response.status_code == 202
    status = _finished(client, response.headers["Location"])
    assert (status["status"], status["done"], status["failed"]) == ("done", 3, 1)
    lines = client.get(f"{response.headers['Location']}/results").data.decode().splitlines()
    results = {line["id"]: line for line in map(json.loads, lines)}
    assert set(results) == {"t0", "t1", "t2", "blank"}
    for i in range(3):
        answer = results[f"t{i}"]["result"]
        assert answer["target"] == "fr" and isinstance(answer["translation"], str)
        # The same answer /v1/translate gives the same text (the models are deterministic).
        direct = client.post("/v1/translate", json={"text": TEXTS[i], "target": "fr"})
        assert answer["translation"] == direct.get_json()["translation"]
    assert results["blank"]["error"]["code"] == "invalid_request"
    webhook_receiver.wait_for(1)
    headers, sent = webhook_receiver.got[0]
    assert verify(
        SECRET, sent, headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER], now=time.time()
    )
    assert json.loads(sent)["job"] | {"eta_s": 0} == status | {"eta_s": 0}


def test_an_uploaded_summary_job_runs_to_the_end(client) -> None:
    data = "\n".join(json.dumps({"text": text}) for text in TEXTS).encode()
    response = client.post(
        "/v1/jobs?task=summarize&max_length=16&num_beams=1",
        data=data,
        content_type="application/x-ndjson",
    )
    assert response.status_code == 202
    status = _finished(client, response.headers["Location"])
    assert (status["status"], status["done"], status["total"]) == ("done", 3, 3)
    lines = client.get(f"{response.headers['Location']}/results").data.decode().splitlines()
    results = {line["id"]: line["result"] for line in map(json.loads, lines)}
    assert set(results) == {"0", "1", "2"}
    assert all(isinstance(result["summary"], str) for result in results.values())
