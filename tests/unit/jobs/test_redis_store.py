"""The Redis job store against a real redis-server: the whole store contract, two stores (two
replicas) sharing one Redis, and Redis killed mid-job and started again from its AOF."""

from __future__ import annotations

import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from harness.redis import RedisServer
from service.jobs.redis_store import RedisJobStore
from service.jobs.store import (
    CANCELLED,
    DONE,
    FAILED,
    QUEUED,
    RUNNING,
    Claim,
    Item,
    ItemError,
    JobSpec,
    Outcome,
    StoreUnavailable,
    TooManyJobs,
)

SPEC = JobSpec(task="translate", options={"target": "fr"}, owner="key-1")
LONG = 60.0  # a lease that holds for the whole test


def _items(n: int) -> list[Item]:
    return [Item(f"i{k}", f"text {k}") for k in range(n)]


def _ok(claim: Claim) -> Outcome:
    return Outcome(claim.item_id, result={"translation": claim.text.upper()})


def _wait_past(claims: list[Claim]) -> None:
    """Sleep until every lease in `claims` is over: Redis counts it from its delivery, a little
    after `lease_until` was reckoned, hence the margin."""
    time.sleep(max(0.0, max(c.lease_until for c in claims) - time.time()) + 0.25)


def _status(store: RedisJobStore, job_id: str) -> str:
    job = store.get(job_id)
    assert job is not None
    return job.status


@pytest.fixture
def open_store(redis_server: RedisServer) -> Iterator[Callable[[], RedisJobStore]]:
    """Stores on the test's Redis, each with a client of its own (one per "replica")."""
    opened: list[RedisJobStore] = []

    def open_one() -> RedisJobStore:
        opened.append(RedisJobStore.from_url(redis_server.url, timeout_s=1.0))
        return opened[-1]

    yield open_one
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store: Callable[[], RedisJobStore]) -> RedisJobStore:
    return open_store()


# -- create, get -------------------------------------------------------------------------------


def test_a_created_job_reads_back_whole_and_an_unknown_one_is_none(store: RedisJobStore) -> None:
    spec = JobSpec(
        task="summarize", options={"max_words": 40}, owner=None, callback_url="http://h/cb"
    )
    job = store.create(spec, _items(3))
    assert (job.status, job.total, job.done, job.failed) == (QUEUED, 3, 0, 0)
    assert job.started_at is None and job.finished_at is None
    assert store.get(job.id) == job
    assert store.get("no-such-job") is None
    assert store.create(spec, _items(1)).id != job.id


def test_items_with_upload_errors_are_failed_outcomes_from_the_start(
    store: RedisJobStore,
) -> None:
    bad = Item("b", error=ItemError("invalid_line", "not JSON"))
    job = store.create(SPEC, [Item("a", "hello"), bad])
    assert (job.total, job.done, job.failed) == (2, 0, 1)
    assert store.results(job.id).outcomes == [Outcome("b", error=bad.error)]
    assert [c.item_id for c in store.claim("w", 10, LONG)] == ["a"]

    all_bad = store.create(SPEC, [bad])
    assert (all_bad.status, all_bad.failed) == (FAILED, 1)
    assert all_bad.finished_at is not None


# -- claim, leases, release --------------------------------------------------------------------


def test_claim_hands_out_oldest_job_first_and_marks_each_job_running(
    store: RedisJobStore,
) -> None:
    first = store.create(SPEC, _items(2))
    second = store.create(SPEC, _items(2))
    claims = store.claim("w", 3, LONG)
    assert [(c.job_id, c.item_id) for c in claims] == [
        (first.id, "i0"),
        (first.id, "i1"),
        (second.id, "i0"),
    ]
    assert [c.text for c in claims] == ["text 0", "text 1", "text 0"]
    assert all(c.spec == SPEC and c.lease_until > time.time() for c in claims)
    assert len({c.token for c in claims}) == 3
    for job_id in (first.id, second.id):
        job = store.get(job_id)
        assert job is not None and job.status == RUNNING and job.started_at is not None
    assert store.claim("w", 0, LONG) == []


def test_nothing_is_handed_out_twice_while_its_lease_holds(
    open_store: Callable[[], RedisJobStore],
) -> None:
    one, two = open_store(), open_store()
    job = one.create(SPEC, _items(3))
    held = one.claim("one", 2, LONG)
    rest = two.claim("two", 10, LONG)
    assert [c.item_id for c in held] == ["i0", "i1"]
    assert [c.item_id for c in rest] == ["i2"]
    assert two.claim("two", 10, LONG) == [] and one.claim("one", 10, LONG) == []
    assert _status(one, job.id) == RUNNING


def test_an_expired_lease_goes_to_another_worker(store: RedisJobStore) -> None:
    store.create(SPEC, _items(2))
    lost = store.claim("dead", 2, 0.2)
    _wait_past(lost)
    taken = store.claim("alive", 5, 0.2)
    assert [c.item_id for c in taken] == ["i0", "i1"]
    assert {c.token for c in taken}.isdisjoint(c.token for c in lost)


def test_released_items_are_claimable_at_once(store: RedisJobStore) -> None:
    store.create(SPEC, _items(3))
    claims = store.claim("stopping", 3, LONG)
    store.release(claims[1:])
    store.release([])
    assert [c.item_id for c in store.claim("other", 5, LONG)] == ["i1", "i2"]


def test_a_release_after_another_worker_took_over_leaves_that_lease_alone(
    store: RedisJobStore,
) -> None:
    store.create(SPEC, _items(1))
    stale = store.claim("slow", 1, 0.2)
    _wait_past(stale)
    assert len(store.claim("fast", 1, 0.2)) == 1
    store.release(stale)  # "slow" holds nothing now: "fast" keeps its lease
    assert store.claim("third", 1, LONG) == []


def test_a_released_item_that_was_finished_is_not_handed_out(store: RedisJobStore) -> None:
    store.create(SPEC, _items(1))
    [claim] = store.claim("w", 1, LONG)
    assert store.finish(claim, _ok(claim))
    store.release([claim])
    assert store.claim("w", 1, LONG) == []


# -- finish ------------------------------------------------------------------------------------


def test_an_outcome_is_written_once_and_counted_once(store: RedisJobStore) -> None:
    job = store.create(SPEC, _items(2))
    first = store.claim("slow", 2, 0.2)
    _wait_past(first)
    again = store.claim("fast", 2, 0.2)
    assert [c.item_id for c in again] == ["i0", "i1"]
    assert store.finish(again[0], _ok(again[0]))
    assert not store.finish(first[0], Outcome("i0", result="late"))
    assert store.finish(first[1], Outcome("i1", error=ItemError("too_long", "over the limit")))
    assert not store.finish(again[1], _ok(again[1]))
    after = store.get(job.id)
    assert after is not None and (after.done, after.failed) == (1, 1)
    assert [o.item_id for o in store.results(job.id).outcomes] == ["i0", "i1"]
    assert store.results(job.id).outcomes[0].result == {"translation": "TEXT 0"}


def test_a_job_is_done_when_every_item_has_an_outcome(store: RedisJobStore) -> None:
    job = store.create(SPEC, _items(2))
    claims = store.claim("w", 2, LONG)
    assert store.finish(claims[0], Outcome("i0", error=ItemError("x", "y")))
    assert _status(store, job.id) == RUNNING
    assert store.finish(claims[1], _ok(claims[1]))
    done = store.get(job.id)
    assert done is not None and done.status == DONE and done.finished_at is not None
    assert (done.done, done.failed) == (1, 1)


def test_a_job_whose_every_item_failed_is_failed(store: RedisJobStore) -> None:
    job = store.create(SPEC, _items(2))
    for claim in store.claim("w", 2, LONG):
        store.finish(claim, Outcome(claim.item_id, error=ItemError("item_timeout", "slow")))
    assert _status(store, job.id) == FAILED


# -- cancel --------------------------------------------------------------------------------------


def test_cancel_stops_unclaimed_items_and_lets_claimed_ones_finish(store: RedisJobStore) -> None:
    job = store.create(SPEC, _items(4))
    later = store.create(SPEC, _items(1))
    [running] = store.claim("w", 1, LONG)
    cancelled = store.cancel(job.id)
    assert cancelled is not None and cancelled.status == CANCELLED
    assert cancelled.finished_at is not None
    assert [(c.job_id, c.item_id) for c in store.claim("w", 10, LONG)] == [(later.id, "i0")]
    assert store.finish(running, _ok(running))
    after = store.get(job.id)
    assert after is not None and (after.status, after.done) == (CANCELLED, 1)
    assert [o.item_id for o in store.results(job.id).outcomes] == ["i0"]


def test_cancelling_a_finished_or_unknown_job_changes_nothing(store: RedisJobStore) -> None:
    job = store.create(SPEC, _items(1))
    [claim] = store.claim("w", 1, LONG)
    store.finish(claim, _ok(claim))
    finished = store.get(job.id)
    assert store.cancel(job.id) == finished
    assert store.cancel("no-such-job") is None


def test_a_cancelled_jobs_items_held_by_a_dead_worker_are_not_run_again(
    store: RedisJobStore,
) -> None:
    job = store.create(SPEC, _items(2))
    lost = store.claim("dead", 2, 0.2)
    store.cancel(job.id)
    _wait_past(lost)
    assert store.claim("alive", 5, 0.2) == []


def test_the_queue_keeps_only_items_that_wait_or_are_leased(
    store: RedisJobStore, redis_server: RedisServer
) -> None:
    raw = redis.Redis.from_url(redis_server.url)
    done = store.create(SPEC, _items(3))
    for claim in store.claim("w", 3, LONG):
        store.finish(claim, _ok(claim))
    cancelled = store.create(SPEC, _items(500))
    store.claim("w", 2, LONG)
    assert raw.xlen(store.keys.queue) == 500
    store.cancel(cancelled.id)
    assert raw.xlen(store.keys.queue) == 0
    assert _status(store, done.id) == DONE
    raw.close()


def test_items_read_just_before_their_job_was_cancelled_are_dropped(
    store: RedisJobStore, redis_server: RedisServer
) -> None:
    """The claim reads entries, then takes them in a script: a cancel in between (here its
    status alone, as if it landed between the two) wins."""
    raw = redis.Redis.from_url(redis_server.url)
    job = store.create(SPEC, _items(2))
    later = store.create(SPEC, _items(3))
    raw.hset(store.keys.job(job.id), "status", CANCELLED)
    taken = store.claim("w", 2, LONG)  # skips two, reads on
    assert [(c.job_id, c.item_id) for c in taken] == [(later.id, "i0"), (later.id, "i1")]
    assert raw.xlen(store.keys.queue) == 3
    raw.close()


def test_a_redis_that_lost_everything_gets_its_consumer_group_back(
    store: RedisJobStore, redis_server: RedisServer
) -> None:
    raw = redis.Redis.from_url(redis_server.url)
    old = store.create(SPEC, _items(1))
    [claim] = store.claim("w", 1, LONG)
    raw.flushall()  # a Redis restarted without persistence
    assert store.get(old.id) is None and not store.finish(claim, _ok(claim))
    job = store.create(SPEC, _items(1))
    assert [c.job_id for c in store.claim("w", 1, LONG)] == [job.id]
    raw.close()


# -- results -------------------------------------------------------------------------------------


def test_results_page_in_writing_order_while_the_job_runs(store: RedisJobStore) -> None:
    job = store.create(SPEC, _items(5))
    claims = store.claim("w", 5, LONG)
    for claim in reversed(claims[2:]):
        store.finish(claim, _ok(claim))
    page = store.results(job.id, limit=2)
    assert [o.item_id for o in page.outcomes] == ["i4", "i3"]
    rest = store.results(job.id, page.cursor)
    assert [o.item_id for o in rest.outcomes] == ["i2"]
    assert store.results(job.id, rest.cursor).outcomes == []
    assert store.results(job.id, rest.cursor).cursor == rest.cursor
    store.finish(claims[0], _ok(claims[0]))
    assert [o.item_id for o in store.results(job.id, rest.cursor).outcomes] == ["i0"]
    assert store.results("no-such-job").outcomes == []
    with pytest.raises(ValueError):
        store.results(job.id, "not-a-cursor")


# -- limits, purge -------------------------------------------------------------------------------


def test_too_many_jobs_counts_each_owners_unfinished_jobs(store: RedisJobStore) -> None:
    mine = JobSpec(task="translate", owner="a")
    first = store.create(mine, _items(1), max_in_flight=2)
    store.create(mine, _items(1), max_in_flight=2)
    with pytest.raises(TooManyJobs):
        store.create(mine, _items(1), max_in_flight=2)
    store.create(JobSpec(task="translate", owner="b"), _items(1), max_in_flight=2)
    store.create(JobSpec(task="translate"), _items(1), max_in_flight=1)
    with pytest.raises(TooManyJobs):
        store.create(JobSpec(task="translate"), _items(1), max_in_flight=1)
    store.create(mine, _items(1))  # no limit asked: always taken
    store.cancel(first.id)
    with pytest.raises(TooManyJobs):
        store.create(mine, _items(1), max_in_flight=2)
    [claim] = [c for c in store.claim("w", 10, LONG) if c.spec.owner == "a"][:1]
    store.finish(claim, _ok(claim))
    assert store.create(mine, _items(1), max_in_flight=2).status == QUEUED


def test_too_many_jobs_holds_under_concurrent_creates(
    open_store: Callable[[], RedisJobStore],
) -> None:
    stores = [open_store() for _ in range(4)]
    outcomes: list[str] = []

    def create(store: RedisJobStore) -> None:
        for _ in range(5):
            try:
                store.create(SPEC, _items(1), max_in_flight=3)
                outcomes.append("created")
            except TooManyJobs:
                outcomes.append("refused")

    threads = [threading.Thread(target=create, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Counter(outcomes) == {"created": 3, "refused": 17}


def test_purge_deletes_jobs_finished_before_the_time_and_nothing_else(
    store: RedisJobStore,
) -> None:
    old = store.create(SPEC, _items(1))
    [claim] = store.claim("w", 1, LONG)
    store.finish(claim, _ok(claim))
    cancelled = store.create(SPEC, _items(2))
    store.cancel(cancelled.id)
    running = store.create(SPEC, _items(1))
    assert store.purge(time.time() - 3600) == 0
    assert store.purge(time.time() + 1) == 2
    assert store.get(old.id) is None and store.get(cancelled.id) is None
    assert store.results(old.id).outcomes == []
    assert store.get(running.id) is not None
    assert [c.job_id for c in store.claim("w", 5, LONG)] == [running.id]
    assert store.purge(time.time() + 1) == 0


def test_stores_with_other_prefixes_share_a_redis_without_seeing_each_other(
    redis_server: RedisServer,
) -> None:
    one = RedisJobStore.from_url(redis_server.url, prefix="{one}")
    two = RedisJobStore.from_url(redis_server.url, prefix="{two}")
    job = one.create(SPEC, _items(1))
    assert two.get(job.id) is None and two.claim("w", 5, LONG) == []
    assert len(one.claim("w", 5, LONG)) == 1


# -- two replicas ----------------------------------------------------------------------------


def test_two_replicas_drain_one_job_with_no_item_run_twice(
    open_store: Callable[[], RedisJobStore],
) -> None:
    replicas = [open_store(), open_store()]
    job = replicas[0].create(SPEC, _items(60))
    claimed: list[tuple[str, str]] = []
    written: list[bool] = []
    both = threading.Barrier(2)

    def work(store: RedisJobStore, name: str) -> None:
        both.wait(10)
        while True:
            claims = store.claim(name, 4, LONG)
            if not claims:
                return
            for claim in claims:
                claimed.append((name, claim.item_id))
                time.sleep(0.005)  # the model's work, so that both replicas get some
                written.append(store.finish(claim, _ok(claim)))

    threads = [
        threading.Thread(target=work, args=(store, f"replica-{n}"))
        for n, store in enumerate(replicas)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    per_item = Counter(item for _, item in claimed)
    assert set(per_item) == {f"i{k}" for k in range(60)} and set(per_item.values()) == {1}
    assert all(written) and len({name for name, _ in claimed}) == 2
    assert _status(replicas[1], job.id) == DONE


def test_a_dead_replicas_items_are_taken_over_after_its_lease(
    open_store: Callable[[], RedisJobStore],
) -> None:
    dead, alive = open_store(), open_store()
    job = alive.create(SPEC, _items(6))
    lost = dead.claim("dead", 3, 2.0)
    dead.close()
    mine = alive.claim("alive", 10, 2.0)
    assert {c.item_id for c in mine}.isdisjoint(c.item_id for c in lost)
    for claim in mine:
        assert alive.finish(claim, _ok(claim))
    _wait_past(lost)
    taken = alive.claim("alive", 10, 2.0)
    assert sorted(c.item_id for c in taken) == sorted(c.item_id for c in lost)
    for claim in taken:
        assert alive.finish(claim, _ok(claim))
    items = [o.item_id for o in alive.results(job.id).outcomes]
    assert sorted(items) == [f"i{k}" for k in range(6)]
    assert _status(alive, job.id) == DONE


# -- Redis killed and started again --------------------------------------------------------------


@pytest.fixture
def persistent_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis writing every change to its AOF before answering, so a restart after a kill
    finds what it acknowledged."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    server = RedisServer(binary, tmp_path, persistent=True)
    server.start()
    yield server
    server.stop()


def _every_call_is_unavailable(store: RedisJobStore, job_id: str, claim: Claim) -> None:
    calls: list[Callable[[], object]] = [
        lambda: store.create(SPEC, _items(1)),
        lambda: store.get(job_id),
        lambda: store.claim("w", 1, LONG),
        lambda: store.finish(claim, _ok(claim)),
        lambda: store.release([claim]),
        lambda: store.cancel(job_id),
        lambda: store.results(job_id),
        lambda: store.purge(time.time()),
    ]
    for call in calls:
        with pytest.raises(StoreUnavailable):
            call()


def test_redis_killed_mid_job_then_restarted_resumes_with_each_item_once(
    persistent_redis: RedisServer,
) -> None:
    store = RedisJobStore.from_url(persistent_redis.url, timeout_s=0.5)
    other = RedisJobStore.from_url(persistent_redis.url, timeout_s=0.5)
    try:
        job = store.create(SPEC, _items(6))
        held = store.claim("w1", 3, 3.0)
        assert store.finish(held[0], _ok(held[0]))
        assert other.get(job.id) is not None  # a pooled connection, cut by the kill
        persistent_redis.kill()
        _every_call_is_unavailable(store, job.id, held[1])

        persistent_redis.start()
        assert store.finish(held[1], _ok(held[1]))  # w1's write, retried once Redis is back
        rest = other.claim("w2", 10, 3.0)  # held[2] stays leased to w1, which died
        assert [c.item_id for c in rest] == ["i3", "i4", "i5"]
        for claim in rest:
            assert other.finish(claim, _ok(claim))
        _wait_past([held[2]])
        [taken] = other.claim("w2", 10, 3.0)
        assert taken.item_id == "i2"
        assert other.finish(taken, _ok(taken))
        assert not store.finish(held[2], _ok(held[2]))
        items = [o.item_id for o in other.results(job.id).outcomes]
        assert sorted(items) == [f"i{k}" for k in range(6)]
        finished = other.get(job.id)
        assert finished is not None and (finished.status, finished.done) == (DONE, 6)
    finally:
        store.close()
        other.close()


def test_a_hung_redis_makes_every_call_unavailable_within_the_timeout(
    redis_server: RedisServer,
) -> None:
    store = RedisJobStore.from_url(redis_server.url, timeout_s=0.3)
    try:
        job = store.create(SPEC, _items(2))
        [claim] = store.claim("w1", 1, LONG)
        redis_server.pause()
        try:
            _every_call_is_unavailable(store, job.id, claim)
        finally:
            redis_server.resume()
        # What Redis read before it hung it runs now (the caller saw StoreUnavailable and
        # will retry): the outcome is written once whichever attempt lands first.
        store.finish(claim, _ok(claim))
        assert not store.finish(claim, _ok(claim))
        assert [o.item_id for o in store.results(job.id).outcomes] == ["i0"]
    finally:
        store.close()


def test_a_full_redis_refuses_a_job_whole_as_unavailable(
    store: RedisJobStore, redis_server: RedisServer
) -> None:
    raw = redis.Redis.from_url(redis_server.url)
    job = store.create(SPEC, _items(1))
    keys = raw.dbsize()
    raw.config_set("maxmemory-policy", "noeviction")
    raw.config_set("maxmemory", raw.info("memory")["used_memory"] // 2)
    with pytest.raises(StoreUnavailable):
        store.create(SPEC, _items(50))
    assert store.get(job.id) == job  # reads still work
    raw.config_set("maxmemory", 0)
    assert raw.dbsize() == keys and raw.xlen(store.keys.queue) == 1
    raw.close()
