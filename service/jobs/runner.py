"""The worker that runs job items in a serving process, next to the engine.

One thread claims items from the store (at most JOBS_WORKER_ITEMS held at once) and hands each
to a small pool, whose threads run it through its operation on the engine's background view
(`Engine.background`): a job's pieces wait behind requests in every batch, within
JOBS_QUEUE_SHARE of each queue, so a job uses the capacity requests leave. Each item's outcome is
written once (the store drops a second); its deadline is its lease, so it ends before another
worker may take it over.

What a caller can rely on:
- An operation's error is the item's outcome (`{code, message}`); an error that says "try again
  shortly" (Overloaded, ModelUnavailable) hands the item back instead, for a later claim.
- The store being down (`StoreUnavailable`) never stops the thread, nor the requests: claims are
  retried with backoff, an outcome is retried until its lease ends (then another worker runs it).
- `drain()` (from a SIGTERM handler: it only sets a flag) stops claiming; `stop()` lets the items
  already running finish, within its timeout, and hands back every other claim.
- `on_finished` callbacks get the job when a write of this worker completed it (the last outcome
  of a job), once per process; two processes finishing a job's last items at the same moment
  may both report it, and a process killed between the write and the call reports nothing.
- Old finished jobs are purged (JOBS_RETENTION_S) every few minutes.
- Each item it ran is counted in `service_job_items_total{outcome}` (done, failed, handed_back,
  not_written), so /metrics shows what this process did of the jobs it shares with others.
- A document job's item (`service.jobs.documents`) reads its upload from the file store and
  stores its result file there; any other item runs through `service.jobs.operations`.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from service.core.config import Settings
from service.core.errors import ServiceError
from service.inference.engine import Engine
from service.jobs.documents import DOCUMENT, file_store_for, limits_for, run_document, settle
from service.jobs.files import FileStore
from service.jobs.operations import run_item
from service.jobs.store import (
    CANCELLED,
    DONE,
    FAILED,
    Claim,
    ItemError,
    Job,
    JobStore,
    Outcome,
    StoreUnavailable,
)
from service.tasks import TaskContext, TextLimits
from service.text.language import LanguageDetector

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 30.0
# How often a job is read back after a write that may have completed it, before giving up.
READ_BACK_TRIES = 8
# How long a worker claims nothing after handing an item back for a passing refusal.
HAND_BACK_PAUSE_S = 2.0
PURGE_EVERY_S = 300.0
REPORTED_KEPT = 10_000


class JobRunner:
    """Claims and runs job items for one serving process; see the module docstring."""

    def __init__(
        self,
        store: JobStore,
        engine: Engine,
        settings: Settings,
        *,
        detector: LanguageDetector | None = None,
        name: str | None = None,
        poll_s: float = 0.5,
        files: FileStore | None = None,
    ) -> None:
        self.store = store
        # Where document jobs' uploads wait and their results go (`service.jobs.documents`).
        self.files = files or file_store_for(settings)
        self.on_finished: list[Callable[[Job], None]] = []
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self._engine = engine
        self._settings = settings
        self._detector = detector
        self._poll_s = poll_s
        self._items = settings.jobs_worker_items
        self._stopping = threading.Event()
        self._wake = threading.Condition()
        # Claims held (token -> claim) until written or handed back; those running now.
        self._held: dict[str, Claim] = {}
        self._running: set[str] = set()
        self._pool = ThreadPoolExecutor(self._items, thread_name_prefix="job-item")
        self._thread = threading.Thread(target=self._main, name="jobs", daemon=True)
        self._next_purge = 0.0
        # Claim nothing before this (monotonic time): set when an item is handed back.
        self._paused_until = 0.0
        # Jobs this process reported finished (the latest REPORTED_KEPT), so threads that both
        # see a job done report it once.
        self._reported: OrderedDict[str, None] = OrderedDict()

    # ----- lifecycle -------------------------------------------------------------------------

    def start(self) -> JobRunner:
        """Start claiming (once the engine is ready); returns at once."""
        self._thread.start()
        return self

    @property
    def started(self) -> bool:
        return self._thread.ident is not None

    def drain(self) -> None:
        """Claim nothing more. Safe in a signal handler: it only sets a flag."""
        self._stopping.set()

    @property
    def draining(self) -> bool:
        """Whether this process is stopping (SIGTERM): open progress streams end then."""
        return self._stopping.is_set()

    def stop(self, timeout: float = 60.0) -> None:
        """Stop claiming, let the running items finish and be written (within `timeout`), hand
        back every other claim, and close the store."""
        self.drain()
        with self._wake:
            self._wake.notify_all()
        until = time.monotonic() + timeout
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._pool.shutdown(wait=False, cancel_futures=True)
        with self._wake:
            while self._running and time.monotonic() < until:
                self._wake.wait(until - time.monotonic())
            left = list(self._held.values())
            self._held.clear()
        self._hand_back(left)
        if left:
            log.info("jobs: handed back %d item(s) on stopping", len(left))
        self.store.close()

    # ----- claiming --------------------------------------------------------------------------

    def _main(self) -> None:
        backoff = 0.0
        while not self._stopping.is_set():
            room = self._items - len(self._held)
            if not self._engine.ready or room <= 0:
                self._sleep(self._poll_s)
                continue
            if time.monotonic() < self._paused_until:  # items were handed back: let it pass
                self._sleep(self._paused_until - time.monotonic())
                continue
            self._purge()
            try:
                claims = self._runnable(self.store.claim(self.name, room, self._lease_s))
                backoff = 0.0
            except StoreUnavailable as exc:
                backoff = min(MAX_BACKOFF_S, max(self._poll_s, backoff * 2))
                log.warning("jobs: store unavailable (%s); next try in %.1f s", exc, backoff)
                self._sleep(backoff)
                continue
            except Exception:  # a bug here must not end the thread for the process's life
                log.exception("jobs: claiming failed")
                self._sleep(MAX_BACKOFF_S)
                continue
            if not claims:
                self._sleep(self._poll_s)
                continue
            with self._wake:
                self._held.update((claim.token, claim) for claim in claims)
            for claim in claims:
                self._pool.submit(self._run, claim)

    @property
    def _lease_s(self) -> float:
        return self._settings.jobs_lease_s

    def _purge(self) -> None:
        """Purge old jobs when due, apart from claiming: a failed purge strands no claim."""
        try:
            self._purge_when_due()
        except StoreUnavailable as exc:
            log.warning("jobs: purge skipped, store unavailable (%s)", exc)
        except Exception:
            log.exception("jobs: purging failed")

    def _runnable(self, claims: list[Claim]) -> list[Claim]:
        """The claims whose job is not cancelled; the others are handed back unrun. A job that
        cannot be read now is run (its claims are held: dropping them would strand them)."""
        cancelled = set()
        for job_id in {claim.job_id for claim in claims}:
            try:
                job = self.store.get(job_id)
            except StoreUnavailable:
                continue
            if job is None or job.status == CANCELLED:
                cancelled.add(job_id)
        if cancelled:
            self._hand_back([c for c in claims if c.job_id in cancelled])
        return [c for c in claims if c.job_id not in cancelled]

    def _purge_when_due(self) -> None:
        now = time.monotonic()
        if now < self._next_purge:
            return
        self._next_purge = now + PURGE_EVERY_S
        purged = self.store.purge(time.time() - self._settings.jobs_retention_s)
        if purged:
            log.info("jobs: purged %d finished job(s)", purged)

    def _sleep(self, seconds: float) -> None:
        with self._wake:
            if not self._stopping.is_set():
                self._wake.wait(seconds)

    # ----- running one item ------------------------------------------------------------------

    def _run(self, claim: Claim) -> None:
        with self._wake:
            if self._stopping.is_set():
                return  # not started: `stop` hands it back
            self._running.add(claim.token)
        try:
            outcome = self._outcome(claim)
            if outcome is None:
                self._hand_back([claim])
                # A passing refusal (a full queue or store, a model away): claiming it again at
                # once would only run into it again.
                self._paused_until = time.monotonic() + HAND_BACK_PAUSE_S
                counted = "handed_back"
            else:
                written = self._write(claim, outcome)
                if claim.spec.task == DOCUMENT and written is not None:
                    settle(self.files, claim.spec, claim.text, outcome.result, written)
                if not written:
                    counted = "not_written"
                else:
                    counted = "done" if outcome.error is None else "failed"
            self._engine.metrics.job_items.labels(counted).inc()
        except Exception:
            log.exception("jobs: item %s of job %s failed", claim.item_id, claim.job_id)
        finally:
            with self._wake:
                self._running.discard(claim.token)
                self._held.pop(claim.token, None)
                self._wake.notify_all()

    def _outcome(self, claim: Claim) -> Outcome | None:
        """The item's outcome, or None when it should be handed back (a passing refusal)."""
        settings = self._settings
        lease_left = max(0.0, claim.lease_until - time.time())
        ctx = TaskContext(
            self._engine.background(),
            TextLimits(settings.max_items, settings.max_text_chars),
            self._detector,
            time.monotonic() + 0.9 * lease_left,
            reading_wpm=settings.reading_wpm,
        )
        try:
            result = self._result(ctx, claim)
        except ServiceError as exc:
            if exc.retry_after:
                log.info("jobs: item %s handed back: %s", claim.item_id, exc.message)
                return None
            return Outcome(claim.item_id, error=ItemError(exc.code, exc.message))
        except Exception:
            log.exception("jobs: item %s of job %s failed", claim.item_id, claim.job_id)
            return Outcome(
                claim.item_id, error=ItemError("internal_error", "the item failed; see the log")
            )
        return Outcome(claim.item_id, result=result)

    def _result(self, ctx: TaskContext, claim: Claim) -> Any:
        spec = claim.spec
        if spec.task == DOCUMENT:
            return run_document(ctx, self.files, limits_for(self._settings), spec, claim.text)
        return run_item(ctx, spec.task, spec.options, claim.text)

    def _write(self, claim: Claim, outcome: Outcome) -> bool | None:
        """Write the outcome, retrying while the store is down and the lease lasts; then tell
        `on_finished` if this write completed the job. False when another worker wrote it
        first; None when the store stayed down until the lease ended (the item runs again)."""
        delay = self._poll_s
        while True:
            try:
                if not self.store.finish(claim, outcome):
                    return False  # another worker wrote it first
                break
            except StoreUnavailable as exc:
                if time.time() + delay >= claim.lease_until:
                    log.warning("jobs: could not write item %s: %s", claim.item_id, exc)
                    return None
                time.sleep(delay)
                delay = min(MAX_BACKOFF_S, delay * 2)
        job = self._read_back(claim.job_id)
        if job is not None and job.status in (DONE, FAILED):
            self._finished(job)
        return True

    def _read_back(self, job_id: str) -> Job | None:
        """The job after a write that may have completed it, retried while the store is busy
        or down for a while: a read lost here would lose the job's `on_finished` (its
        webhook), since no later write comes to complete it again."""
        delay = self._poll_s
        for attempt in range(READ_BACK_TRIES):
            try:
                return self.store.get(job_id)
            except StoreUnavailable as exc:
                if attempt == READ_BACK_TRIES - 1:
                    log.warning("jobs: job %s written, but not read back: %s", job_id, exc)
                    return None
                time.sleep(delay)
                delay = min(MAX_BACKOFF_S, delay * 2)
        return None

    def _finished(self, job: Job) -> None:
        with self._wake:
            if job.id in self._reported:
                return
            self._reported[job.id] = None
            if len(self._reported) > REPORTED_KEPT:
                self._reported.popitem(last=False)
        for callback in list(self.on_finished):
            try:
                callback(job)
            except Exception:
                log.exception("jobs: on_finished callback failed for job %s", job.id)

    def _hand_back(self, claims: Sequence[Claim]) -> None:
        if not claims:
            return
        try:
            self.store.release(claims)
        except StoreUnavailable as exc:  # their leases expire instead
            log.warning("jobs: could not hand back %d item(s): %s", len(claims), exc)
