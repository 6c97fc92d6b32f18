"""The jobs' worker on the tiny models and a real SQLite store: items run through the same
operations as requests, with results shaped as `/v1` answers them, errors per item, the store's
faults outlived, and `on_finished` told when a job completes."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from service.core.config import Settings
from service.http.app import create_app
from service.inference.engine import Engine
from service.jobs.runner import JobRunner
from service.jobs.sqlite_store import SqliteJobStore
from service.jobs.store import DONE, FINISHED, Item, ItemError, Job, JobSpec, JobStore, Outcome
from service.text.language import LanguageDetector
from tests.conftest import Faults

TEXTS = [
    "The council approved the new bridge on Tuesday.",
    "Farmers fear the drought will ruin the harvest.",
    "The museum reopened after a long renovation.",
]
QUICK = {"max_length": 16, "num_beams": 1}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteJobStore]:
    opened = SqliteJobStore(tmp_path / "jobs.db")
    yield opened
    opened.close()


@pytest.fixture
def run_jobs(engine: Engine, demo_settings: Settings) -> Iterator[Callable[[JobStore], JobRunner]]:
    """run_jobs(store) -> a started runner on the shared engine, stopped after the test."""
    runners: list[JobRunner] = []

    def start(store: JobStore) -> JobRunner:
        settings = demo_settings.replace(jobs_worker_items=4, jobs_lease_s=60.0)
        runner = JobRunner(store, engine, settings, detector=LanguageDetector(), poll_s=0.05)
        runners.append(runner)
        return runner.start()

    yield start
    for runner in runners:
        runner.stop(timeout=30)


def wait_finished(store: JobStore, job_id: str, timeout: float = 120) -> Job:
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        job = store.get(job_id)
        if job is not None and job.status in FINISHED:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish: {store.get(job_id)}")


def results(store: JobStore, job_id: str) -> dict[str, Outcome]:
    return {o.item_id: o for o in store.results(job_id).outcomes}


def v1(engine: Engine, path: str, body: dict) -> dict:
    response = create_app(engine=engine).test_client().post(path, json=body)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


@pytest.mark.parametrize(
    ("task", "options", "path", "extra"),
    [
        ("translate", {"target": "fr", "num_beams": 1}, "/v1/translate", {}),
        ("summarize", QUICK, "/v1/summarize", {}),
        ("summarize", QUICK | {"style": "bullets"}, "/v1/summarize", {}),
        ("article", QUICK | {"translate_to": ["fr"]}, "/v1/articles", {}),
    ],
)
def test_each_item_gets_the_answer_v1_gives_for_its_text(
    engine: Engine, store: SqliteJobStore, run_jobs, task, options, path, extra
) -> None:
    job = store.create(
        JobSpec(task=task, options=options), [Item(f"n{i}", t) for i, t in enumerate(TEXTS)]
    )
    run_jobs(store)
    finished = wait_finished(store, job.id)
    assert (finished.status, finished.done, finished.failed) == (DONE, 3, 0)
    got = results(store, job.id)
    assert sorted(got) == ["n0", "n1", "n2"]
    for i, text in enumerate(TEXTS):
        assert got[f"n{i}"].result == v1(engine, path, {"text": text, **options, **extra})


def job_items(engine: Engine, outcome: str) -> float:
    """The engine's `service_job_items_total` for `outcome` (what /metrics shows)."""
    value = engine.metrics.registry.get_sample_value(
        "service_job_items_total", {"outcome": outcome}
    )
    return value or 0.0


def test_an_item_that_fails_is_its_own_error(
    engine: Engine, store: SqliteJobStore, run_jobs
) -> None:
    before = {outcome: job_items(engine, outcome) for outcome in ("done", "failed")}
    bad_line = ItemError("invalid_request", "line 3: not JSON")
    items = [Item("ok", TEXTS[0]), Item("empty", "   "), Item("line-3", error=bad_line)]
    job = store.create(JobSpec(task="translate", options={"target": "fr"}), items)
    run_jobs(store)
    finished = wait_finished(store, job.id)
    assert (finished.status, finished.done, finished.failed) == (DONE, 1, 2)
    got = results(store, job.id)
    assert got["ok"].result["translation"]
    assert got["empty"].error is not None and got["empty"].error.code == "invalid_request"
    assert got["line-3"].error == bad_line
    # The runner counts what it ran: one result, one error (the bad line never reached it).
    until = time.monotonic() + 10
    while time.monotonic() < until and any(
        job_items(engine, outcome) < before[outcome] + 1 for outcome in before
    ):
        time.sleep(0.05)
    assert job_items(engine, "done") == before["done"] + 1
    assert job_items(engine, "failed") == before["failed"] + 1


@pytest.mark.parametrize(
    ("task", "options", "code"),
    [
        ("translate", {"target": "xx"}, "unsupported_language"),
        ("translate", {}, "invalid_request"),
        ("summarize", {"max_length": "long"}, "invalid_request"),
        ("article", {"translate_to": "fr"}, "invalid_request"),
        ("shout", {}, "invalid_request"),
    ],
)
def test_wrong_options_fail_every_item_not_the_worker(
    store: SqliteJobStore, run_jobs, task: str, options: dict, code: str
) -> None:
    job = store.create(JobSpec(task=task, options=options), [Item("a", TEXTS[0])])
    run_jobs(store)
    finished = wait_finished(store, job.id)
    assert finished.status == "failed"
    error = results(store, job.id)["a"].error
    assert error is not None and error.code == code


def test_on_finished_hears_of_each_completed_job_once(store: SqliteJobStore, run_jobs) -> None:
    heard: list[Job] = []
    runner = run_jobs(store)
    runner.on_finished.append(heard.append)
    spec = JobSpec(task="translate", options={"target": "ar", "num_beams": 1})
    jobs = [store.create(spec, [Item(str(i), t) for i, t in enumerate(TEXTS)]) for _ in range(2)]
    for job in jobs:
        wait_finished(store, job.id)
    until = time.monotonic() + 10
    while len(heard) < 2 and time.monotonic() < until:
        time.sleep(0.05)
    assert sorted(j.id for j in heard) == sorted(j.id for j in jobs)
    assert all(j.status == DONE and j.done == 3 for j in heard)


def test_the_worker_outlives_a_locked_store(engine: Engine, tmp_path: Path, run_jobs) -> None:
    """Another process holding the file's write lock makes every claim fail (StoreUnavailable);
    once it lets go, the worker claims and finishes the job."""
    store = SqliteJobStore(tmp_path / "jobs.db", busy_timeout_s=0.05)
    job = store.create(JobSpec(task="translate", options={"target": "fr"}), [Item("a", TEXTS[0])])
    blocker = sqlite3.connect(store.path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        run_jobs(store)
        threading.Event().wait(0.5)  # several claims fail meanwhile
        got = store.get(job.id)
        assert got is not None and got.status == "queued"
        # Requests are served meanwhile.
        reply = v1(engine, "/v1/translate", {"text": TEXTS[1], "target": "fr"})
        assert reply["translation"]
    except Exception:
        blocker.execute("ROLLBACK")
        raise
    blocker.execute("ROLLBACK")
    blocker.close()
    assert wait_finished(store, job.id).status == DONE


def test_a_cancelled_job_runs_no_more_items(store: SqliteJobStore, run_jobs) -> None:
    job = store.create(JobSpec(task="translate", options={"target": "fr"}), [Item("a", TEXTS[0])])
    store.cancel(job.id)
    runner = run_jobs(store)
    threading.Event().wait(0.3)
    runner.stop(timeout=10)
    assert store.results(job.id).outcomes == []


def test_the_worker_purges_jobs_past_their_retention(
    engine: Engine, demo_settings: Settings, store: SqliteJobStore
) -> None:
    old = store.create(JobSpec(task="translate", options={"target": "fr"}), [])
    assert old.status == DONE
    settings = demo_settings.replace(jobs_retention_s=0.001)
    runner = JobRunner(store, engine, settings, poll_s=0.05).start()
    try:
        until = time.monotonic() + 30
        while store.get(old.id) is not None and time.monotonic() < until:
            time.sleep(0.05)
    finally:
        runner.stop(timeout=10)
    assert store.get(old.id) is None


def test_stop_hands_back_an_item_still_running_when_its_time_is_up(
    make_engine, store: SqliteJobStore, demo_settings: Settings
) -> None:
    """The model holds the item past `stop`'s timeout: the claim is handed back, so another
    worker can take it at once rather than after the (long) lease."""
    engine = make_engine()
    gate = Faults(engine, "en-fr")
    gate.hold("Hold the worker here.")
    spec = JobSpec(task="translate", options={"target": "fr", "num_beams": 1})
    job = store.create(spec, [Item("held", "Hold the worker here.")])
    settings = demo_settings.replace(jobs_worker_items=4, jobs_lease_s=600.0)
    runner = JobRunner(SqliteJobStore(store.path), engine, settings, poll_s=0.05).start()
    try:
        assert gate.entered.wait(30)
        assert store.claim("probe", 10, 600.0) == []  # leased to the runner
        runner.stop(timeout=0.2)
        taken = store.claim("probe", 10, 600.0)
        assert [(c.job_id, c.item_id) for c in taken] == [(job.id, "held")]
    finally:
        gate.remove()
