"""Jobs under real faults: gunicorn serving the tiny models with the SQLite store, the job made
directly in the same file (no HTTP API needed), its worker process killed or stopped mid-job.

- `kill -9` of gunicorn's worker: gunicorn starts a fresh one, which runs what was waiting and,
  once their (short) leases expire, the items the dead one held; every item is written once.
- SIGTERM: the worker claims nothing more, lets its running items finish and hands every other
  claim back at once (the lease here is 10 minutes, so nothing else could free them in time);
  a restarted server completes the job, again with every item once.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from harness.server import Server, worker_pid
from service.jobs.sqlite_store import SqliteJobStore
from service.jobs.store import DONE, FINISHED, Item, Job, JobSpec, Outcome

SENTENCES = [
    "The council approved the new bridge on Tuesday after a long debate.",
    "Farmers fear the drought will ruin the harvest in the southern valleys.",
    "The museum reopened after a long renovation that cost millions.",
]
SPEC = JobSpec(task="translate", options={"target": "fr", "num_beams": 2})


def _items(n: int) -> list[Item]:
    return [Item(f"item-{i}", f"Report {i}. " + " ".join(SENTENCES)) for i in range(n)]


def _env(path: Path, lease_s: str) -> dict[str, str]:
    return {
        "JOBS_STORE": f"sqlite:///{path}",
        "JOBS_LEASE_S": lease_s,
        "JOBS_WORKER_ITEMS": "4",
        "CACHE": "false",
    }


def _all_outcomes(store: SqliteJobStore, job_id: str) -> list[Outcome]:
    outcomes, cursor = [], ""
    while True:
        page = store.results(job_id, cursor, limit=50)
        if not page.outcomes:
            return outcomes
        outcomes += page.outcomes
        cursor = page.cursor


def _wait(check: Callable[[], bool], timeout: float, what: str) -> None:
    until = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < until, what
        time.sleep(0.05)


def _written(store: SqliteJobStore, job_id: str) -> int:
    job = store.get(job_id)
    assert job is not None
    return job.done + job.failed


def _finished(store: SqliteJobStore, job_id: str, timeout: float = 240) -> Job:
    _wait(
        lambda: (job := store.get(job_id)) is not None and job.status in FINISHED,
        timeout,
        f"job never finished: {store.get(job_id)}",
    )
    job = store.get(job_id)
    assert job is not None
    return job


def _assert_every_item_once(store: SqliteJobStore, job: Job, n: int) -> None:
    assert (job.status, job.total, job.done, job.failed) == (DONE, n, n, 0)
    outcomes = _all_outcomes(store, job.id)
    ids = [o.item_id for o in outcomes]
    assert len(ids) == len(set(ids)) == n
    assert set(ids) == {f"item-{i}" for i in range(n)}
    assert all(o.error is None and o.result["translation"] for o in outcomes)


def test_a_killed_worker_is_replaced_and_the_job_completes_with_every_item_once(
    start_server, tmp_path: Path
) -> None:
    path = tmp_path / "jobs.db"
    server: Server = start_server(_env(path, "5"))
    store = SqliteJobStore(path)
    n = 120
    job = store.create(SPEC, _items(n))
    _wait(lambda: _written(store, job.id) >= 4, 120, "the job never started")
    first = worker_pid(server.process.pid)
    assert first is not None
    os.kill(first, signal.SIGKILL)
    assert _written(store, job.id) < n, "the job ended before the kill; make it longer"
    _wait(
        lambda: worker_pid(server.process.pid) not in (None, first),
        60,
        "gunicorn did not start a new worker",
    )
    _assert_every_item_once(store, _finished(store, job.id), n)
    assert server.process.poll() is None
    store.close()


def test_sigterm_hands_back_what_it_holds_and_a_restart_completes_the_job(
    start_server, tmp_path: Path
) -> None:
    path = tmp_path / "jobs.db"
    env = _env(path, "600")
    server: Server = start_server(env)
    store = SqliteJobStore(path)
    n = 120
    job = store.create(SPEC, _items(n))
    _wait(lambda: _written(store, job.id) >= 4, 120, "the job never started")
    assert server.stop() == 0, server.output()
    written = _written(store, job.id)
    assert written < n, "the job ended before SIGTERM; make it longer"
    # Nothing is left leased: every item without an outcome can be claimed at once.
    probe = store.claim("probe", n, 0.0)
    assert len(probe) == n - written
    restarted: Server = start_server(env)
    _assert_every_item_once(store, _finished(store, job.id), n)
    assert restarted.process.poll() is None
    store.close()
