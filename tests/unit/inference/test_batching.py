"""The batch queue as pure machinery: a deterministic fake `run_batch`, no model."""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Hashable, Iterator
from typing import Any

import pytest

from service.core.errors import (
    GenerationFailed,
    InvalidRequest,
    ItemTimeout,
    ModelLoadError,
    ModelUnavailable,
    OutOfMemory,
    Overloaded,
)
from service.core.metrics import BatchRecord
from service.inference.batching import Batcher, Preempted, Ticket


class FakeOOM(Exception):
    """Stands in for torch.OutOfMemoryError."""


class FakeModel:
    """A `run_batch` that records every call and answers `fn(payload)` per item.

    `hold()` makes the next call block until `release()`, so a test can fill the queue while the
    worker is busy.
    """

    def __init__(self, fn: Callable[[Any], Any] = lambda p: p * 10) -> None:
        self.fn = fn
        self.calls: list[tuple[list[Any], Hashable]] = []
        self.entered = threading.Event()
        self._gate = threading.Event()
        self._gate.set()

    def __call__(self, payloads: list[Any], key: Hashable) -> list[Any]:
        self.calls.append((list(payloads), key))
        self.entered.set()
        assert self._gate.wait(10), "test never released the fake model"
        return [self.fn(p) for p in payloads]

    def hold(self) -> None:
        self.entered.clear()
        self._gate.clear()

    def release(self) -> None:
        self._gate.set()

    def ran(self) -> list[Any]:
        return [p for payloads, _ in self.calls for p in payloads]


@pytest.fixture
def make_batcher() -> Iterator[Callable[..., tuple[Batcher[Any, Any], FakeModel]]]:
    """Factory: make_batcher(fake=None, **batcher_kwargs) -> started (batcher, fake)."""
    made: list[tuple[Batcher[Any, Any], FakeModel]] = []

    def make(
        fake: FakeModel | None = None, *, start: bool = True, **kwargs: Any
    ) -> tuple[Batcher[Any, Any], FakeModel]:
        fake = fake or FakeModel()
        options: dict[str, Any] = {
            "max_batch_size": 64,
            "max_batch_tokens": 10_000,
            "max_wait_s": 0.02,
            "max_queue": 100,
        }
        options.update(kwargs)
        batcher: Batcher[Any, Any] = Batcher("fake", fake, **options)
        made.append((batcher, fake))
        if start:
            batcher.start()
            batcher.wait_ready(5)
        return batcher, fake

    yield make
    for batcher, fake in made:
        fake.release()
        batcher.close(timeout=5)
        assert not batcher._thread.is_alive(), "worker did not stop"


def occupy(batcher: Batcher[Any, Any], fake: FakeModel) -> Ticket[Any]:
    """Make the worker busy with a held batch of one item; returns that item's ticket."""
    fake.hold()
    ticket = batcher.submit(-1, cost=1, key="blocker", timeout_s=30)
    assert fake.entered.wait(5)
    return ticket


def submit(batcher: Batcher[Any, Any], payload: Any, *, key: Hashable = "k", cost: int = 1,
           timeout_s: float = 10) -> Ticket[Any]:  # fmt: skip
    return batcher.submit(payload, cost=cost, key=key, timeout_s=timeout_s)


def test_similar_lengths_batch_together_with_less_padding(make_batcher) -> None:
    records: list[BatchRecord] = []
    batcher, fake = make_batcher(max_batch_tokens=2000, on_batch=records.append)
    occupy(batcher, fake)
    tickets = [submit(batcher, i, cost=10 if i % 2 else 500) for i in range(16)]
    fake.release()
    assert [t.result() for t in tickets] == [i * 10 for i in range(16)]
    batches = [r for r in records if r.size > 1 or r.real_tokens != 1]
    # FIFO cutting would give four batches of 2 short + 2 long (49% padding each).
    assert sorted(r.size for r in batches) == [4, 4, 8]
    assert sum(r.padded_tokens - r.real_tokens for r in batches) == 0


# ----- batching and results ------------------------------------------------------------------


def test_concurrent_submitters_share_batches(make_batcher) -> None:
    records: list[BatchRecord] = []

    def slow(p: int) -> int:
        time.sleep(0.001)
        return p * 10

    batcher, fake = make_batcher(FakeModel(slow), max_wait_s=0.2, on_batch=records.append)
    n = 32
    start = threading.Barrier(n)
    results: dict[int, Any] = {}

    def caller(i: int) -> None:
        start.wait()
        results[i] = submit(batcher, i).result()

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert results == {i: i * 10 for i in range(n)}
    assert sum(r.size for r in records) == n
    assert all(r.ok for r in records)
    assert len(records) <= n // 4, [r.size for r in records]
    assert max(r.size for r in records) > 1


def test_results_reach_their_own_caller_whatever_the_order_in_the_batch(make_batcher) -> None:
    batcher, fake = make_batcher(FakeModel(lambda p: f"out-{p}"))
    occupy(batcher, fake)
    # Costs in descending order: the worker sorts a batch by cost, so it runs them reversed.
    tickets = {p: submit(batcher, p, cost=100 - p) for p in range(8)}
    fake.release()
    assert {p: t.result() for p, t in tickets.items()} == {p: f"out-{p}" for p in range(8)}
    ran_together = fake.calls[-1][0]
    assert sorted(ran_together) == list(range(8))
    assert ran_together != list(range(8)), "the batch was expected to run in cost order"
    assert len({t.batch_id for t in tickets.values()}) == 1


def test_different_keys_run_apart_and_keep_their_queue_order(make_batcher) -> None:
    batcher, fake = make_batcher()
    occupy(batcher, fake)
    order = [("a", 1), ("b", 2), ("a", 3), ("b", 4), ("a", 5)]
    tickets = [submit(batcher, p, key=k) for k, p in order]
    fake.release()
    assert [t.result() for t in tickets] == [10, 20, 30, 40, 50]
    after_blocker = fake.calls[1:]
    assert after_blocker == [([1, 3, 5], "a"), ([2, 4], "b")]


def test_token_budget_limits_batches(make_batcher) -> None:
    records: list[BatchRecord] = []
    batcher, fake = make_batcher(max_batch_tokens=10, on_batch=records.append)
    occupy(batcher, fake)
    tickets = [submit(batcher, p, cost=4) for p in range(6)]
    fake.release()
    assert [t.result() for t in tickets] == [p * 10 for p in range(6)]
    sizes = [r.size for r in records if r.padded_tokens != 1]  # skip the blocker
    assert sizes == [2, 2, 2]
    assert all(r.padded_tokens <= 10 for r in records)


def test_a_full_batch_does_not_wait_for_max_wait(make_batcher) -> None:
    batcher, fake = make_batcher(max_wait_s=30, max_batch_size=2)
    started = time.monotonic()
    tickets = [submit(batcher, 1), submit(batcher, 2)]
    assert [t.result() for t in tickets] == [10, 20]
    assert time.monotonic() - started < 5


def test_a_lone_item_waits_about_max_wait(make_batcher) -> None:
    """Alone, an item runs once `max_wait_s` has passed for company to arrive: not before (it
    would never batch), not much later (it would add latency for nothing)."""
    batcher, fake = make_batcher(max_wait_s=0.3)
    started = time.monotonic()
    assert submit(batcher, 7).result() == 70
    assert 0.3 <= time.monotonic() - started < 1.5
    assert fake.calls == [([7], "k")]


def test_items_arriving_within_max_wait_share_the_batch(make_batcher) -> None:
    batcher, _ = make_batcher(max_wait_s=0.5)
    first = submit(batcher, 1)
    time.sleep(0.05)
    second = submit(batcher, 2)
    assert (first.result(), second.result()) == (10, 20)
    assert first.batch_id == second.batch_id


# ----- failures ------------------------------------------------------------------------------


def test_wrong_result_count_fails_the_whole_batch(make_batcher) -> None:
    records: list[BatchRecord] = []

    class ShortModel(FakeModel):
        def __call__(self, payloads: list[Any], key: Hashable) -> list[Any]:
            results = super().__call__(payloads, key)
            return results[:-1] if "short" in payloads else results

    batcher, fake = make_batcher(ShortModel(lambda p: p), on_batch=records.append)
    occupy(batcher, fake)
    tickets = [submit(batcher, p) for p in ("x", "short", "y")]
    fake.release()
    for ticket in tickets:
        with pytest.raises(GenerationFailed):
            ticket.result()
    assert records[-1].size == 3 and not records[-1].ok
    # The worker still serves.
    assert submit(batcher, "z").result() == "z"


def test_an_exception_fails_only_its_batch_and_hides_its_text(make_batcher) -> None:
    def explode(p: str) -> str:
        if p == "boom":
            raise ValueError("internal detail /secret/path")
        return p.upper()

    batcher, fake = make_batcher(FakeModel(explode))
    occupy(batcher, fake)
    same_batch = [submit(batcher, p, key="bad") for p in ("boom", "ok")]
    other_batch = [submit(batcher, p, key="good") for p in ("fine", "well")]
    fake.release()
    for ticket in same_batch:
        with pytest.raises(GenerationFailed) as raised:
            ticket.result()
        assert "secret" not in raised.value.message
    assert [t.result() for t in other_batch] == ["FINE", "WELL"]
    assert submit(batcher, "later").result() == "LATER"
    assert batcher.restarts == 0


def test_a_service_error_from_run_batch_reaches_callers_unchanged(make_batcher) -> None:
    def refuse(p: str) -> str:
        raise InvalidRequest("bad input", field="text")

    batcher, _ = make_batcher(FakeModel(refuse))
    with pytest.raises(InvalidRequest) as raised:
        submit(batcher, "x").result()
    assert raised.value.field == "text"


class OOMModel(FakeModel):
    """Out of memory for any batch holding `poison`, or any batch above `capacity` items."""

    def __init__(self, poison: Any = None, capacity: int = 1_000) -> None:
        super().__init__()
        self.poison = poison
        self.capacity = capacity

    def __call__(self, payloads: list[Any], key: Hashable) -> list[Any]:
        results = super().__call__(payloads, key)
        if self.poison in payloads or len(payloads) > self.capacity:
            raise FakeOOM(f"{len(payloads)} items")
        return results


def test_out_of_memory_splits_down_to_the_one_item_that_fails(make_batcher) -> None:
    batcher, fake = make_batcher(OOMModel(poison=5), split_on=(FakeOOM,))
    occupy(batcher, fake)
    tickets = {p: submit(batcher, p) for p in range(8)}
    fake.release()
    with pytest.raises(OutOfMemory):
        tickets[5].result()
    assert {p: t.result() for p, t in tickets.items() if p != 5} == {
        p: p * 10 for p in range(8) if p != 5
    }
    sizes = [len(payloads) for payloads, key in fake.calls if key != "blocker"]
    # 8 -> 4 (ok) + 4 (poisoned) -> 2 (poisoned) + 2 (ok) -> 1 (ok) + 1 (poisoned).
    assert sizes == [8, 4, 4, 2, 1, 1, 2]
    assert [payloads for payloads, _ in fake.calls].count([5]) == 1


def test_out_of_memory_split_lets_every_item_succeed_when_halves_fit(make_batcher) -> None:
    records: list[BatchRecord] = []
    batcher, fake = make_batcher(OOMModel(capacity=2), split_on=(FakeOOM,), on_batch=records.append)
    occupy(batcher, fake)
    tickets = [submit(batcher, p) for p in range(8)]
    fake.release()
    assert [t.result() for t in tickets] == [p * 10 for p in range(8)]
    assert sorted(r.size for r in records if r.ok and r.size > 1) == [2, 2, 2, 2]


class _Activations:
    """Stands in for the tensors a failed generate leaves in its frames."""


class HoardingOOMModel(FakeModel):
    """Out of memory above one item, holding `_Activations` in the failing frame; records
    whether any such object was still alive when the next call came."""

    def __init__(self) -> None:
        super().__init__()
        self.held: list[weakref.ref[_Activations]] = []
        self.alive_at_call: list[bool] = []

    def __call__(self, payloads: list[Any], key: Hashable) -> list[Any]:
        self.alive_at_call.append(any(ref() is not None for ref in self.held))
        activations = _Activations()
        self.held.append(weakref.ref(activations))
        if len(payloads) > 1:
            raise FakeOOM(f"{len(payloads)} items")
        return super().__call__(payloads, key)


def test_out_of_memory_frees_the_failed_attempt_before_retrying(make_batcher) -> None:
    batcher, fake = make_batcher(HoardingOOMModel(), split_on=(FakeOOM,))
    occupy(batcher, fake)
    tickets = [submit(batcher, p) for p in range(4)]
    fake.release()
    assert [t.result() for t in tickets] == [0, 10, 20, 30]
    # The blocker, then 4 -> 2 + 2 -> 1 + 1 each: 8 calls, none with a failed attempt alive.
    assert fake.alive_at_call == [False] * 8


def test_out_of_memory_without_split_on_is_an_ordinary_failure(make_batcher) -> None:
    batcher, _ = make_batcher(OOMModel(poison=1))
    with pytest.raises(GenerationFailed):
        submit(batcher, 1).result()


def test_a_full_queue_refuses_at_once(make_batcher) -> None:
    batcher, fake = make_batcher(max_queue=2)
    occupy(batcher, fake)
    queued = [submit(batcher, 1), submit(batcher, 2)]
    started = time.monotonic()
    with pytest.raises(Overloaded):
        submit(batcher, 3)
    assert time.monotonic() - started < 0.5
    assert batcher.depth == 2
    fake.release()
    assert [t.result() for t in queued] == [10, 20]
    assert 3 not in fake.ran()


def test_a_waiting_submit_enters_when_the_worker_takes_items(make_batcher) -> None:
    batcher, fake = make_batcher(max_queue=2)
    occupy(batcher, fake)
    queued = [submit(batcher, 1), submit(batcher, 2)]
    entered: list[Ticket[Any]] = []
    waiter = threading.Thread(
        target=lambda: entered.append(batcher.submit(3, cost=1, key="k", timeout_s=10, wait=True))
    )
    waiter.start()
    time.sleep(0.1)
    assert not entered and batcher.depth == 2  # still waiting for room
    fake.release()
    waiter.join(5)
    assert [t.result() for t in [*queued, *entered]] == [10, 20, 30]


def test_work_waiting_for_room_gets_it_before_new_work(make_batcher) -> None:
    """The rest of an admitted request (waiting for room) goes ahead of a new request: when a
    slot frees up, a plain submit is refused even if it reaches the lock before the waiter."""
    batcher, fake = make_batcher(max_queue=1)
    occupy(batcher, fake)
    queued = submit(batcher, 0)
    admitted: list[Ticket[Any]] = []
    for n in range(1, 6):
        waiter = threading.Thread(
            target=lambda n=n: admitted.append(
                batcher.submit(n, cost=1, key="k", timeout_s=10, wait=True)
            )
        )
        waiter.start()
        deadline = time.monotonic() + 5
        while not batcher._waiting_for_room and time.monotonic() < deadline:
            time.sleep(0.001)
        queued.cancel()  # frees the one slot, waking the waiter
        with pytest.raises(Overloaded):
            submit(batcher, 100 + n)
        waiter.join(5)
        assert len(admitted) == n and batcher.depth == 1
        queued = admitted[-1]
    fake.release()
    assert queued.result() == 50
    assert not {101, 102, 103, 104, 105} & set(fake.ran())


def test_a_waiting_submit_times_out_at_its_deadline(make_batcher) -> None:
    batcher, fake = make_batcher(max_queue=1)
    occupy(batcher, fake)
    submit(batcher, 1)
    started = time.monotonic()
    with pytest.raises(ItemTimeout):
        batcher.submit(2, cost=1, key="k", timeout_s=0.2, wait=True)
    assert 0.2 <= time.monotonic() - started < 2
    assert batcher.depth == 1


def test_a_waiting_submit_is_refused_when_the_batcher_closes(make_batcher) -> None:
    batcher, fake = make_batcher(max_queue=1)
    occupy(batcher, fake)
    submit(batcher, 1)
    outcome: list[BaseException] = []

    def wait_for_room() -> None:
        try:
            batcher.submit(2, cost=1, key="k", timeout_s=30, wait=True)
        except ModelUnavailable as exc:
            outcome.append(exc)

    waiter = threading.Thread(target=wait_for_room)
    waiter.start()
    time.sleep(0.1)
    closer = threading.Thread(target=batcher.close)
    closer.start()
    waiter.join(5)
    assert not waiter.is_alive() and len(outcome) == 1
    fake.release()
    closer.join(5)


def test_a_timed_out_item_raises_and_frees_its_slot(make_batcher) -> None:
    batcher, fake = make_batcher(max_queue=1)
    occupy(batcher, fake)
    ticket = submit(batcher, 1, timeout_s=0.1)
    assert batcher.depth == 1
    with pytest.raises(ItemTimeout):
        ticket.result()
    assert batcher.depth == 0
    other = submit(batcher, 2)  # the slot is free again
    fake.release()
    assert other.result() == 20
    assert 1 not in fake.ran()


def test_expired_items_are_not_run(make_batcher) -> None:
    batcher, fake = make_batcher()
    occupy(batcher, fake)
    stale = submit(batcher, 1, timeout_s=0.05)
    fresh = submit(batcher, 2, timeout_s=10)
    time.sleep(0.15)
    fake.release()
    assert fresh.result() == 20
    assert 1 not in fake.ran()
    with pytest.raises(ItemTimeout):
        stale.result()


def test_cancel_withdraws_a_queued_item(make_batcher) -> None:
    batcher, fake = make_batcher()
    occupy(batcher, fake)
    withdrawn = submit(batcher, 1)
    kept = submit(batcher, 2)
    assert batcher.depth == 2
    withdrawn.cancel()
    assert batcher.depth == 1
    fake.release()
    assert kept.result() == 20
    assert 1 not in fake.ran()


def test_cancel_after_the_item_ran_keeps_its_result(make_batcher) -> None:
    batcher, _ = make_batcher()
    ticket = submit(batcher, 3)
    assert ticket.result() == 30
    ticket.cancel()
    assert ticket.result() == 30


# ----- lifecycle -----------------------------------------------------------------------------


def test_close_drains_queued_items_and_joins(make_batcher) -> None:
    batcher, fake = make_batcher(max_wait_s=30, max_batch_size=3)
    fake.hold()
    tickets = [submit(batcher, p) for p in range(5)]
    assert fake.entered.wait(5)  # the first 3 run; 2 wait to fill a batch for up to 30 s
    closer = threading.Thread(target=batcher.close)
    closer.start()
    deadline = time.monotonic() + 5
    while not batcher._closing and time.monotonic() < deadline:
        time.sleep(0.005)
    with pytest.raises(ModelUnavailable):
        submit(batcher, 99)
    started = time.monotonic()
    fake.release()
    closer.join(10)
    assert not closer.is_alive()
    # Draining does not wait max_wait for the last batch to fill.
    assert time.monotonic() - started < 5
    assert not batcher._thread.is_alive()
    assert [t.result() for t in tickets] == [p * 10 for p in range(5)]
    assert [len(payloads) for payloads, _ in fake.calls] == [3, 2]
    assert batcher.depth == 0


def test_setup_failure_surfaces_in_wait_ready_and_submit(make_batcher) -> None:
    proceed = threading.Event()

    def setup() -> None:
        proceed.wait(5)
        raise ModelLoadError("model for 'x': directory does not exist")

    batcher, fake = make_batcher(setup=setup, start=False)
    batcher.start()
    early = submit(batcher, 1)  # queued while the model loads
    proceed.set()
    with pytest.raises(ModelLoadError, match="does not exist"):
        batcher.wait_ready(5)
    assert not batcher.ready
    assert isinstance(batcher.setup_error, ModelLoadError)
    with pytest.raises(ModelUnavailable):
        early.result()
    with pytest.raises(ModelUnavailable):
        submit(batcher, 2)
    assert fake.calls == []


def test_wait_ready_times_out_while_setup_runs(make_batcher) -> None:
    proceed = threading.Event()
    batcher, _ = make_batcher(setup=lambda: proceed.wait(5), start=False)
    batcher.start()
    with pytest.raises(TimeoutError):
        batcher.wait_ready(0.05)
    assert not batcher.ready
    proceed.set()
    batcher.wait_ready(5)
    assert batcher.ready
    assert submit(batcher, 4).result() == 40


def test_a_bug_in_the_worker_loop_restarts_it(make_batcher, monkeypatch) -> None:
    batcher, _ = make_batcher()
    real_plan = batcher._plan
    failures = []

    def plan_once_broken() -> Any:
        if not failures:
            failures.append(1)
            raise RuntimeError("bug in the loop")
        return real_plan()

    monkeypatch.setattr(batcher, "_plan", plan_once_broken)
    assert submit(batcher, 6).result() == 60
    assert batcher.restarts == 1
    assert batcher.ready
    assert submit(batcher, 7).result() == 70


def test_a_failing_on_batch_callback_does_not_fail_items(make_batcher) -> None:
    def broken(record: BatchRecord) -> None:
        raise RuntimeError("metrics bug")

    batcher, _ = make_batcher(on_batch=broken)
    assert submit(batcher, 2).result() == 20
    assert batcher.restarts == 0


def test_batch_records_describe_the_batch(make_batcher) -> None:
    records: list[BatchRecord] = []
    batcher, fake = make_batcher(on_batch=records.append)
    occupy(batcher, fake)
    tickets = [submit(batcher, p, cost=c) for p, c in ((1, 3), (2, 5))]
    fake.release()
    for ticket in tickets:
        ticket.result()
    record = records[-1]
    assert (record.batcher, record.size, record.real_tokens, record.padded_tokens) == (
        "fake",
        2,
        8,
        10,
    )
    assert record.ok
    assert record.batch_id == tickets[0].batch_id


def test_a_loop_bug_while_running_a_batch_fails_that_batch_at_once(
    make_batcher, monkeypatch
) -> None:
    batcher, _ = make_batcher()
    real_execute = batcher._execute
    failures = []

    def execute_once_broken(items: Any) -> None:
        if not failures:
            failures.append(1)
            raise RuntimeError("bug while running a batch")
        real_execute(items)

    monkeypatch.setattr(batcher, "_execute", execute_once_broken)
    started = time.monotonic()
    with pytest.raises(GenerationFailed):
        submit(batcher, 6).result()
    assert time.monotonic() - started < 5, "the caller waited for its timeout"
    assert batcher.restarts == 1
    assert submit(batcher, 7).result() == 70


# ----- background (job) items ----------------------------------------------------------------


def test_interactive_items_go_before_older_background_ones(make_batcher) -> None:
    batcher, fake = make_batcher(max_batch_size=2)
    occupy(batcher, fake)
    jobs = [batcher.submit(p, cost=1, key="k", timeout_s=10, background=True) for p in (1, 2, 3)]
    requests = [submit(batcher, p) for p in (4, 5)]
    fake.release()
    assert [t.result() for t in requests] == [40, 50]
    assert [t.result() for t in jobs] == [10, 20, 30]
    batches = [payloads for payloads, key in fake.calls if key == "k"]
    assert batches[0] == [4, 5]
    assert sorted(p for batch in batches[1:] for p in batch) == [1, 2, 3]


def test_background_items_fill_the_room_requests_leave(make_batcher) -> None:
    batcher, fake = make_batcher(max_batch_size=3)
    occupy(batcher, fake)
    jobs = [batcher.submit(p, cost=1, key="k", timeout_s=10, background=True) for p in (1, 2, 3)]
    request = submit(batcher, 4)
    fake.release()
    assert request.result() == 40
    assert [t.result() for t in jobs] == [10, 20, 30]
    first = next(payloads for payloads, key in fake.calls if key == "k")
    assert sorted(first) == [1, 2, 4]


def test_background_items_never_get_a_request_refused(make_batcher) -> None:
    batcher, fake = make_batcher(max_queue=2, max_background=3)
    occupy(batcher, fake)
    jobs = [batcher.submit(p, cost=1, key="k", timeout_s=10, background=True) for p in (1, 2, 3)]
    requests = [submit(batcher, p) for p in (4, 5)]
    with pytest.raises(Overloaded):
        submit(batcher, 6)
    assert batcher.background_depth == 3
    fake.release()
    assert [t.result() for t in requests + jobs] == [40, 50, 10, 20, 30]


def test_background_items_wait_for_their_share_of_the_queue(make_batcher) -> None:
    batcher, fake = make_batcher(max_queue=10, max_background=2)
    occupy(batcher, fake)
    first = [batcher.submit(p, cost=1, key="k", timeout_s=10, background=True) for p in (1, 2)]
    third: list[Ticket[Any]] = []
    waiter = threading.Thread(
        target=lambda: third.append(
            batcher.submit(3, cost=1, key="k", timeout_s=10, background=True)
        )
    )
    waiter.start()
    waiter.join(0.2)
    assert waiter.is_alive() and batcher.background_depth == 2  # waiting for room, not refused
    request = submit(batcher, 4)  # a request still gets in at once
    fake.release()
    waiter.join(5)
    assert request.result() == 40
    assert [t.result() for t in first + third] == [10, 20, 30]


def test_a_background_item_times_out_waiting_for_room(make_batcher) -> None:
    batcher, fake = make_batcher(max_background=1)
    occupy(batcher, fake)
    batcher.submit(1, cost=1, key="k", timeout_s=10, background=True)
    with pytest.raises(ItemTimeout):
        batcher.submit(2, cost=1, key="k", timeout_s=0.05, background=True)


def test_a_batch_takes_at_most_max_background_batch_job_items(make_batcher) -> None:
    batcher, fake = make_batcher(max_batch_size=8, max_background_batch=2)
    occupy(batcher, fake)
    jobs = [batcher.submit(p, cost=1, key="k", timeout_s=10, background=True) for p in range(5)]
    fake.release()
    assert [t.result() for t in jobs] == [0, 10, 20, 30, 40]
    sizes = [len(payloads) for payloads, key in fake.calls if key == "k"]
    assert sizes == [2, 2, 1]


def test_a_job_batch_yields_to_a_request_and_runs_again(make_batcher) -> None:
    """A batch of background items stops once a request is queued (run_batch polls
    should_stop and raises Preempted); the request runs next, and the job's items run again
    after, each answered once."""
    calls: list[list[int]] = []
    started = threading.Event()
    holder: list[Batcher[Any, Any]] = []

    def run(payloads: list[int], key: Hashable) -> list[int]:
        calls.append(list(payloads))
        batcher = holder[0]
        if len(calls) == 1:  # the first batch is the job's: it runs until told to stop
            started.set()
            until = time.monotonic() + 10
            while not batcher.should_stop() and time.monotonic() < until:
                time.sleep(0.001)
            if batcher.preempted:
                raise Preempted()
        return [p * 10 for p in payloads]

    records: list[BatchRecord] = []
    batcher = Batcher("fake", run, max_batch_size=8, max_batch_tokens=100, max_wait_s=0.02,
                      max_queue=10, max_background_batch=1, on_batch=records.append)  # fmt: skip
    holder.append(batcher)
    batcher.start()
    try:
        jobs = [batcher.submit(p, cost=1, key="k", timeout_s=10, background=True) for p in (1, 2)]
        assert started.wait(5)
        request = submit(batcher, 3)
        assert request.result() == 30
        assert [t.result() for t in jobs] == [10, 20]
    finally:
        batcher.close(timeout=5)
    assert calls[0] == [1]
    assert calls[1] == [1, 3]  # the request heads the next batch; the job's item fills it
    assert sorted(p for call in calls[2:] for p in call) == [2]
    assert [r.outcome for r in records][:2] == ["preempted", "ok"]


def test_a_job_item_is_preempted_once_at_most(make_batcher) -> None:
    """A request that comes while the job's item runs again does not stop it a second time: a
    steady trickle of requests cannot keep a job from ever finishing a batch."""
    job_runs: list[threading.Event] = [threading.Event(), threading.Event()]
    holder: list[Batcher[Any, Any]] = []

    def run(payloads: list[int], key: Hashable) -> list[int]:
        batcher = holder[0]
        if payloads == [1]:  # the job's item, alone in its batch
            run_number = sum(event.is_set() for event in job_runs)
            job_runs[run_number].set()
            until = time.monotonic() + (10 if run_number == 0 else 0.5)
            while not batcher.should_stop() and time.monotonic() < until:
                time.sleep(0.001)
            if batcher.preempted:
                raise Preempted()
        return [p * 10 for p in payloads]

    records: list[BatchRecord] = []
    batcher = Batcher("fake", run, max_batch_size=1, max_batch_tokens=100, max_wait_s=0.02,
                      max_queue=10, on_batch=records.append)  # fmt: skip
    holder.append(batcher)
    batcher.start()
    try:
        job = batcher.submit(1, cost=1, key="k", timeout_s=10, background=True)
        assert job_runs[0].wait(5)
        assert submit(batcher, 3).result() == 30  # preempts the first run
        assert job_runs[1].wait(5)
        later = submit(batcher, 4)  # comes during the second run: waits for it
        assert job.result() == 10 and later.result() == 40
    finally:
        batcher.close(timeout=5)
    assert [r.outcome for r in records] == ["preempted", "ok", "ok", "ok"]


def test_a_request_batch_is_never_preempted(make_batcher) -> None:
    batcher, fake = make_batcher()
    occupy(batcher, fake)
    assert not batcher.should_stop()
    submit(batcher, 3)
    assert not batcher.should_stop() and not batcher.preempted
    fake.release()
