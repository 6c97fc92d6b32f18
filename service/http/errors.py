"""Domain errors to HTTP: the one place an exception becomes a status and the JSON error shape.

Views raise `service.core.errors` exceptions; nothing else builds error JSON. Werkzeug's own HTTP
errors (404, 405, a body over the limit) and unexpected exceptions get the same shape, and 5xx
messages carry only the request id to quote, never internals. A body that cannot be read (a
malformed chunked encoding, a connection cut mid-body) is the client's error: the server's reader
raises its own exception inside whatever view reads the body, so `install` wraps the WSGI input
and turns those into 400 `bad_request`, never 500.

Each surface answers in its own clients' shape: `/v1` (and every route without a style of its
own) as `{"error": {"code", "message", "field"}}`; a compatibility surface registers its
`ErrorStyle` (`answer_errors_as`): a renderer, its statuses, which errors carry Retry-After.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, Response, g, has_request_context, jsonify, request
from gunicorn.http.errors import ParseException
from werkzeug.exceptions import BadRequest, HTTPException, RequestEntityTooLarge

from service.core.config import Settings
from service.core.errors import PayloadTooLarge, ServiceError

log = logging.getLogger("service.request")

# What reading the request body raises when the client sent it wrong or not at all: gunicorn's
# chunked-encoding errors (InvalidChunkSize, ChunkMissingTerminator, ...) and socket errors
# (NoMoreData, a reset); only the body reader's, so a bug elsewhere is still a 500.
_BODY_ERRORS = (ParseException, OSError)


class MalformedBody(BadRequest):
    description = "the request body could not be read: malformed chunked encoding or cut short"


class _GuardedInput:
    """The WSGI input stream, raising MalformedBody where the server's reader fails."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def _guard(self, read: Any, *args: Any) -> Any:
        try:
            return read(*args)
        except _BODY_ERRORS:
            raise MalformedBody() from None  # the request's log line records the 400

    def read(self, *args: Any) -> bytes:
        return self._guard(self._stream.read, *args)

    def readline(self, *args: Any) -> bytes:
        return self._guard(self._stream.readline, *args)

    def readlines(self, *args: Any) -> list[bytes]:
        return self._guard(self._stream.readlines, *args)

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.readline, b"")


def _guard_body(wsgi_app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if "wsgi.input" in environ:
            environ["wsgi.input"] = _GuardedInput(environ["wsgi.input"])
        return wsgi_app(environ, start_response)

    return app


Render = Callable[[int, str, str, "str | None"], Response]


def _nested(status: int, code: str, message: str, field: str | None = None) -> Response:
    response = jsonify({"error": {"code": code, "message": message, "field": field}})
    response.status_code = status
    return response


def _flat(status: int, code: str, message: str, field: str | None = None) -> Response:
    response = jsonify({"error": message})
    response.status_code = status
    return response


@dataclass(frozen=True)
class ErrorStyle:
    """How one surface answers errors: its body shape, the status it gives each domain error
    (what its clients expect), and which errors it tells the client to retry."""

    render: Render
    status_of: Callable[[ServiceError], int] = lambda exc: exc.status
    retry: Callable[[ServiceError], bool] = lambda exc: exc.retry_after


# The /v1 shape, `{"error": {"code", "message", "field"}}`: every route without a style of its own.
NESTED = ErrorStyle(_nested)
# `{"error": "<message>"}`, as LibreTranslate's and Hugging Face's clients read errors.
FLAT = ErrorStyle(_flat)
_STYLES: dict[str, ErrorStyle] = {}


def answer_errors_as(bp: Blueprint, style: ErrorStyle) -> None:
    """Errors of `bp`'s views (and of requests to its URLs) are answered in `style`."""
    _STYLES[bp.name] = style


def _style() -> ErrorStyle:
    return _STYLES.get(request.blueprint or "", NESTED) if has_request_context() else NESTED


def _quote_id(message: str) -> str:
    return f"{message}; quote request id {g.get('request_id')} when reporting it"


def error_event(exc: Exception) -> dict[str, Any]:
    """The /v1 error body, with its `status`, for an error raised after a streamed answer's 200
    went out (see `service.http.events`): what the JSON answer would have carried."""
    if isinstance(exc, ServiceError):
        message = _quote_id(exc.message) if exc.status >= 500 else exc.message
        status, code, field = exc.status, exc.code, exc.field
    else:
        log.error("unhandled error", exc_info=exc, extra={"request_id": g.get("request_id")})
        status, code, message, field = 500, "internal_error", _quote_id("internal error"), None
    return {"error": {"code": code, "message": message, "field": field}, "status": status}


def install(app: Flask, settings: Settings) -> None:
    """Register the handlers that turn every exception a view raises into its surface's error
    shape; the only place a status, an error body or Retry-After is decided."""
    app.wsgi_app = _guard_body(app.wsgi_app)  # type: ignore[method-assign]

    @app.errorhandler(ServiceError)
    def service_error(exc: ServiceError) -> Response:
        style = _style()
        message = _quote_id(exc.message) if exc.status >= 500 else exc.message
        response = style.render(style.status_of(exc), exc.code, message, exc.field)
        if style.retry(exc):
            response.headers["Retry-After"] = str(settings.retry_after_s)
        response.headers.update(exc.headers)
        return response

    @app.errorhandler(RequestEntityTooLarge)
    def body_too_large(exc: RequestEntityTooLarge) -> Response:
        # Same code as the other size limits, and the message names the limit (a route may set
        # its own: a document upload's is DOC_MAX_BYTES and its form's framing).
        limit = (request.max_content_length or settings.max_body_bytes + 1) - 1
        return service_error(PayloadTooLarge(f"the body is over the limit of {limit} bytes"))

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        code = re.sub(r"\W+", "_", (exc.name or "error").lower()).strip("_")
        response = _style().render(status, code, exc.description or exc.name or "error", None)
        allowed = getattr(exc, "valid_methods", None)
        if allowed:
            response.headers["Allow"] = ", ".join(allowed)
        return response

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        log.exception("unhandled error", extra={"request_id": g.get("request_id")})
        return _style().render(500, "internal_error", _quote_id("internal error"), None)
