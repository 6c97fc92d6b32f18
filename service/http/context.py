"""What the views read from the running app, typed: the engine, the settings, the language
detector, the metrics (`create_app` puts them there; no view indexes `current_app` by string),
the request's JSON body within MAX_BODY_BYTES, and `run` (`run_events` for a streamed answer),
which every surface calls an operation through, so each request's log line has its items and
batches."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any, TypeVar

from flask import current_app, g

from service.core.config import Settings
from service.core.metrics import Metrics
from service.http import bodies
from service.inference.engine import Engine
from service.sources import Fetcher
from service.tasks.context import Outcome, Request, TaskContext
from service.tasks.limits import TextLimits
from service.text.language import LanguageDetector


def engine() -> Engine:
    return current_app.extensions["engine"]


def settings() -> Settings:
    return current_app.config["SETTINGS"]


def detector() -> LanguageDetector:
    return current_app.extensions["detector"]


def fetcher() -> Fetcher | None:
    """The page fetcher for `url`; None when FETCH_URLS is off."""
    return current_app.extensions.get("fetcher")


def metrics() -> Metrics:
    return current_app.extensions["metrics"]


def limits() -> TextLimits:
    return TextLimits(settings().max_items, settings().max_text_chars)


def json_body() -> Any:
    """The request body as JSON, within MAX_BODY_BYTES (see `bodies.json_body`)."""
    return bodies.json_body(settings().max_body_bytes)


Q = TypeVar("Q", bound=Request)
R = TypeVar("R", bound=Outcome)
E = TypeVar("E")


def run(operation: Callable[[TaskContext, Q], R], request: Q) -> R:
    """Run an operation for this request, within its deadline; the request log line records
    the request's items (failures too) and the batches it ran in."""
    result = operation(_task_context(request), request)
    g.batch_ids = sorted(set(result.batch_ids))
    return result


def run_events(
    operation: Callable[[TaskContext, Q], Generator[E, None, R]], request: Q
) -> Generator[E, None, R]:
    """`run` for an operation that reports progress (a generator of events that returns its
    result): the same request log, filled as the events are taken (see `service.http.events`)."""
    result = yield from operation(_task_context(request), request)
    g.batch_ids = sorted(set(result.batch_ids))
    return result


def _task_context(request: Request) -> TaskContext:
    """What an operation runs with for this request; notes its items for the log line."""
    g.items = request.items
    return TaskContext(
        engine(),
        limits(),
        detector(),
        g.get("deadline"),
        fetcher=fetcher(),
        charge=g.get("charge_characters"),
        reading_wpm=settings().reading_wpm,
    )
