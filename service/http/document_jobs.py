"""Documents as background jobs, for the surfaces that take them: `/v1/documents` and DeepL's
`/v2/document` read their own request shapes and answer their own, and share this: reading the
upload, refusing a bad file before anything is queued (the same 4xx as LibreTranslate's
`/translate_file`: 415 a format not served, 413 over a limit, 400 corrupt or hostile), checking
the languages, creating the job (`service.jobs.documents`), finding the caller's document job
(another key's, or a job that is not a document, is 404), and handing its result file over once.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Response, g, request, send_file

from service import tasks
from service.core.errors import (
    InvalidRequest,
    JobsUnavailable,
    NotFound,
    NotReady,
    PayloadTooLarge,
    TooManyJobs,
    UnsupportedLanguage,
)
from service.http import context
from service.jobs import store as jobs
from service.jobs.documents import DOCUMENT, UPLOAD, submit
from service.jobs.progress import rate_eta, status_body

# The endpoints whose body is a document upload: allowed DOC_MAX_BYTES (and the form's framing)
# instead of MAX_BODY_BYTES.
UPLOAD_ENDPOINTS = frozenset({"documents.submit", "deepl.document_upload"})


def allow_upload(endpoint: str | None) -> None:
    """Raise the body limit for a document upload: call before anything reads the body."""
    if endpoint in UPLOAD_ENDPOINTS:
        request.max_content_length = context.settings().doc_upload_bytes + 1


@contextmanager
def store_errors() -> Iterator[None]:
    try:
        yield
    except jobs.StoreUnavailable:
        raise JobsUnavailable("the job store is unreachable; try again shortly") from None


def owner() -> str | None:
    """Whose documents this request may see: its key's name with keys on, else everyone's."""
    return g.get("key_name")


def upload(name: str | None = None) -> tuple[str, bytes]:
    """The multipart `file` (named `name` when the client says so): its name and bytes, read
    up to one byte over DOC_MAX_BYTES (the format check then says 413)."""
    file = request.files.get("file")
    if file is None:
        raise InvalidRequest("send the document as the multipart field `file`", field="file")
    limit = context.document_limits().max_bytes
    return name or file.filename or "document", file.read(limit + 1)


def inspect(name: str, data: bytes) -> tasks.DocumentInfo:
    """The file read as its job will read it: the format's 415/413/400 now, not as a failed job."""
    return tasks.inspect_document(data, name, context.document_limits())


def check_pair(source: str, target: str, field: str) -> None:
    """Refuse now a language pair no model serves (`source` may be AUTO: any source)."""
    pairs = {(pair.source, pair.target) for pair in context.engine().pairs()}
    if not any(t == target and source in (s, tasks.AUTO) for s, t in pairs):
        listed = ", ".join(f"{s}-{t}" for s, t in sorted(pairs))
        raise UnsupportedLanguage(
            f"no model translates {source} to {target}; served: {listed}", field=field
        )


def check_summary(info: tasks.DocumentInfo) -> None:
    """A summary reads the document's text as one article: within MAX_TEXT_CHARS."""
    limit = context.settings().max_text_chars
    if not info.text.strip():
        raise InvalidRequest("the document has no text to summarise", field="file")
    if len(info.text) > limit:
        raise PayloadTooLarge(
            f"the document's text is {len(info.text):,} characters; a summary reads at most "
            f"{limit:,} (MAX_TEXT_CHARS)",
            field="file",
        )


def create(options: dict[str, Any], name: str, data: bytes, info: tasks.DocumentInfo) -> jobs.Job:
    """Queue the document job; TooManyJobs at JOBS_MAX_IN_FLIGHT, JobsUnavailable when the
    store is down (the upload is not kept then)."""
    settings = context.settings()
    spec = jobs.JobSpec(
        task=DOCUMENT,
        options=options | {"filename": name, "format": info.format, "characters": info.characters},
        owner=owner(),
    )
    with store_errors():
        try:
            return submit(
                context.job_store(),
                context.documents(),
                spec,
                (name, data, info.media_type),
                max_in_flight=settings.jobs_max_in_flight,
            )
        except jobs.TooManyJobs:
            raise TooManyJobs(
                f"{settings.jobs_max_in_flight} jobs are already queued or running for this "
                "caller (JOBS_MAX_IN_FLIGHT); wait for one to finish or cancel one"
            ) from None


def find(job_id: str) -> jobs.Job:
    """The caller's document job, or NotFound (another key's, or not a document job)."""
    with store_errors():
        job = context.job_store().get(job_id)
    if job is None or job.spec.task != DOCUMENT or job.spec.owner != owner():
        raise NotFound(f"no document {job_id!r}", field="id")
    return job


def outcome(job: jobs.Job) -> jobs.Outcome | None:
    """The document's outcome once written (its result, or its error); None before."""
    if job.done + job.failed == 0:
        return None
    with store_errors():
        page = context.job_store().results(job.id, "", 1)
    return page.outcomes[0] if page.outcomes else None


def status(job: jobs.Job, found: jobs.Outcome | None) -> dict[str, Any]:
    """`GET /v1/documents/<id>`: the jobs' status shape, `task` the document's task, with the
    document (name, format, characters), a running translation's progress, and once finished
    its result (without the file's id: it is downloaded at `/result`) or its error."""
    options, now = job.spec.options, time.time()
    body = status_body(job, now) | {"task": options.get("task", "translate")}
    body["document"] = {
        "filename": options.get("filename"),
        "format": options.get("format"),
        "characters": options.get("characters"),
    }
    noted = _noted(job)
    if noted is not None:
        done, total = noted
        body["progress"] = {"segments_done": done, "segments_total": total}
        if job.status == jobs.RUNNING:
            body["eta_s"] = rate_eta(job.started_at, now, done, total)
    if found is not None and found.error is not None:
        body["error"] = {"code": found.error.code, "message": found.error.message}
    elif found is not None:
        body["result"] = {k: v for k, v in found.result.items() if k != "file"}
    return body


def watched(job: jobs.Job) -> tuple[Any, ...]:
    """What a document's event stream follows: its counts and its noted segment progress."""
    return (job.status, job.done, job.failed, _noted(job))


def _noted(job: jobs.Job) -> tuple[int, int] | None:
    """How many segments of a translation are done, as its worker last noted; None before it
    starts and once finished (the note goes with the upload)."""
    upload_id = job.spec.options.get(UPLOAD)
    if not isinstance(upload_id, str) or job.status == jobs.QUEUED:
        return None
    return context.documents().progress(upload_id)


def download(job: jobs.Job) -> Response:
    """The result file, once: NotReady before it is done (or when it failed or was cancelled),
    NotFound once downloaded or expired."""
    found = outcome(job)
    if found is None or found.error is not None:
        why = found.error.message if found is not None and found.error else job.status
        raise NotReady(f"the document has no result: {why}", field="id")
    taken = context.documents().take(found.result["file"], owner())
    if taken is None:
        raise NotFound(
            "the result was downloaded already, or has expired (DOC_RETENTION_S)", field="id"
        )
    return send_file(
        io.BytesIO(taken.data),
        mimetype=taken.media_type,
        as_attachment=True,
        download_name=taken.name,
        max_age=0,
    )


def cancel(job: jobs.Job) -> jobs.Job:
    """Cancel the job and drop its upload if no worker has run it (one that has, read it)."""
    with store_errors():
        after = context.job_store().cancel(job.id)
    if after is None:
        raise NotFound(f"no document {job.id!r}", field="id")
    if after.status == jobs.CANCELLED and job.status == jobs.QUEUED:
        upload_id = job.spec.options.get(UPLOAD)
        if isinstance(upload_id, str):
            context.documents().delete(upload_id, owner())
    return after
