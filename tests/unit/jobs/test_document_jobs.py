"""The document item's operation on the tiny models, with a real file store: the upload is read
and removed once the outcome is final, kept for a retry when the refusal is passing (the store
full for the result), and a missing upload is the item's `not_found`."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from service.core.errors import NotFound, StorageFull, UnsupportedMediaType
from service.documents.formats import DocumentLimits
from service.jobs.documents import DOCUMENT, UPLOAD, file_store_for, run_document, settle, submit
from service.jobs.files import FileStore
from service.jobs.redis_store import RedisJobStore
from service.jobs.runner import JobRunner
from service.jobs.sqlite_store import SqliteJobStore
from service.jobs.store import FINISHED, JobSpec, TooManyJobs
from service.tasks import TaskContext, TextLimits
from service.text.language import LanguageDetector

TEXT = b"The council approved the new bridge.\n\nFarmers fear the drought.\n"


@pytest.fixture
def ctx(engine) -> TaskContext:
    return TaskContext(engine, TextLimits(64, 100_000), LanguageDetector())


def _spec(**options) -> JobSpec:
    return JobSpec(
        task=DOCUMENT,
        options={"task": "translate", "target": "fr", "source": "en", **options},
        owner="alice",
    )


def _files(root: Path, max_bytes: int = 100_000) -> FileStore:
    return FileStore(root, max_bytes=max_bytes, retention_s=600)


def test_a_translation_stores_its_result_and_the_upload_goes_once_written(
    ctx, tmp_path: Path
) -> None:
    """The upload outlives the run until the outcome is written: a worker killed in between
    leaves the item to another, which finds the upload (a review found it deleted first)."""
    files = _files(tmp_path / "docs")
    upload = files.put("alice", "news.txt", TEXT, "text/plain")
    result = run_document(ctx, files, DocumentLimits(), _spec(filename="news.txt"), upload)
    assert result["filename"] == "news.fr.txt" and result["segments"] == 2
    assert files.read(upload, "alice") is not None  # a re-run would find it
    again = run_document(ctx, files, DocumentLimits(), _spec(filename="news.txt"), upload)
    settle(files, _spec(), upload, again, written=False)  # another worker's outcome won
    assert files.read(again["file"], "alice") is None and files.read(upload, "alice") is None
    settle(files, _spec(), upload, result, written=True)
    taken = files.take(result["file"], "alice")
    assert taken is not None and len(taken.data.decode().split("\n\n")) == 2


def test_a_missing_upload_is_not_found(ctx, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="DOC_RETENTION_S"):
        run_document(ctx, _files(tmp_path), DocumentLimits(), _spec(), "x" * 32)


def test_a_final_error_removes_the_upload_a_passing_one_keeps_it(ctx, tmp_path: Path) -> None:
    files = _files(tmp_path / "docs")
    upload = files.put("alice", "a.txt", b"\x89PNG\r\n\x1a\n" + bytes(64), "text/plain")
    with pytest.raises(UnsupportedMediaType):
        run_document(ctx, files, DocumentLimits(), _spec(filename="a.txt"), upload)
    assert files.read(upload, "alice") is None
    first = files.put("alice", "news.txt", TEXT, "text/plain")
    done = run_document(ctx, files, DocumentLimits(), _spec(filename="news.txt"), first)
    size = len(files.take(done["file"], "alice").data)
    # Room for the result alone, not beside its upload: a passing refusal.
    small = _files(tmp_path / "small", max_bytes=max(size, len(TEXT)) + len(TEXT) - 1)
    upload = small.put("alice", "news.txt", TEXT, "text/plain")
    with pytest.raises(StorageFull):  # no room for the result beside the upload
        run_document(ctx, small, DocumentLimits(), _spec(filename="news.txt"), upload)
    assert small.read(upload, "alice") is not None  # run again later


def test_submit_names_the_upload_and_keeps_nothing_when_the_job_fails(tmp_path: Path) -> None:
    files = _files(tmp_path / "docs")
    store = SqliteJobStore(tmp_path / "jobs.db")
    job = submit(store, files, _spec(), ("a.txt", TEXT, "text/plain"))
    (claim,) = store.claim("w", 1, 60)
    assert claim.text == job.spec.options[UPLOAD] and files.read(claim.text, "alice")
    with pytest.raises(TooManyJobs):  # the job is refused: its upload is not kept
        submit(store, files, _spec(), ("b.txt", TEXT, "text/plain"), max_in_flight=1)
    assert files.used_bytes() == len(TEXT)  # only the first upload
    store.close()


def test_a_document_job_runs_on_the_redis_store(engine, tmp_path: Path, redis_server) -> None:
    """The same job on the Redis store, run by the jobs' worker: the upload's id travels as the
    item's text, the options (with the upload's) as the job's."""
    settings = engine.settings.replace(data_dir=str(tmp_path / "data"))
    store = RedisJobStore.from_url(redis_server.url, timeout_s=1.0)
    files = file_store_for(settings)
    runner = JobRunner(
        store, engine, settings, detector=LanguageDetector(), poll_s=0.05, files=files
    ).start()
    try:
        job = submit(store, files, _spec(filename="news.txt"), ("news.txt", TEXT, "text/plain"))
        until = time.monotonic() + 60
        while (found := store.get(job.id)).status not in FINISHED:
            assert time.monotonic() < until, found
            time.sleep(0.05)
        assert (found.status, found.done) == ("done", 1)
        result = store.results(job.id).outcomes[0].result
        assert result["filename"] == "news.fr.txt"
        assert files.take(result["file"], "alice") is not None
        assert files.used_bytes() == 0  # the upload is gone too
    finally:
        runner.stop(timeout=30)
