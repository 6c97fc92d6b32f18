"""What an operation runs with, and what every result tells the request log."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from service.inference.engine import Engine
from service.tasks.limits import TextLimits
from service.text.language import LanguageDetector


@dataclass(frozen=True)
class TaskContext:
    """The engine, the limits on texts, the language detector (None: `source: auto` is
    refused) and the request's one deadline (time.monotonic(); None: ITEM_TIMEOUT_S from the
    operation's start)."""

    engine: Engine
    limits: TextLimits
    detector: LanguageDetector | None = None
    deadline: float | None = None

    def started(self) -> float:
        """The deadline in force for an operation starting now."""
        return self.engine.deadline() if self.deadline is None else self.deadline


class Request(Protocol):
    """What every operation's request tells the request log, before the operation runs."""

    @property
    def items(self) -> int: ...


class Outcome(Protocol):
    """What every operation's result carries for the request log."""

    @property
    def items(self) -> int: ...

    @property
    def batch_ids(self) -> list[int]: ...
