"""`/v1/documents`: a document translated or summarised in the background. The upload is
checked at once (a file that is not served, over a limit, corrupt or hostile is refused with
the 4xx LibreTranslate's `/translate_file` gives it) and queued as a job of one item
(`service.jobs.documents`): answered 202 with its id, read back as the jobs are (status with
the same shape and ETA, progress as Server-Sent Events), its result file downloaded once from
`/result`; DELETE cancels it. With API keys on, a document belongs to the key that sent it.
"""

from __future__ import annotations

from typing import Any, Literal

from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel, ConfigDict, Field

from service import tasks
from service.core.errors import InvalidRequest
from service.http import context, events
from service.http import document_jobs as documents
from service.http.bodies import parse
from service.http.described import Doc, SourceOrAuto, Target, route
from service.http.v1.jobs import watch
from service.jobs import store as jobs

bp = Blueprint("documents", __name__)

_LANGUAGE = r"^[a-z]{2,3}$"
_NOT_FOUND = {"404": "No document with this id, or one another API key sent."}
_AUTH = {
    "401": "API keys are on and the request has no key or an unknown one.",
    "503": "The job store cannot be reached (`jobs_unavailable`); Retry-After says when to "
    "try again.",
}
SUBMIT_ERRORS = {
    "400": "No `file`, a wrong option, an unsupported language, or a corrupt, truncated or "
    "hostile document (XML entity declarations).",
    "413": "The file is over DOC_MAX_BYTES or over the zip limits (a zip bomb); for a summary, "
    "its text over MAX_TEXT_CHARS.",
    "415": "The file's content is not a format served, or it is a macro-enabled Office file.",
    "429": "The caller already has JOBS_MAX_IN_FLIGHT jobs queued or running "
    "(`too_many_jobs`), or a rate limit is spent.",
    **_AUTH,
    "503": _AUTH["503"] + " Also when the store of documents is full (`storage_full`).",
}


class DocumentOptions(BaseModel):
    """The form fields besides the file, read as strings (lists comma-separated)."""

    model_config = ConfigDict(extra="forbid")
    task: Literal["translate", "summarize"] = Field(
        "translate",
        description="`translate`: the document translated into `target`, in its own format. "
        "`summarize`: its text summarised (and translated into each of `translate_to`), as a "
        "Markdown file.",
    )
    target: Target | None = Field(
        None, pattern=_LANGUAGE, description="`translate`: the language to translate into."
    )
    source: SourceOrAuto = Field(
        "auto",
        pattern=r"^([a-z]{2,3}|auto)$",
        description="The document's language, or `auto`: detected once from its first paragraphs.",
    )
    translate_to: list[Target] = Field(
        default_factory=list,
        max_length=8,
        description="`summarize`: languages to translate the summary into (comma-separated).",
    )
    length: Literal[tuple(tasks.LENGTH_PRESETS)] | None = Field(  # type: ignore[valid-type]
        None, description="`summarize`: the summary's length preset."
    )
    style: Literal["paragraph", "bullets"] = Field(
        "paragraph", description="`summarize`: `bullets` writes the summary as a list."
    )


class DocumentUpload(DocumentOptions):
    file: bytes = Field(
        description="The document: its format is decided by its content (see the README's "
        "Documents); at most DOC_MAX_BYTES."
    )


class DocumentCreated(BaseModel):
    id: str = Field(description="The document job's id; `Location` is its status URL.")
    status: Literal["queued"]
    task: Literal["translate", "summarize"]
    format: str = Field(description="The format the file was read as (by its content).")


class DocumentStatus(BaseModel):
    id: str
    task: Literal["translate", "summarize"]
    status: Literal[jobs.STATUSES] = Field(  # type: ignore[valid-type]
        description="`queued`, `running`, `done` (the result is ready), `failed` (see `error`) "
        "or `cancelled`."
    )
    total: int = Field(description="1: a document is one item.")
    done: int
    failed: int
    created_at: str
    started_at: str | None
    finished_at: str | None
    eta_s: float | None = Field(
        description="Seconds left: while a translation runs, at its rate of segments so far; "
        "0 once finished; null before anything can be measured."
    )
    document: dict[str, Any] = Field(description="`filename`, `format`, `characters`.")
    progress: dict[str, int] | None = Field(
        None,
        description="While a translation runs: `segments_done` of `segments_total` (noted "
        "after every 64 segments).",
    )
    result: dict[str, Any] | None = Field(
        None,
        description="When done: `filename`, `media_type`, `format` and, for `translate`, "
        "`source`, `target`, `segments`; for `summarize`, `summary` and `translations`.",
    )
    error: dict[str, Any] | None = Field(None, description="When failed: `code`, `message`.")


@bp.url_value_preprocessor
def upload_limit(endpoint: str | None, values: dict[str, Any] | None) -> None:
    documents.allow_upload(endpoint)


def _options() -> DocumentOptions:
    values: dict[str, Any] = {}
    for name, value in request.form.items():
        if name == "api_key":
            continue
        if name == "translate_to":
            joined = ",".join(request.form.getlist(name))
            values[name] = [v.strip() for v in joined.split(",") if v.strip()]
        else:
            values[name] = value
    return parse(DocumentOptions, values)


@route(
    bp,
    "/v1/documents",
    "POST",
    Doc(
        "Translate or summarise a document in the background.",
        "v1",
        "A multipart upload: `file` and the options as form fields. The file is read at once: "
        "one not served, over a limit, corrupt or hostile is refused here (415, 413, 400), "
        "never queued. Answers 202 with the job's id and `Location: /v1/documents/<id>`; read "
        "its status there, its progress at `/events`, download its result once at `/result`.",
        DocumentUpload,
        DocumentCreated,
        SUBMIT_ERRORS,
        success="202",
        success_headers={"Location": "The document's status URL, `/v1/documents/<id>`."},
        request_media_type="multipart/form-data",
    ),
)
def submit() -> Response:
    options = _options()
    name, data = documents.upload()
    if options.task == "translate":
        if options.target is None:
            raise InvalidRequest("target is required to translate", field="target")
        documents.check_pair(options.source, options.target, "target")
    for target in options.translate_to:
        documents.check_pair("en", target, "translate_to")
    info = documents.inspect(name, data)
    if options.task == "summarize":
        documents.check_summary(info)
    values = options.model_dump(exclude_none=True)
    job = documents.create(values, name, data, info)
    response = jsonify(
        {"id": job.id, "status": job.status, "task": options.task, "format": info.format}
    )
    response.status_code = 202
    response.headers["Location"] = f"/v1/documents/{job.id}"
    return response


@route(
    bp,
    "/v1/documents/<job_id>",
    "GET",
    Doc(
        "A document job's status.",
        "v1",
        "The jobs' status shape (`GET /v1/jobs/<id>`) with `task`, the `document` read, and "
        "once finished its `result` (what the file holds) or its `error`.",
        response=DocumentStatus,
        errors=_NOT_FOUND | _AUTH,
        path_parameters={"job_id": "job-id"},
    ),
)
def status(job_id: str) -> Response:
    job = documents.find(job_id)
    return jsonify(documents.status(job, documents.outcome(job)))


@route(
    bp,
    "/v1/documents/<job_id>/events",
    "GET",
    Doc(
        "A document job's progress as Server-Sent Events.",
        "v1",
        "`progress` with its status (the shape of `GET /v1/documents/<id>`) when it starts "
        "and each time it changes, then `finished` with its final status; the stream ends there.",
        errors=_NOT_FOUND | _AUTH,
        media_type=events.EVENT_STREAM,
        path_parameters={"job_id": "job-id"},
    ),
)
def progress(job_id: str) -> Response:
    documents.find(job_id)
    store = context.job_store()
    return events.stream(
        watch(store, job_id, context.jobs_draining, documents.watched),
        lambda job: ("progress", _status(job)),
        "finished",
        _status,
    )


def _status(job: jobs.Job) -> dict[str, Any]:
    return documents.status(job, documents.outcome(job))


@route(
    bp,
    "/v1/documents/<job_id>/result",
    "GET",
    Doc(
        "A document job's result file, once.",
        "v1",
        "`translate`: the translated document, its media type, named `<stem>.<target>.<ext>` "
        "(`Content-Disposition`). `summarize`: a Markdown file `<stem>.summary.md`: the "
        "summary, then a section per language of `translate_to`. Served once: the file is "
        "deleted as it is downloaded (or after DOC_RETENTION_S).",
        errors=_NOT_FOUND
        | _AUTH
        | {
            "404": "No document with this id (or another key's), or its result was downloaded "
            "already or has expired.",
            "409": "Not ready (`not_ready`): queued or running, or it failed or was cancelled "
            "(the message says which).",
        },
        media_type="application/octet-stream",
        path_parameters={"job_id": "job-id"},
    ),
)
def result(job_id: str) -> Response:
    return documents.download(documents.find(job_id))


@route(
    bp,
    "/v1/documents/<job_id>",
    "DELETE",
    Doc(
        "Cancel a document job.",
        "v1",
        "A document not started is dropped with its upload; one a worker is running finishes "
        "and its result stays downloadable. Answers its status.",
        response=DocumentStatus,
        errors=_NOT_FOUND | _AUTH,
        path_parameters={"job_id": "job-id"},
    ),
)
def cancel(job_id: str) -> Response:
    return jsonify(_status(documents.cancel(documents.find(job_id))))
