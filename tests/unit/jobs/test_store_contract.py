"""The job store contract (`service/jobs/store.py`), checked against every store.

Written against the contract only, never a store's internals, so another store joins by adding
its name to the `store` fixture's params (and an opener below).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.jobs.store import (
    CANCELLED,
    DONE,
    FAILED,
    QUEUED,
    RUNNING,
    Item,
    ItemError,
    JobSpec,
    JobStore,
    Outcome,
    TooManyJobs,
)
from service.jobs.stores import open_store

SPEC = JobSpec(task="translate", options={"target": "fr"}, owner="alice", callback_url=None)
LONG = 600.0
# Workers share one lease length (JOBS_LEASE_S), and Redis measures a lease's expiry by the
# claimer's (XAUTOCLAIM's minimum idle time): a dead worker's items are taken over after SHORT.
SHORT = 0.9


def _outlive_leases_of(short: float = SHORT) -> None:
    time.sleep(short + 0.1)


def _sqlite(tmp_path: Path) -> JobStore:
    return open_store(f"sqlite:///{tmp_path / 'jobs.db'}")


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobStore]:
    if request.param == "sqlite":
        opened = _sqlite(tmp_path)
    else:  # a redis-server of the test's own (skipped where Debian's redis-server is missing)
        opened = open_store(request.getfixturevalue("redis_server").url)
    yield opened
    opened.close()


def _items(n: int) -> list[Item]:
    return [Item(f"i{k}", text=f"text {k}") for k in range(n)]


def test_create_then_get_gives_the_job_back(store: JobStore) -> None:
    job = store.create(SPEC, _items(3))
    got = store.get(job.id)
    assert got == job
    assert (got.status, got.total, got.done, got.failed) == (QUEUED, 3, 0, 0)
    assert got.spec == SPEC
    assert got.started_at is None and got.finished_at is None
    assert store.get("no-such-job") is None


def test_claims_hand_out_each_item_once_in_order(store: JobStore) -> None:
    job = store.create(SPEC, _items(5))
    first = store.claim("w1", 3, LONG)
    second = store.claim("w2", 3, LONG)
    assert [c.item_id for c in first] == ["i0", "i1", "i2"]
    assert [c.item_id for c in second] == ["i3", "i4"]
    assert store.claim("w3", 3, LONG) == []
    assert first[0].text == "text 0" and first[0].spec == SPEC and first[0].job_id == job.id
    got = store.get(job.id)
    assert got is not None and got.status == RUNNING and got.started_at is not None


def test_older_jobs_are_claimed_first(store: JobStore) -> None:
    old = store.create(SPEC, _items(2))
    store.create(SPEC, _items(2))
    assert {c.job_id for c in store.claim("w", 2, LONG)} == {old.id}


def test_an_expired_lease_is_claimed_again(store: JobStore) -> None:
    store.create(SPEC, _items(2))
    dead = store.claim("dead", 2, SHORT)
    _outlive_leases_of()
    again = store.claim("alive", 5, SHORT)
    assert sorted(c.item_id for c in again) == sorted(c.item_id for c in dead)
    assert store.claim("third", 5, LONG) == []


def test_released_claims_are_claimable_at_once(store: JobStore) -> None:
    store.create(SPEC, _items(3))
    held = store.claim("w1", 3, LONG)
    store.release(held[1:])
    assert [c.item_id for c in store.claim("w2", 3, LONG)] == ["i1", "i2"]


def test_finish_writes_once_and_counts(store: JobStore) -> None:
    job = store.create(SPEC, _items(2))
    dead = store.claim("dead", 1, SHORT)[0]
    _outlive_leases_of()
    # The waiting item and the expired one, in an order each store chooses.
    (again,) = [c for c in store.claim("alive", 2, SHORT) if c.item_id == dead.item_id]
    assert store.finish(again, Outcome(again.item_id, result={"translation": "un"}))
    assert not store.finish(dead, Outcome(dead.item_id, result={"translation": "deux"}))
    got = store.get(job.id)
    assert got is not None and (got.done, got.failed, got.status) == (1, 0, RUNNING)
    page = store.results(job.id)
    assert page.outcomes == [Outcome("i0", result={"translation": "un"})]


def test_a_written_item_is_not_claimed_again(store: JobStore) -> None:
    store.create(SPEC, _items(1))
    claim = store.claim("w", 1, 0.0)[0]
    store.finish(claim, Outcome(claim.item_id, result=1))
    assert store.claim("w", 1, LONG) == []


def test_job_is_done_when_every_item_has_an_outcome(store: JobStore) -> None:
    job = store.create(SPEC, _items(2))
    a, b = store.claim("w", 2, LONG)
    store.finish(a, Outcome(a.item_id, result="x"))
    store.finish(b, Outcome(b.item_id, error=ItemError("invalid_request", "empty")))
    got = store.get(job.id)
    assert got is not None
    assert (got.status, got.done, got.failed) == (DONE, 1, 1)
    assert got.finished_at is not None


def test_job_failed_when_every_item_failed(store: JobStore) -> None:
    job = store.create(SPEC, _items(2))
    for claim in store.claim("w", 2, LONG):
        store.finish(claim, Outcome(claim.item_id, error=ItemError("item_timeout", "late")))
    got = store.get(job.id)
    assert got is not None and got.status == FAILED and got.failed == 2


def test_cancel_drops_unclaimed_items_but_keeps_claimed_outcomes(store: JobStore) -> None:
    job = store.create(SPEC, _items(3))
    (held,) = store.claim("w", 1, LONG)
    cancelled = store.cancel(job.id)
    assert cancelled is not None and cancelled.status == CANCELLED
    assert store.claim("w", 5, 0.0) == []
    assert store.finish(held, Outcome(held.item_id, result="late"))
    got = store.get(job.id)
    assert got is not None and got.status == CANCELLED and got.done == 1
    assert [o.item_id for o in store.results(job.id).outcomes] == ["i0"]
    assert store.cancel("no-such-job") is None


def test_cancel_leaves_a_finished_job_alone(store: JobStore) -> None:
    job = store.create(SPEC, _items(1))
    (claim,) = store.claim("w", 1, LONG)
    store.finish(claim, Outcome(claim.item_id, result="x"))
    got = store.cancel(job.id)
    assert got is not None and got.status == DONE


def test_results_page_in_writing_order_while_running(store: JobStore) -> None:
    job = store.create(SPEC, _items(5))
    claims = sorted(store.claim("w", 5, LONG), key=lambda c: c.item_id)
    for claim in (claims[3], claims[0], claims[4]):
        store.finish(claim, Outcome(claim.item_id, result=claim.item_id))
    first = store.results(job.id, "", limit=2)
    assert [o.item_id for o in first.outcomes] == ["i3", "i0"]
    second = store.results(job.id, first.cursor, limit=2)
    assert [o.item_id for o in second.outcomes] == ["i4"]
    empty = store.results(job.id, second.cursor)
    assert empty.outcomes == []
    for claim in (claims[2], claims[1]):
        store.finish(claim, Outcome(claim.item_id, result=claim.item_id))
    rest = store.results(job.id, empty.cursor)
    assert [o.item_id for o in rest.outcomes] == ["i2", "i1"]
    assert [o.result for o in rest.outcomes] == ["i2", "i1"]


def test_results_are_per_job(store: JobStore) -> None:
    one = store.create(SPEC, _items(1))
    two = store.create(SPEC, _items(1))
    for claim in store.claim("w", 2, LONG):
        store.finish(claim, Outcome(claim.item_id, result=claim.job_id))
    assert [o.result for o in store.results(one.id).outcomes] == [one.id]
    assert [o.result for o in store.results(two.id).outcomes] == [two.id]


def test_too_many_jobs_per_owner(store: JobStore) -> None:
    store.create(SPEC, _items(1), max_in_flight=2)
    store.create(SPEC, _items(1), max_in_flight=2)
    with pytest.raises(TooManyJobs):
        store.create(SPEC, _items(1), max_in_flight=2)
    other = JobSpec(task="translate", options={}, owner="bob")
    assert store.create(other, _items(1), max_in_flight=2).spec.owner == "bob"


def test_finished_jobs_do_not_count_towards_the_limit(store: JobStore) -> None:
    job = store.create(SPEC, _items(1), max_in_flight=1)
    store.cancel(job.id)
    assert store.create(SPEC, _items(1), max_in_flight=1).status == QUEUED


def test_purge_deletes_jobs_finished_before(store: JobStore) -> None:
    old = store.create(SPEC, _items(1))
    (claim,) = store.claim("w", 1, LONG)
    store.finish(claim, Outcome(claim.item_id, result="x"))
    running = store.create(SPEC, _items(2))
    store.claim("w", 1, LONG)
    finished = store.get(old.id)
    assert finished is not None and finished.finished_at is not None
    assert store.purge(finished.finished_at) == 0
    assert store.purge(finished.finished_at + 1) == 1
    assert store.get(old.id) is None
    assert store.results(old.id).outcomes == []
    assert store.get(running.id) is not None


def test_items_with_upload_errors_are_failed_at_create(store: JobStore) -> None:
    bad = ItemError("invalid_request", "line 2 is not JSON")
    job = store.create(SPEC, [Item("a", text="ok"), Item("line-2", error=bad)])
    assert (job.total, job.done, job.failed) == (2, 0, 1)
    assert store.results(job.id).outcomes == [Outcome("line-2", error=bad)]
    assert [c.item_id for c in store.claim("w", 5, LONG)] == ["a"]


def test_a_job_of_only_bad_lines_is_failed_at_once(store: JobStore) -> None:
    bad = ItemError("invalid_request", "empty text")
    job = store.create(SPEC, [Item("a", error=bad)])
    assert job.status == FAILED and job.finished_at is not None
    assert store.claim("w", 5, LONG) == []


def test_a_job_id_given_again_returns_that_job_and_creates_nothing(store: JobStore) -> None:
    first = store.create(SPEC, _items(2), job_id="retried-submit")
    # A retry: other items, and the owner at its limit of jobs in flight (this one).
    again = store.create(SPEC, _items(5), max_in_flight=1, job_id="retried-submit")
    assert first.id == "retried-submit" and again == first
    assert sorted(c.item_id for c in store.claim("w", 10, LONG)) == ["i0", "i1"]
    other = store.create(SPEC, _items(1))
    assert other.id not in (first.id, "")
