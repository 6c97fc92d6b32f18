"""What an operation runs with, and what every result tells the request log."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from service.core.config import Settings
from service.inference.engine import Engine
from service.sources import Fetcher
from service.tasks.limits import TextLimits
from service.text.language import LanguageDetector


@dataclass(frozen=True)
class TaskContext:
    """The engine, the limits on texts, the language detector (None: `source: auto` is
    refused), the request's one deadline (time.monotonic(); None: ITEM_TIMEOUT_S from the
    operation's start), the page fetcher (None: `url` is refused), what charges a fetched
    page's characters to the caller's rate limit (None: nothing counts them), the reading speed
    for reading times, and the languages detection chooses among (None: those the engine serves;
    the command line, which starts only the models it needs, names the configured)."""

    engine: Engine
    limits: TextLimits
    detector: LanguageDetector | None = None
    deadline: float | None = None
    fetcher: Fetcher | None = None
    charge: Callable[[int], None] | None = None
    reading_wpm: int = field(default_factory=lambda: Settings.defaults().reading_wpm)
    languages: Sequence[str] | None = None

    def detection_languages(self) -> list[str]:
        """What detection chooses among: `languages`, else every language served."""
        return list(self.languages) if self.languages is not None else served_languages(self.engine)

    def started(self) -> float:
        """The deadline in force for an operation starting now."""
        return self.engine.deadline() if self.deadline is None else self.deadline


def served_languages(engine: Engine) -> list[str]:
    """Every language a translation model reads or writes, in configuration order: what
    detection chooses among, so a two-word post is read as one of them rather than as Latin
    (an engine without translation models: every language)."""
    pairs = engine.pairs()
    return list(dict.fromkeys([p.source for p in pairs] + [p.target for p in pairs]))


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
