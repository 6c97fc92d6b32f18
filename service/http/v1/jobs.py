"""`/v1/jobs`: long work in the background. A job is submitted (a JSON body, or its items as a
JSON Lines upload with the options in the query string), answered 202 at once, and read back
while it runs: its status, its results as JSON Lines, its progress as Server-Sent Events; DELETE
cancels it. The store (`service.jobs`) holds everything; a worker in each serving process runs
the items. With API keys on, a job belongs to the key that created it: any other key is told
there is no such job (404), never that it exists.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from flask import Blueprint, Response, g, jsonify, request, stream_with_context

from service.core.config import Settings
from service.core.errors import (
    InvalidRequest,
    JobsUnavailable,
    NotFound,
    PayloadTooLarge,
    TooManyJobs,
    UnsupportedLanguage,
    UnsupportedMediaType,
)
from service.http import context, events
from service.http.bodies import parse
from service.http.described import Doc, route
from service.http.v1.job_schemas import (
    JOB_MODELS,
    JobCreated,
    JobRequest,
    JobStatus,
)
from service.jobs import store as jobs
from service.jobs.items import items_from_json, items_from_lines, outcome_line
from service.jobs.progress import status_body
from service.tasks import AUTO

bp = Blueprint("jobs", __name__)

JSON_LINES = "application/x-ndjson"
# A client's key for one submission: sent again with a retry, it gets the same job back.
IDEMPOTENCY_KEY = "Idempotency-Key"
_KEY = re.compile(r"[\x21-\x7e]{1,255}")
# Options read from the query string of an upload, and which of them are numbers or lists.
_NUMBERS = ("min_length", "max_length", "num_beams")
_LISTS = ("translate_to",)
# How often a progress stream looks at the job; and the longest it stays silent (a client that
# left is noticed when an event fails to go out).
POLL_S = 0.5
HEARTBEAT_S = 15.0
# Outcomes read from the store per page of a results download.
_PAGE = 500

_NOT_FOUND = {"404": "No job with this id, or one another API key created."}
_AUTH = {
    "401": "API keys are on and the request has no key or an unknown one.",
    "503": "The job store cannot be reached (`jobs_unavailable`); Retry-After says when to "
    "try again.",
}
SUBMIT_ERRORS = {
    "400": "Malformed JSON or upload (the message names the line), an unknown task, a wrong "
    "option, an unsupported language, an item id that is given twice or is not a string or "
    "an integer, no items, or a `callback_url` refused (`callback_refused`: not http(s), an "
    "address that is not public, or callbacks off). `field` names what is at fault.",
    "413": "More items than JOBS_MAX_ITEMS, or an upload over JOBS_MAX_BYTES (a JSON body: "
    "MAX_BODY_BYTES); the message names the limit.",
    "415": "The body is neither application/json nor application/x-ndjson.",
    "429": "The caller already has JOBS_MAX_IN_FLIGHT jobs queued or running "
    "(`too_many_jobs`), or a rate limit is spent.",
    "500": "A bug (`internal_error`): the message carries only the request id to quote.",
    **_AUTH,
}
S = TypeVar("S")


@bp.url_value_preprocessor
def _upload_limit(endpoint: str | None, values: dict[str, Any] | None) -> None:
    """An upload may be up to JOBS_MAX_BYTES, not MAX_BODY_BYTES. Set here, before any
    before-request hook, because access control may read the body first (to count its
    characters against RATE_LIMIT_CHARS)."""
    if endpoint == "jobs.submit" and request.mimetype == JSON_LINES:
        request.max_content_length = context.settings().jobs_max_bytes + 1


@contextmanager
def _store_errors() -> Iterator[None]:
    try:
        yield
    except jobs.StoreUnavailable:
        raise JobsUnavailable("the job store is unreachable; try again shortly") from None


def _store() -> jobs.JobStore:
    """The job store; JobsUnavailable when it cannot even be opened."""
    with _store_errors():
        return context.job_store()


def _owner() -> str | None:
    """Whose job this request may see: its key's name with keys on, else everyone's (None)."""
    return g.get("key_name")


def _job(job_id: str) -> jobs.Job:
    """The caller's job, or NotFound (also for another key's job)."""
    with _store_errors():
        job = _store().get(job_id)
    # A document's job is read at /v1/documents (its status has another shape).
    if job is None or job.spec.owner != _owner() or job.spec.task not in JOB_MODELS:
        raise NotFound(f"no job {job_id!r}", field="id")
    return job


def _status(job: jobs.Job) -> dict[str, Any]:
    return status_body(job, time.time())


@route(
    bp,
    "/v1/jobs",
    "POST",
    Doc(
        "Submit a job: summarise, translate or make articles of many texts in the background.",
        "v1",
        "Answers 202 at once with the job's id and `Location: /v1/jobs/<id>`; read its status "
        "there, its results at `/results` (JSON Lines, while it runs too), its progress at "
        "`/events`. `task` picks the options (those of `/v1/summarize`, `/v1/translate` or "
        "`/v1/articles`). An archive larger than one JSON body is uploaded as JSON Lines "
        "instead: `Content-Type: application/x-ndjson`, one item object per line, the task "
        "and options in the query string (`?task=translate&target=fr`, lists repeated or "
        "comma-separated); a line that is not JSON refuses the upload naming it, an item "
        "without a usable text is that item's error. An `Idempotency-Key` header (1 to 255 "
        "visible ASCII characters of your choice) makes a retry safe: the same key from the "
        "same caller gets the same job back (202, `Idempotent-Replayed: true`), never a second "
        "one.",
        JobRequest,
        JobCreated,
        SUBMIT_ERRORS,
        example={
            "task": "translate",
            "target": "fr",
            "items": [{"id": "a1", "text": "The talks resumed on Monday."}],
        },
        success="202",
        success_headers={"Location": "The job's status URL, `/v1/jobs/<id>`."},
    ),
)
def submit() -> Response:
    settings = context.settings()
    job_id = _idempotent_id()
    job, items = _read_job(settings)
    if job.callback_url is not None:
        context.webhooks().check(job.callback_url)
    _check_languages(job.task, job.job_options())
    spec = jobs.JobSpec(
        task=job.task, options=job.job_options(), owner=_owner(), callback_url=job.callback_url
    )
    with _store_errors():
        replayed = job_id is not None and _store().get(job_id) is not None
        try:
            created = _store().create(
                spec, items, max_in_flight=settings.jobs_max_in_flight, job_id=job_id
            )
        except jobs.TooManyJobs:
            raise TooManyJobs(
                f"{settings.jobs_max_in_flight} jobs are already queued or running for this "
                "caller (JOBS_MAX_IN_FLIGHT); wait for one to finish or cancel one"
            ) from None
    if created.status in jobs.FINISHED and not replayed:  # every item unusable: no worker runs it
        context.webhooks().on_finished(created)
    response = jsonify({"id": created.id, "status": created.status, "total": created.total})
    response.status_code = 202
    response.headers["Location"] = f"/v1/jobs/{created.id}"
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


def _idempotent_id() -> str | None:
    """The job id the request's Idempotency-Key names for this caller, or None without one."""
    key = request.headers.get(IDEMPOTENCY_KEY)
    if key is None:
        return None
    if not _KEY.fullmatch(key):
        raise InvalidRequest(
            f"{IDEMPOTENCY_KEY} must be 1 to 255 visible ASCII characters", field=IDEMPOTENCY_KEY
        )
    return jobs.idempotent_id(_owner(), key)


def _read_job(settings: Settings) -> tuple[Any, list[jobs.Item]]:
    """The job request and its items, from a JSON body or a JSON Lines upload (options in the
    query string, checked before the upload is read)."""
    if request.mimetype == JSON_LINES:
        job = _parsed(_query_options() | {"items": []})
        declared = request.content_length or 0
        if declared > settings.jobs_max_bytes:
            raise PayloadTooLarge(
                f"an upload of {declared} bytes; the limit is {settings.jobs_max_bytes} bytes "
                "(JOBS_MAX_BYTES)",
                field="items",
            )
        body = request.get_data(cache=True)
        limits = {"max_items": settings.jobs_max_items, "max_bytes": settings.jobs_max_bytes}
        return job, items_from_lines(body, **limits)
    if request.is_json:
        job = _parsed(context.json_body())
        return job, items_from_json(job.items, max_items=settings.jobs_max_items)
    raise UnsupportedMediaType(f"send the job as application/json, or its items as {JSON_LINES}")


def _parsed(body: Any) -> Any:
    """The job request, read with its task's model (so errors name the task's own fields)."""
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be a JSON object")
    model = JOB_MODELS.get(body.get("task")) if isinstance(body.get("task"), str) else None
    if model is None:
        raise InvalidRequest(f"task must be one of {', '.join(JOB_MODELS)}", field="task")
    return parse(model, body)


def _query_options() -> dict[str, Any]:
    """An upload's task and options from its query string, typed as a JSON body has them."""
    options: dict[str, Any] = {}
    for name in request.args:
        if name == "api_key":
            continue
        values = request.args.getlist(name)
        if name in _LISTS:
            options[name] = [v.strip() for value in values for v in value.split(",") if v.strip()]
        elif name in _NUMBERS:
            try:
                options[name] = int(values[-1])
            except ValueError:
                raise InvalidRequest(f"{name} must be an integer", field=name) from None
        else:
            options[name] = values[-1]
    return options


def _check_languages(task: str, options: dict[str, Any]) -> None:
    """Refuse now a language no model serves, rather than fail every item later."""
    pairs = {(pair.source, pair.target) for pair in context.engine().pairs()}
    wanted: list[tuple[str, str, str]] = []  # (source, target, field)
    if task == "translate":
        wanted.append((options.get("source", "en"), options["target"], "target"))
    elif task == "article":
        wanted += [("en", target, "translate_to") for target in options.get("translate_to", [])]
    for source, target, field in wanted:
        served = any(t == target and (source in (s, AUTO)) for s, t in pairs)
        if not served:
            listed = ", ".join(f"{s}-{t}" for s, t in sorted(pairs))
            raise UnsupportedLanguage(
                f"no model translates {source} to {target}; served: {listed}", field=field
            )


@route(
    bp,
    "/v1/jobs/<job_id>",
    "GET",
    Doc(
        "A job's status and progress.",
        "v1",
        "`status`, the items `done` (a result) and `failed` (an error) of `total`, when it "
        "started and finished, and `eta_s`, the seconds left at the rate so far.",
        response=JobStatus,
        errors=_NOT_FOUND | _AUTH,
        path_parameters={"job_id": "job-id"},
    ),
)
def status(job_id: str) -> Response:
    return jsonify(_status(_job(job_id)))


@route(
    bp,
    "/v1/jobs/<job_id>/results",
    "GET",
    Doc(
        "A job's results so far, as JSON Lines.",
        "v1",
        'One line per finished item, in the order they finished: `{"id", "result"}` (the '
        'result is what the task\'s route answers for one `text`) or `{"id", "error": '
        '{"code", "message"}}`. Streamed; while the job runs it holds what is done so far.',
        errors=_NOT_FOUND | _AUTH,
        media_type=JSON_LINES,
        path_parameters={"job_id": "job-id"},
    ),
)
def results(job_id: str) -> Response:
    _job(job_id)
    store = _store()
    with _store_errors():
        first = store.results(job_id, "", _PAGE)
    return Response(stream_with_context(_lines(store, job_id, first)), mimetype=JSON_LINES)


def _lines(store: jobs.JobStore, job_id: str, page: jobs.ResultPage) -> Iterator[bytes]:
    """Every outcome written until a page comes back empty (the store cannot answer after
    the first page: the download ends there, short; the status still says what is missing)."""
    while page.outcomes:
        yield b"".join(outcome_line(outcome) for outcome in page.outcomes)
        try:
            page = store.results(job_id, page.cursor, _PAGE)
        except jobs.StoreUnavailable:
            g.stream_error = "jobs_unavailable"
            return


@route(
    bp,
    "/v1/jobs/<job_id>/events",
    "GET",
    Doc(
        "A job's progress as Server-Sent Events.",
        "v1",
        "`progress` with the job's status (the shape of `GET /v1/jobs/<id>`) when it starts "
        "and each time items finish (at most every half second, and at least every 15 s), "
        "then `finished` with its final status; the stream ends there.",
        errors=_NOT_FOUND | _AUTH,
        media_type=events.EVENT_STREAM,
        path_parameters={"job_id": "job-id"},
    ),
)
def progress(job_id: str) -> Response:
    _job(job_id)
    store = _store()
    return events.stream(
        watch(store, job_id, context.jobs_draining), _named("progress"), "finished", _status
    )


def _named(name: str) -> Callable[[jobs.Job], tuple[str, dict[str, Any]]]:
    return lambda job: (name, _status(job))


def _counts(job: jobs.Job) -> tuple[Any, ...]:
    return (job.status, job.done, job.failed)


def watch(
    store: jobs.JobStore,
    job_id: str,
    draining: Callable[[], bool] = lambda: False,
    state: Callable[[jobs.Job], tuple[Any, ...]] = _counts,
) -> Generator[jobs.Job, None, jobs.Job]:
    """The job each time its `state` changes (or HEARTBEAT_S passed), until it is finished; a
    503 when this process starts stopping (an open stream would hold its shutdown until the job
    ends)."""
    seen: tuple[Any, ...] | None = None
    last_sent = 0.0
    while True:
        if draining():
            raise JobsUnavailable("this server is restarting; follow the job again in a moment")
        with _store_errors():
            job = store.get(job_id)
        if job is None:
            raise NotFound(f"job {job_id!r} is gone (purged)", field="id")
        if job.status in jobs.FINISHED:
            return job
        now = time.monotonic()
        now_state = state(job)
        if now_state != seen or now - last_sent >= HEARTBEAT_S:
            seen, last_sent = now_state, now
            yield job
        time.sleep(POLL_S)


@route(
    bp,
    "/v1/jobs/<job_id>",
    "DELETE",
    Doc(
        "Cancel a job.",
        "v1",
        "Items not yet started are dropped; items a worker is running finish and are written. "
        "Answers the job's status (`cancelled`, or its own if it had finished already); its "
        "results so far stay readable, and its callback, if any, is sent.",
        response=JobStatus,
        errors=_NOT_FOUND | _AUTH,
        path_parameters={"job_id": "job-id"},
    ),
)
def cancel(job_id: str) -> Response:
    before = _job(job_id)
    with _store_errors():
        after = _store().cancel(job_id)
    if after is None:
        raise NotFound(f"no job {job_id!r}", field="id")
    if before.status not in jobs.FINISHED and after.status == jobs.CANCELLED:
        context.webhooks().on_finished(after)
    return jsonify(_status(after))
