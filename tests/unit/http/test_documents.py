"""`/v1/documents` through the real app: uploads checked at once (bad files refused with the
format's 4xx, nothing queued or kept), then run by the app's own jobs' worker on the tiny demo
models and read back: status, events, the result file once, cancelling, owners. The
translations are meaningless; names, media types, structure and statuses are not."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from pathlib import Path

import docx
import pytest

from harness import documents, office
from service.core.config import Settings
from service.http import document_jobs
from service.http.app import create_app
from service.jobs.stores import open_store

KEY_A, KEY_B = "alice-key-0123456789", "bobby-key-0123456789"


def _app(engine, tmp_path: Path, *, start: bool = True, **changes):
    defaults = {"jobs_store": f"sqlite:///{tmp_path / 'jobs.db'}", "doc_max_bytes": 2_000_000}
    settings = engine.settings.replace(data_dir=str(tmp_path / "data"), **(defaults | changes))
    app = create_app(settings, engine=engine)
    if start:
        app.extensions["jobs"].start()
    return app


@pytest.fixture
def client(engine, tmp_path: Path) -> Iterator:
    app = _app(engine, tmp_path)
    yield app.test_client()
    app.extensions["jobs"].stop(timeout=30)


@pytest.fixture
def idle(engine, tmp_path: Path) -> Iterator:
    """An app whose worker does not run: documents stay queued."""
    app = _app(engine, tmp_path, start=False)
    yield app.test_client()
    app.extensions["jobs"].store.close()


def upload(client, name: str, data: bytes, **fields):
    form = {"file": (io.BytesIO(data), name), **fields}
    return client.post("/v1/documents", data=form, content_type="multipart/form-data")


def finished(client, location: str, timeout: float = 120, **kw) -> dict:
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        status = client.get(location, **kw).get_json()
        if status["status"] in ("done", "failed", "cancelled"):
            return status
        time.sleep(0.05)
    raise AssertionError(f"the document did not finish: {status}")


def stored(tmp_path: Path) -> list[Path]:
    root = tmp_path / "data" / "documents"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_a_docx_is_translated_in_the_background(client, tmp_path: Path) -> None:
    answer = upload(client, "report.docx", office.build_docx(), target="ar")
    assert answer.status_code == 202, answer.get_json()
    body = answer.get_json()
    location = answer.headers["Location"]
    assert location == f"/v1/documents/{body['id']}"
    assert body == {"id": body["id"], "status": "queued", "task": "translate", "format": "docx"}
    status = finished(client, location)
    assert (status["status"], status["total"], status["done"], status["eta_s"]) == (
        "done",
        1,
        1,
        0.0,
    )
    assert status["document"]["filename"] == "report.docx"
    assert status["result"]["filename"] == "report.ar.docx"
    assert status["result"]["source"] == "en" and "file" not in status["result"]
    download = client.get(f"{location}/result")
    assert download.status_code == 200
    assert download.mimetype == documents.OOXML + "wordprocessingml.document"
    assert "filename=report.ar.docx" in download.headers["Content-Disposition"]
    before = docx.Document(io.BytesIO(office.build_docx()))
    after = docx.Document(io.BytesIO(download.data))
    assert len(after.paragraphs) == len(before.paragraphs)
    assert len(after.tables) == len(before.tables)
    again = client.get(f"{location}/result")
    assert again.status_code == 404 and "downloaded already" in again.get_json()["error"]["message"]
    assert stored(tmp_path) == []  # the upload and the result are gone


def test_a_summary_is_a_markdown_file(client) -> None:
    answer = upload(
        client, "notes.txt", documents.TEXT.encode(), task="summarize", translate_to="fr,ar"
    )
    assert answer.status_code == 202, answer.get_json()
    location = answer.headers["Location"]
    status = finished(client, location)
    assert status["status"] == "done" and status["task"] == "summarize"
    assert set(status["result"]["translations"]) == {"fr", "ar"}
    download = client.get(f"{location}/result")
    assert "filename=notes.summary.md" in download.headers["Content-Disposition"]
    assert download.mimetype == "text/markdown"
    text = download.data.decode()
    assert text.startswith("# Summary of notes.txt\n\n" + status["result"]["summary"])
    assert "\n## French (fr)\n" in text and "\n## Arabic (ar)\n" in text


def test_progress_events_end_with_the_finished_status(client) -> None:
    answer = upload(client, "a.txt", b"The museum reopened after a long renovation.", target="fr")
    response = client.get(f"{answer.headers['Location']}/events")
    assert response.mimetype == "text/event-stream"
    frames = [f for f in response.data.decode().split("\n\n") if f.strip()]
    names = [f.split("\n")[0].removeprefix("event: ") for f in frames]
    assert names[-1] == "finished" and set(names[:-1]) <= {"progress"}
    final = json.loads(frames[-1].split("data: ", 1)[1])
    assert final["status"] == "done" and final["result"]["filename"] == "a.fr.txt"


def test_hostile_files_are_refused_at_upload_and_nothing_is_kept(idle, tmp_path: Path) -> None:
    for what, (name, data, status) in documents.hostile().items():
        answer = upload(idle, name, data, target="fr")
        assert answer.status_code == status, (what, answer.get_json())
        assert set(answer.get_json()["error"]) >= {"code", "message"}, what
    assert stored(tmp_path) == []
    store = open_store(f"sqlite:///{tmp_path / 'jobs.db'}")
    assert store.claim("probe", 10, 1) == []  # nothing was queued
    store.close()


def test_wrong_options_are_400(idle) -> None:
    data = b"The museum reopened."
    assert upload(idle, "a.txt", data).status_code == 400  # no target
    assert upload(idle, "a.txt", data, target="de").get_json()["error"]["code"] == (
        "unsupported_language"
    )
    assert upload(idle, "a.txt", data, target="fr", task="shout").status_code == 400
    assert upload(idle, "a.txt", data, target="fr", colour="red").status_code == 400
    no_file = idle.post("/v1/documents", data={"target": "fr"})
    assert no_file.status_code == 400 and no_file.get_json()["error"]["field"] == "file"


def test_the_result_is_not_ready_while_queued_and_a_cancel_drops_the_upload(
    idle, tmp_path: Path
) -> None:
    answer = upload(idle, "a.txt", b"The museum reopened.", target="fr")
    location = answer.headers["Location"]
    assert len(stored(tmp_path)) == 2  # the upload and its record
    early = idle.get(f"{location}/result")
    assert early.status_code == 409 and early.get_json()["error"]["code"] == "not_ready"
    cancelled = idle.delete(location)
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"
    assert stored(tmp_path) == []
    assert idle.get(f"{location}/result").status_code == 409


def test_a_document_job_is_not_a_v1_job_and_a_job_is_not_a_document(idle) -> None:
    answer = upload(idle, "a.txt", b"The museum reopened.", target="fr")
    assert idle.get(f"/v1/jobs/{answer.get_json()['id']}").status_code == 404
    job = idle.post(
        "/v1/jobs", json={"task": "translate", "target": "fr", "items": [{"text": "Hello."}]}
    )
    assert idle.get(f"/v1/documents/{job.get_json()['id']}").status_code == 404


def test_another_key_gets_404(engine, tmp_path: Path) -> None:
    keyed = Settings.from_env({"API_KEYS": f"{KEY_A},{KEY_B}"})
    app = _app(engine, tmp_path, start=False, api_keys=keyed.api_keys)
    client = app.test_client()
    assert upload(client, "a.txt", b"The museum reopened.", target="fr").status_code == 401
    a, b = {"X-API-Key": KEY_A}, {"X-API-Key": KEY_B}
    form = {"file": (io.BytesIO(b"The museum reopened."), "a.txt"), "target": "fr"}
    answer = client.post("/v1/documents", data=form, headers=a)
    assert answer.status_code == 202
    location = answer.headers["Location"]
    assert client.get(location, headers=a).status_code == 200
    for path in (location, f"{location}/result", f"{location}/events"):
        assert client.get(path, headers=b).status_code == 404, path
    assert client.delete(location, headers=b).status_code == 404
    app.extensions["jobs"].store.close()


def test_over_the_size_limit_is_413(engine, tmp_path: Path) -> None:
    app = _app(engine, tmp_path, start=False, doc_max_bytes=1000)
    client = app.test_client()
    assert upload(client, "a.txt", b"word " * 201, target="fr").status_code == 413
    assert upload(client, "a.txt", b"word " * 40_000, target="fr").status_code == 413
    assert stored(tmp_path) == []
    app.extensions["jobs"].store.close()


def test_a_running_translation_shows_its_segments_and_eta(engine, tmp_path: Path) -> None:
    """The worker is played here: the item claimed, its progress noted as a worker notes it."""
    app = _app(engine, tmp_path, start=False)
    client = app.test_client()
    answer = upload(client, "a.txt", b"The museum reopened.", target="fr")
    location = answer.headers["Location"]
    queued = client.get(location).get_json()
    assert queued["status"] == "queued" and "progress" not in queued and queued["eta_s"] is None
    store = app.extensions["jobs"].store
    (claim,) = store.claim("test-worker", 1, 60)
    upload_id = claim.text
    assert store.get(claim.job_id).spec.options["upload"] == upload_id
    app.extensions["documents"].note_progress(upload_id, 64, 256)
    running = client.get(location).get_json()
    assert running["status"] == "running"
    assert running["progress"] == {"segments_done": 64, "segments_total": 256}
    assert running["eta_s"] is not None and running["eta_s"] >= 0
    store.close()


def test_a_document_stream_tells_each_segment_progress_as_it_is_noted(
    engine, tmp_path: Path
) -> None:
    """Progress events follow the noted segments, not only the item counts (which stay 0 of 1
    until the end): a client sees the bar move between the 15 s heartbeats."""
    app = _app(engine, tmp_path, start=False)
    client = app.test_client()
    location = upload(client, "a.txt", b"The museum reopened.", target="fr").headers["Location"]
    store = app.extensions["jobs"].store
    (claim,) = store.claim("test-worker", 1, 60)
    app.extensions["documents"].note_progress(claim.text, 64, 256)
    chunks = iter(client.get(f"{location}/events", buffered=False).response)
    assert b'"segments_done": 64' in next(chunks)
    with app.app_context():
        job = store.get(claim.job_id)
        before = document_jobs.watched(job)
        app.extensions["documents"].note_progress(claim.text, 128, 256)
        assert document_jobs.watched(job) != before  # what the stream compares, poll to poll
    assert b'"segments_done": 128' in next(chunks)
    store.close()
