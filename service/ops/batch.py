"""`python -m service batch`: a JSON Lines file of items through one operation, without a server.

Items are read with the jobs' rules (`service.jobs.items`) and answered with the jobs' result
lines, so a file can go to `POST /v1/jobs` or through this command alike. Several items run at
once (`concurrency` threads, each running one item through the operation), so their sentences
and chunks share the engine's batches as concurrent requests do.

What a caller can rely on:
- Only the main thread writes OUTPUT, one whole line at a time, flushed: OUTPUT is valid JSON
  Lines whenever the process stops, except after a hard kill mid-write, which can leave one last
  line cut short. The next run drops that line and redoes its item.
- Resuming: ids with a line in OUTPUT are not run again; the others are (those in flight when a
  run stopped included), and their lines are appended.
- An item's own failure (an empty or too long text, a timeout, an error in generation) is its
  error line. A failure that is not the item's (a model that stopped) ends the run instead:
  writing it as the item's outcome would keep a resumed run from ever redoing it. A full model
  queue is waited out.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from service.core.errors import ModelUnavailable, Overloaded, ServiceError
from service.jobs.items import outcome_line, read_outcomes
from service.jobs.store import Item, ItemError, Outcome

log = logging.getLogger(__name__)

# How long a thread waits before offering an item again to a model whose queue was full.
_QUEUE_FULL_PAUSE_S = 0.05


def outcome_of(run: Callable[[str], Any], item: Item) -> Outcome:
    """Run one item to its outcome: its result, or its own error. Waits out a full queue;
    ModelUnavailable (and any error that is not a ServiceError) propagates: it is not the
    item's."""
    if item.error is not None:
        return Outcome(item.id, error=item.error)
    while True:
        try:
            return Outcome(item.id, result=run(item.text or ""))
        except Overloaded:
            time.sleep(_QUEUE_FULL_PAUSE_S)
        except ModelUnavailable:
            raise
        except ServiceError as exc:
            return Outcome(item.id, error=ItemError(exc.code, exc.message))


@dataclass
class BatchReport:
    """How a run ended: items in the input, those already in OUTPUT before it, lines it wrote
    (`errors` of them error lines), and whether it was stopped before the end."""

    total: int
    skipped: int = 0
    written: int = 0
    errors: int = 0
    stopped: bool = False

    @property
    def in_output(self) -> int:
        return self.skipped + self.written


class _Workers:
    """`threads` daemon threads taking items from a queue and putting back each outcome, or the
    exception that ends the run. Daemon threads: a stopped run does not wait for the items in
    flight (the next run redoes them)."""

    def __init__(self, run: Callable[[Item], Outcome], items: Sequence[Item], threads: int):
        self._run = run
        self._todo: queue.SimpleQueue[Item] = queue.SimpleQueue()
        self._done: queue.SimpleQueue[Outcome | BaseException] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._expected = len(items)
        for item in items:
            self._todo.put(item)
        for n in range(min(threads, len(items))):
            threading.Thread(target=self._work, name=f"batch-{n}", daemon=True).start()

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                item = self._todo.get_nowait()
            except queue.Empty:
                return
            try:
                self._done.put(self._run(item))
            except BaseException as exc:  # handed to the main thread, which ends the run
                self._done.put(exc)
                return

    def outcomes(self, stop: threading.Event, poll_s: float = 0.1) -> Iterator[Outcome]:
        """Each outcome as it is ready, until all are or `stop` is set (then those already
        finished, and no more). Re-raises a worker's exception. Stops every worker when the
        iteration ends, however it ends."""
        try:
            for _ in range(self._expected):
                done = self._next(stop, poll_s)
                if done is None:
                    return
                yield done
        finally:
            self._stop.set()

    def _next(self, stop: threading.Event, poll_s: float) -> Outcome | None:
        """The next outcome; None once `stop` is set and no finished one is left."""
        while True:
            if stop.is_set():
                self._stop.set()
            try:
                if self._stop.is_set():
                    done = self._done.get_nowait()
                else:
                    done = self._done.get(timeout=poll_s)
            except queue.Empty:
                if self._stop.is_set():
                    return None
                continue
            if isinstance(done, BaseException):
                raise done
            return done


def resume(output: Path) -> set[str]:
    """The ids OUTPUT already holds; a last line cut short (a crash mid-write) is cut off the
    file so that its item is redone and appended whole."""
    if not output.exists():
        return set()
    with output.open("r+b") as file:
        written = read_outcomes(file.read())
        file.truncate(written.complete_bytes)
    return {outcome.item_id for outcome in written.outcomes}


def run_batch(
    run: Callable[[str], Any],
    items: Sequence[Item],
    output: Path,
    *,
    concurrency: int,
    stop: threading.Event,
    progress: Callable[[BatchReport], object] = lambda report: None,
) -> BatchReport:
    """Run the items OUTPUT does not hold yet through `run` (a text -> its JSON result) and
    append a line per item as each is done; `progress(report)` once before the first and after
    each line. Returns early, with every finished line written, when `stop` is set."""
    done = resume(output)
    todo = [item for item in items if item.id not in done]
    report = BatchReport(total=len(items), skipped=len(items) - len(todo))
    progress(report)
    with output.open("ab") as file:
        workers = _Workers(lambda item: outcome_of(run, item), todo, concurrency)
        for outcome in workers.outcomes(stop):
            _write(file, outcome)
            report.written += 1
            report.errors += outcome.error is not None
            progress(report)
    report.stopped = report.in_output < report.total
    return report


def _write(file: BinaryIO, outcome: Outcome) -> None:
    file.write(outcome_line(outcome))
    file.flush()
