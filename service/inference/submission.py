"""A request's inputs to one model on their way through the engine: cache hits answered at once,
the misses fed to the model's queue a window at a time (see `Engine.submit_many`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from service.inference.batching import Ticket
from service.inference.seq2seq import GenerationParams

if TYPE_CHECKING:
    from service.inference.engine import Engine

# An input's cache key, and its cached output (None: a miss).
Cached = tuple[str, str | None]


class Submission:
    """A request's inputs to one model: the cached ones answered at once, the others (each
    distinct input once, when the cache is on) fed to its queue through the engine's window."""

    def __init__(
        self,
        engine: Engine,
        key: str,
        inputs: Sequence[list[int]],
        params: Sequence[GenerationParams],
        deadline: float,
        *,
        cached: Sequence[Cached] | None = None,
    ) -> None:
        self._engine = engine
        self._key = key
        self._deadline = deadline
        # Per input, its cached output, or the index in `_queued` of the input that answers it.
        self._outputs: list[str | None] = [None] * len(inputs)
        self._source: list[int | None] = []
        # The inputs sent to the model, each with its own params.
        self._queued: list[tuple[list[int], GenerationParams]] = []
        if cached is None:
            self._queued = list(zip(inputs, params, strict=True))
            self._source = list(range(len(inputs)))
        else:
            first: dict[str, int] = {}
            for i, (ids, own, (digest, output)) in enumerate(
                zip(inputs, params, cached, strict=True)
            ):
                self._outputs[i] = output
                if output is None and digest not in first:
                    first[digest] = len(self._queued)
                    self._queued.append((ids, own))
                self._source.append(None if output is not None else first[digest])
        self._tickets: list[Ticket[str]] = []
        try:
            for ids, own in self._queued[: engine.window]:
                self._tickets.append(engine.submit(key, ids, own, deadline=deadline))
        except BaseException:
            self.cancel()
            raise

    def cancel(self) -> None:
        """Withdraw whatever has not run yet."""
        for ticket in self._tickets:
            ticket.cancel()

    @property
    def batch_ids(self) -> list[int | None]:
        """Per input, the id of the batch it ran in (None while it has not run, or when it came
        from the cache)."""
        ran = [ticket.batch_id for ticket in self._tickets]
        return [None if j is None or j >= len(ran) else ran[j] for j in self._source]

    def results(self) -> list[str]:
        """One output per input, in order. Raises the first failure, withdrawing the rest."""
        done = []
        try:
            for j in range(len(self._queued)):
                done.append(self._tickets[j].result())
                if len(self._tickets) < len(self._queued):
                    ids, own = self._queued[len(self._tickets)]
                    self._tickets.append(
                        self._engine.submit(self._key, ids, own, deadline=self._deadline, wait=True)
                    )
        except BaseException:
            self.cancel()
            raise
        answers = []
        for output, j in zip(self._outputs, self._source, strict=True):
            answers.append(done[j] if j is not None else str(output))
        return answers
