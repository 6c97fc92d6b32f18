"""What an operation runs with, and what every result tells the request log."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

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


@dataclass(frozen=True)
class TextsRequest:
    """A request holding texts; `field` is where the surface's request held them (errors name
    it: `texts.3`, `q`, `inputs`)."""

    texts: Sequence[str]
    field: str = field(default="texts", kw_only=True)

    @property
    def items(self) -> int:
        return len(self.texts)


class _Part(Protocol):
    model: str
    batch_ids: list[int]


P = TypeVar("P", bound=_Part)


@dataclass
class PerText(Generic[P]):
    """One result per text of the request, in order (`each`)."""

    each: list[P]

    @property
    def items(self) -> int:
        return len(self.each)

    @property
    def batch_ids(self) -> list[int]:
        return [b for part in self.each for b in part.batch_ids]

    @property
    def model(self) -> str:
        """The model that answered: the first part's that ran one ("" when none ran)."""
        return next((part.model for part in self.each if part.model), "")
