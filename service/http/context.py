"""What the views read from the running app, typed: the engine, the settings, the language
detector, the metrics (`create_app` puts them there; no view indexes `current_app` by string),
the request's JSON body within MAX_BODY_BYTES, and `run` (`run_events` for a streamed answer),
which every surface calls an operation through, so each request's log line has its items and
batches."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any, TypeVar

from flask import current_app, g, request

from service.core.config import Settings
from service.core.errors import InvalidRequest
from service.core.metrics import Metrics
from service.documents.formats import DocumentLimits
from service.http import bodies
from service.inference.engine import Engine
from service.jobs.documents import limits_for
from service.jobs.files import FileStore
from service.jobs.store import JobStore
from service.jobs.webhooks import Webhooks
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


def documents() -> FileStore:
    """The temporary store of translated documents (`DATA_DIR/documents`)."""
    return current_app.extensions["documents"]


def document_limits() -> DocumentLimits:
    """DOC_MAX_BYTES and the zip limits, as the document formats read them."""
    return limits_for(settings())


def metrics() -> Metrics:
    return current_app.extensions["metrics"]


def job_store() -> JobStore:
    """The job store JOBS_STORE names (the jobs' worker's own)."""
    return current_app.extensions["jobs"].store


def jobs_draining() -> bool:
    """Whether this process's job worker is stopping (SIGTERM)."""
    return bool(current_app.extensions["jobs"].draining)


def webhooks() -> Webhooks:
    """Job callbacks: their checks and their delivery."""
    return current_app.extensions["webhooks"]


def limits() -> TextLimits:
    return TextLimits(settings().max_items, settings().max_text_chars)


def json_body() -> Any:
    """The request body as JSON, within MAX_BODY_BYTES (see `bodies.json_body`)."""
    return bodies.json_body(settings().max_body_bytes)


def parameters(
    not_an_object: str, *, lists: tuple[str, ...] = (), query_with_json: bool = False
) -> dict[str, Any]:
    """A compatibility API's parameters, as LibreTranslate, DeepL and Google read them: the JSON
    object body (under the query string's values with `query_with_json`), else the query string
    and the form fields (a GET's form body too), each name in `lists` as all its repeated values.
    `not_an_object` is the surface's message for a JSON body that is not an object."""
    query = request.args.to_dict()
    if request.is_json:
        body = json_body()
        if not isinstance(body, dict):
            raise InvalidRequest(not_an_object)
        return query | body if query_with_json else body
    params: dict[str, Any] = query | request.form.to_dict()
    for name in lists:
        if name in request.args or name in request.form:
            params[name] = request.args.getlist(name) + request.form.getlist(name)
    return params


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
