"""What every operation does along the way: keep to the request's one deadline, tokenise within
it, cut the engine's flat results back per request, and withdraw what was queued when the
request fails."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Protocol, TypeVar

from service.core.errors import ItemTimeout
from service.inference.engine import Submission
from service.inference.seq2seq import Seq2SeqModel

# Sentences tokenised per call while preprocessing, between two deadline checks.
ENCODE_SLICE = 256

T = TypeVar("T")


def check_deadline(deadline: float) -> None:
    """Raise ItemTimeout once `deadline` (time.monotonic()) has passed."""
    if time.monotonic() >= deadline:
        raise ItemTimeout()


def within(deadline: float, items: Iterable[T]) -> Iterable[T]:
    """`items`, checking the deadline before each."""
    for item in items:
        check_deadline(deadline)
        yield item


def encode(model: Seq2SeqModel, texts: list[str], deadline: float) -> list[list[int]]:
    """Token ids of `texts`, ENCODE_SLICE at a time, checking the deadline between slices."""
    ids: list[list[int]] = []
    for start in within(deadline, range(0, len(texts), ENCODE_SLICE)):
        ids += model.encode(texts[start : start + ENCODE_SLICE])
    return ids


def split_runs(values: Sequence[T], counts: Sequence[int]) -> list[list[T]]:
    """Cut `values` into consecutive runs of the given lengths."""
    runs, start = [], 0
    for n in counts:
        runs.append(list(values[start : start + n]))
        start += n
    return runs


def batch_ids_per_run(submission: Submission, counts: Sequence[int]) -> list[list[int]]:
    """Per run of inputs (as in `split_runs`), the ids of the batches its inputs ran in."""
    return [[b for b in run if b is not None] for run in split_runs(submission.batch_ids, counts)]


class Cancellable(Protocol):
    def cancel(self) -> None: ...


@contextmanager
def withdrawn_on_failure() -> Iterator[list[Cancellable]]:
    """A list to put each submission in as it is queued: if the block fails (an error, a
    timeout, an interrupt), every one is withdrawn, so a failed request costs the models
    nothing more."""
    submitted: list[Cancellable] = []
    try:
        yield submitted
    except BaseException:
        for submission in submitted:
            submission.cancel()
        raise
