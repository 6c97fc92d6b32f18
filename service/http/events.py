"""Server-Sent Events: an operation's progress streamed to a client that asks for it with
`Accept: text/event-stream`, then its result, on the same route as the JSON answer.

The operation is a generator of progress events that returns its result (see
`service.tasks.summarize.Progress`). Its first step runs before the answer starts, so whatever
refuses the request up front (a limit, a language, a full queue) is still answered with its
status and the JSON error shape; an error after that can no longer change the status (200 went
out with the headers), so it ends the stream as an `error` event carrying the same JSON error
body and its status. A client that leaves closes the generator, which withdraws the work still
queued. The request's log line is written when the stream ends (see `service.http.app`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator, Iterator
from typing import Any, TypeVar

from flask import Response, g, request, stream_with_context

from service.http.errors import error_event

EVENT_STREAM = "text/event-stream"

E = TypeVar("E")
R = TypeVar("R")


def wanted() -> bool:
    """Whether the client asked for events: `Accept` prefers text/event-stream to JSON."""
    best = request.accept_mimetypes.best_match(["application/json", EVENT_STREAM])
    return best == EVENT_STREAM


def frame(name: str, data: Any) -> str:
    """One event on the wire: its name, and its data as one line of JSON."""
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def stream(
    events: Generator[E, None, R],
    progress: Callable[[E], tuple[str, dict[str, Any]]],
    final: str,
    result: Callable[[R], dict[str, Any]],
) -> Response:
    """An event-stream answer: each of `events` as `progress` names and shapes it, then an event
    named `final` with `result` of the operation's result (the JSON answer's body), or an
    `error` event. Takes the first event now, so refusals raise here, before the answer."""
    try:
        first = next(events)
    except StopIteration as done:
        body: Iterator[str] = iter([frame(final, result(done.value))])
    else:
        body = _body(first, events, progress, final, result)
    response = Response(stream_with_context(body), mimetype=EVENT_STREAM)
    # Every event as it is ready: no cache, and no buffering in nginx (the front buffers answers).
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"
    g.streamed = True
    return response


def _body(
    first: E,
    events: Generator[E, None, R],
    progress: Callable[[E], tuple[str, dict[str, Any]]],
    final: str,
    result: Callable[[R], dict[str, Any]],
) -> Iterator[str]:
    try:
        yield frame(*progress(first))
        while True:
            try:
                event = next(events)
            except StopIteration as done:
                yield frame(final, result(done.value))
                return
            yield frame(*progress(event))
    except Exception as exc:  # noqa: BLE001 - the status went out; the error becomes an event
        body = error_event(exc)
        g.stream_error = body["error"]["code"]
        yield frame("error", body)
    finally:
        events.close()
