"""Dynamic batching: one worker thread per model, callers wait on futures.

Contract (Ray Serve's, on threads because Flask views are synchronous):
- `submit` never blocks: it enqueues or raises `Overloaded` when `max_queue` items already wait.
  A `background` item (a job's) is counted apart: at most `max_background` of them wait, they
  never count against `max_queue` (a job cannot get a request refused), and a background
  submit always waits for room, as it has no client to answer 503 to. At most
  `max_background_batch` of them join one batch. A batch of background items only yields to a
  request: once one is queued, `should_stop()` turns true, and if `run_batch` then raises
  `Preempted`, its items go back to the head of the queue, to run again later (outputs do not
  depend on the batch, so a re-run gives what the first run would have). An item is preempted
  once at most: a batch holding one that was runs to its end, so a steady trickle of requests
  cannot starve a job.
  `submit(wait=True)` is for work already admitted (the rest of a request whose first items got
  in): it waits for room until the item's deadline instead of failing, and while anyone waits so,
  plain `submit` refuses new work, so admitted requests get the room first.
- The worker blocks for the first item, then fills the batch until `max_batch_size` items, the
  padded-token budget `max_batch_tokens`, or `max_wait_s` after the head item arrived, whichever
  comes first. Only items with the same `key` (for the engine: generation parameters and padded
  length) share a batch; the others keep their place in the queue. Behind the head (the oldest
  interactive item, else the oldest), items nearest its cost are taken first, so a batch pads
  little, interactive ones before background ones (these fill the room requests leave).
- `run_batch` gets a list and must return a list of the same length; otherwise every item of that
  batch fails. An exception fails the items of that batch only. An exception of a type in
  `split_on` (out of memory) splits the batch in halves and retries them, down to single items.
- An item that reaches its deadline before it runs is dropped (its caller gets `ItemTimeout`);
  a caller that gives up removes its item from the queue, freeing the slot at once. Once every
  item of the running batch is past its deadline or given up, `abandoned()` turns true, so
  `run_batch` can stop early instead of occupying the model for nobody.
- `close()` refuses new work, drains what is queued, and joins the worker.
- A BaseException that escapes a batch (SystemExit, KeyboardInterrupt) ends the worker for good:
  the items of that batch and of the queue fail with `ModelUnavailable` at once, `submit` refuses
  new ones, `fatal_error` holds the exception and `on_death` is called, so the process can be
  replaced instead of serving with a dead model.

The worker thread also runs `setup` before serving, so the model is loaded and used by one thread
only.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from service.core.errors import (
    GenerationFailed,
    ItemTimeout,
    ModelUnavailable,
    OutOfMemory,
    Overloaded,
    ServiceError,
)
from service.core.metrics import BatchRecord
from service.inference.batch_plan import BatchPlan, plan_batch

log = logging.getLogger(__name__)

P = TypeVar("P")
R = TypeVar("R")

_batch_ids = itertools.count(1)


@dataclass(eq=False)
class _Item(Generic[P, R]):
    payload: P
    cost: int
    key: Hashable
    deadline: float
    enqueued: float
    # Its real size for the metrics (`cost` may include padding); `cost` when not given.
    tokens: int | None = None
    future: Future[R] = field(default_factory=Future)
    batch_id: int | None = None
    # Its caller withdrew after the worker took it: nobody will read its result.
    abandoned: bool = False
    # A job's item: it waits behind interactive ones, in its own share of the queue.
    background: bool = False
    # A batch of it was stopped for a request once: the next runs to its end, so that a steady
    # trickle of requests cannot keep a job from ever finishing a batch.
    preempted: bool = False


class Preempted(Exception):
    """Raised by `run_batch` when it stopped a background batch because `should_stop()` said a
    request waits (`Batcher.preempted`): its items are queued again, not failed."""


class Ticket(Generic[R]):
    """A caller's handle on one submitted item."""

    def __init__(self, batcher: Batcher[P, R], item: _Item[P, R]) -> None:
        self._batcher = batcher
        self._item = item

    @property
    def batch_id(self) -> int | None:
        """Id of the batch the item ran in, once it has run."""
        return self._item.batch_id

    def cancel(self) -> None:
        """Give up on the item: take it out of the queue if it has not started."""
        self._batcher._withdraw(self._item)

    def result(self) -> R:
        """Wait for the item's result until its deadline.

        Raises ItemTimeout past the deadline (removing the item from the queue if it has not
        run), the item's ServiceError, or GenerationFailed for any other error, whose details go
        to the log, not to the caller.
        """
        item = self._item
        try:
            return item.future.result(timeout=max(0.0, item.deadline - time.monotonic()))
        except FutureTimeout:
            self._batcher._withdraw(item)
            raise ItemTimeout() from None
        except ServiceError:
            raise
        except Exception:
            raise GenerationFailed(
                f"the model failed on this input (batch {item.batch_id}); see the server log"
            ) from None


class Batcher(Generic[P, R]):
    """A bounded queue and the one worker thread that runs its batches."""

    def __init__(
        self,
        name: str,
        run_batch: Callable[[list[P], Hashable], list[R]],
        *,
        max_batch_size: int,
        max_batch_tokens: int,
        max_wait_s: float,
        max_queue: int,
        setup: Callable[[], None] | None = None,
        split_on: tuple[type[BaseException], ...] = (),
        on_batch: Callable[[BatchRecord], None] | None = None,
        on_death: Callable[[BaseException], None] | None = None,
        max_background: int | None = None,
        max_background_batch: int | None = None,
    ) -> None:
        self.name = name
        self._run_batch = run_batch
        self.max_batch_size = max_batch_size
        self.max_batch_tokens = max_batch_tokens
        self.max_wait_s = max_wait_s
        self.max_queue = max_queue
        self.max_background = max_queue if max_background is None else max_background
        self.max_background_batch = max_background_batch
        self._setup = setup
        self._split_on = split_on
        self._on_batch = on_batch
        self._on_death = on_death
        self._queue: deque[_Item[P, R]] = deque()
        lock = threading.Lock()
        self._cond = threading.Condition(lock)  # the worker waits here for items
        self._room = threading.Condition(lock)  # `submit(wait=True)` waits here for queue space
        self._closing = False
        self._ready = threading.Event()
        self._setup_error: BaseException | None = None
        self._fatal_error: BaseException | None = None
        self._running: list[_Item[P, R]] = []
        # The running batch is all background, and a request has come since it started.
        self._preemptible = False
        self._request_came = False
        self._preempted = False
        self._waiting_for_room = 0
        self._thread = threading.Thread(target=self._main, name=f"batcher-{name}", daemon=True)
        self.restarts = 0

    # ----- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker; it runs `setup` first. Returns at once."""
        self._thread.start()

    def wait_ready(self, timeout: float | None = None) -> None:
        """Block until setup finished. Re-raises the setup error; raises TimeoutError."""
        if not self._ready.wait(timeout) and self._setup_error is None:
            if not self._thread.is_alive():
                raise ModelUnavailable(f"{self.name}: worker stopped before it was ready")
            raise TimeoutError(f"{self.name} not ready after {timeout} s")
        if self._setup_error is not None:
            raise self._setup_error

    @property
    def ready(self) -> bool:
        """True while the worker has finished setup and is running."""
        return (
            self._ready.is_set()
            and self._setup_error is None
            and self._fatal_error is None
            and self._thread.is_alive()
        )

    @property
    def setup_error(self) -> BaseException | None:
        return self._setup_error

    @property
    def fatal_error(self) -> BaseException | None:
        """What ended the worker after it was serving, if something did."""
        return self._fatal_error

    @property
    def depth(self) -> int:
        """Items waiting (not counting the batch running now)."""
        return len(self._queue)

    @property
    def background_depth(self) -> int:
        """Background items waiting."""
        return sum(item.background for item in list(self._queue))

    def close(self, timeout: float | None = None) -> None:
        """Refuse new items, let the worker finish everything queued, then join it."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
            self._room.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)

    # ----- callers ---------------------------------------------------------------------------

    def submit(
        self,
        payload: P,
        *,
        cost: int,
        key: Hashable,
        timeout_s: float,
        wait: bool = False,
        tokens: int | None = None,
        background: bool = False,
    ) -> Ticket[R]:
        """Queue one item of `cost` (its padded size, for the batch budget; `tokens`, its real
        size for the metrics, defaults to it). Raises ModelUnavailable when the worker is
        closing, failed to load, or has stopped. When the queue is full, raises Overloaded, or
        with `wait` waits for room and raises ItemTimeout if none frees up within `timeout_s`.
        A `background` item always waits, for room among the `max_background`."""
        if timeout_s <= 0:
            raise ItemTimeout()
        now = time.monotonic()
        item: _Item[P, R] = _Item(
            payload,
            cost,
            key,
            deadline=now + timeout_s,
            enqueued=now,
            tokens=tokens,
            background=background,
        )
        wait = wait or background
        with self._cond:
            while True:
                if self._closing:
                    raise ModelUnavailable(f"{self.name} is shutting down")
                if (
                    self._setup_error is not None
                    or self._fatal_error is not None
                    or (self._thread.ident is not None and not self._thread.is_alive())
                ):
                    raise ModelUnavailable(f"{self.name} is not available")
                if self._has_room(background, wait):
                    break
                if not wait:
                    raise Overloaded(
                        f"{self.name} has {len(self._queue)} items queued; retry later"
                    )
                remaining = item.deadline - time.monotonic()
                if remaining <= 0:
                    raise ItemTimeout()
                waiters = 0 if background else 1  # a job waiting delays no request
                self._waiting_for_room += waiters
                try:
                    self._room.wait(remaining)
                finally:
                    self._waiting_for_room -= waiters
            item.enqueued = time.monotonic()
            self._queue.append(item)
            self._request_came = self._request_came or not background
            self._cond.notify()
        return Ticket(self, item)

    def _has_room(self, background: bool, wait: bool) -> bool:
        """Whether an item may join the queue now (the lock held): interactive ones count only
        interactive ones against `max_queue` and yield to admitted requests waiting for room;
        background ones count only background ones against `max_background`."""
        jobs = sum(item.background for item in self._queue)
        if background:
            return jobs < self.max_background
        return len(self._queue) - jobs < self.max_queue and (wait or not self._waiting_for_room)

    def _withdraw(self, item: _Item[P, R]) -> None:
        with self._cond:
            try:
                self._queue.remove(item)
            except ValueError:
                item.abandoned = True  # taken by the worker; its result will be dropped
                return
            self._room.notify_all()
        item.future.cancel()

    def abandoned(self) -> bool:
        """True while a batch runs whose every item is past its deadline or given up: no caller
        waits for its results. For `run_batch` to poll (from the worker thread) and stop early."""
        running = self._running
        now = time.monotonic()
        return bool(running) and all(item.abandoned or item.deadline <= now for item in running)

    def should_stop(self) -> bool:
        """For `run_batch` to poll while it runs (from the worker thread): true when nobody waits
        for the batch (`abandoned`), or when it is all background and a request has been queued
        since it started; then `preempted` is true too, and `run_batch` should raise Preempted
        instead of answering."""
        if self._preemptible and self._request_came:
            self._preempted = True
            return True
        return self.abandoned()

    @property
    def preempted(self) -> bool:
        """Whether `should_stop` stopped the running batch for a request (see there)."""
        return self._preempted

    # ----- worker ----------------------------------------------------------------------------

    def _main(self) -> None:
        try:
            if self._setup is not None:
                self._setup()
        except BaseException as exc:  # reported through wait_ready and /readyz
            log.error("%s: setup failed: %s", self.name, exc)
            self._setup_error = exc
            self._ready.set()
            self._fail_queued(ModelUnavailable(f"{self.name} failed to load"))
            return
        self._ready.set()
        try:
            while True:
                try:
                    if not self._serve():
                        return
                except Exception as exc:
                    # A bug in the loop itself: fail the batch it was on, keep the queue, log,
                    # and serve again.
                    self.restarts += 1
                    log.exception("%s: worker loop failed; restarting it", self.name)
                    self._fail_running(exc)
                    time.sleep(0.05)
        except BaseException as exc:
            self._die(exc)

    def _die(self, exc: BaseException) -> None:
        log.critical("%s: worker stopped by %r", self.name, exc, exc_info=exc)
        with self._cond:
            self._fatal_error = exc
            self._room.notify_all()
        error = ModelUnavailable(f"{self.name} stopped working; retry shortly")
        self._fail_running(error)
        self._fail_queued(error)
        if self._on_death is not None:
            try:
                self._on_death(exc)
            except Exception:
                log.exception("%s: on_death callback failed", self.name)

    def _fail_running(self, error: BaseException) -> None:
        running, self._running = self._running, []
        for item in running:
            if not item.future.done():
                item.future.set_exception(error)

    def _serve(self) -> bool:
        """Run batches until closed and drained (returns False)."""
        while True:
            batch = self._next_batch()
            if batch is None:
                return False
            self._running = batch
            self._execute(batch)
            self._running = []

    def _next_batch(self) -> list[_Item[P, R]] | None:
        with self._cond:
            while True:
                while not self._queue:
                    if self._closing:
                        return None
                    self._cond.wait()
                self._expire(time.monotonic())
                if not self._queue:
                    continue
                plan = self._plan()
                fill_until = self._queue[plan.head].enqueued + self.max_wait_s
                while not plan.full and not self._closing:
                    remaining = fill_until - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
                    if not self._queue:
                        break
                    plan = self._plan()
                    fill_until = self._queue[plan.head].enqueued + self.max_wait_s
                if not self._queue:
                    continue
                taken = [self._queue[i] for i in plan.indices]
                for i in reversed(plan.indices):
                    del self._queue[i]
                self._room.notify_all()
                self._request_came = False
                return [item for item in taken if _start(item)]

    def _plan(self) -> BatchPlan:
        items = self._queue
        return plan_batch(
            [item.cost for item in items],
            [item.key for item in items],
            max_size=self.max_batch_size,
            max_tokens=self.max_batch_tokens,
            background=[item.background for item in items],
            max_background_batch=self.max_background_batch,
        )

    def _expire(self, now: float) -> None:
        expired = [item for item in self._queue if item.deadline <= now]
        if expired:
            self._room.notify_all()
        for item in expired:
            self._queue.remove(item)
            if _start(item):
                item.future.set_exception(ItemTimeout("the item timed out while queued"))

    def _fail_queued(self, error: ServiceError) -> None:
        with self._cond:
            items = list(self._queue)
            self._queue.clear()
            self._room.notify_all()
        for item in items:
            if _start(item):
                item.future.set_exception(error)

    def _execute(self, items: list[_Item[P, R]]) -> None:
        if not items:
            return
        items.sort(key=lambda item: item.cost)
        batch_id = next(_batch_ids)
        for item in items:
            item.batch_id = batch_id
        started = time.perf_counter()
        self._preempted = False
        self._preemptible = all(item.background and not item.preempted for item in items)
        try:
            results = self._run_batch([item.payload for item in items], items[0].key)
            if len(results) != len(items):
                raise RuntimeError(
                    f"run_batch returned {len(results)} results for {len(items)} items"
                )
        except Preempted:
            for item in items:
                item.preempted = True
            self._record(batch_id, items, started, "preempted")
            self._requeue(items)
            return
        except self._split_on as exc:
            # Only the text is kept: the traceback holds the failed attempt's frames, and with
            # them its device memory, which the retry below needs back.
            reason = f"{type(exc).__name__}: {exc}"
        except Exception as exc:
            log.exception("%s: batch %d of %d items failed", self.name, batch_id, len(items))
            self._record(batch_id, items, started, "error")
            error = exc.with_traceback(None)  # callers get GenerationFailed, not the frames
            for item in items:
                item.future.set_exception(error)
            return
        else:
            self._record(batch_id, items, started, "ok")
            for item, result in zip(items, results, strict=True):
                item.future.set_result(result)
            return
        self._record(batch_id, items, started, "error" if len(items) == 1 else "split")
        if len(items) == 1:
            log.warning("%s: batch %d: one item does not fit: %s", self.name, batch_id, reason)
            items[0].future.set_exception(
                OutOfMemory("this input does not fit in the model's device memory")
            )
            return
        log.warning(
            "%s: batch %d (%d items) out of memory; splitting it: %s",
            self.name,
            batch_id,
            len(items),
            reason,
        )
        half = len(items) // 2
        self._execute(items[:half])
        self._execute(items[half:])

    def _requeue(self, items: list[_Item[P, R]]) -> None:
        """Put a preempted batch's items back at the head of the queue, oldest first; an item
        whose caller gave up meanwhile ends with ItemTimeout instead."""
        self._preemptible = self._preempted = False
        with self._cond:
            for item in sorted(items, key=lambda i: i.enqueued, reverse=True):
                item.batch_id = None
                if item.abandoned:
                    item.future.set_exception(ItemTimeout("the item was given up"))
                else:
                    self._queue.appendleft(item)
            self._cond.notify()

    def _record(
        self, batch_id: int, items: list[_Item[P, R]], started: float, outcome: str
    ) -> None:
        if self._on_batch is None:
            return
        record = BatchRecord(
            batcher=self.name,
            batch_id=batch_id,
            size=len(items),
            padded_tokens=max(item.cost for item in items) * len(items),
            real_tokens=sum(item.cost if item.tokens is None else item.tokens for item in items),
            seconds=time.perf_counter() - started,
            outcome=outcome,
        )
        try:
            self._on_batch(record)
        except Exception:
            log.exception("%s: on_batch callback failed", self.name)


def _start(item: _Item[Any, Any]) -> bool:
    """Mark a queued item's future running (it may be already: a preempted item queued again);
    False when its caller cancelled it."""
    return item.future.running() or item.future.set_running_or_notify_cancel()
