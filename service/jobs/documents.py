"""Documents as background jobs: a job of one item (`document`) whose text is the id of the
uploaded file, waiting in the file store (`FileStore`, DATA_DIR/documents), under the job's
owner. The job machinery does the rest: the store keeps the job across restarts, a worker claims
the item, and a worker that dies leaves the upload in place for the next one to read again.

`submit` stores the upload and creates the job (the upload is removed if the job cannot be
created); the caller has already read the file (`tasks.inspect_document`), so a bad file is
refused before anything is queued. `run_document` is the item's operation: it reads the upload,
runs `translate` (the document operation: the translated file) or `summarize` (the document's
text through the article operation: a Markdown file of the summary, then one section per
language of `translate_to`), stores the result file for its one download, and removes the
upload. Its answer (the item's result) names the result file and says what it holds.

An upload removed before its job ran (DOC_RETENTION_S passed while it waited) is the item's
`not_found` error. While a translation runs, its worker notes how many segments are done
beside the upload (`FileStore.note_progress`), so any process can tell a document's progress.
A passing refusal (Overloaded, a full file store) keeps the upload: the
runner hands the item back and it runs again later.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from service import tasks
from service.core.config import Settings
from service.core.errors import InvalidRequest, NotFound, ServiceError
from service.documents.formats import DocumentLimits
from service.jobs.files import FileStore
from service.jobs.store import Item, Job, JobSpec, JobStore
from service.text.language import language_name

DOCUMENT = "document"
# What a document job does, the `task` of its options.
TASKS = ("translate", "summarize")
ITEM_ID = "document"
# The option naming the upload's id in the file store (so a cancel can remove it).
UPLOAD = "upload"
SUMMARY_MEDIA_TYPE = "text/markdown; charset=utf-8"


def limits_for(settings: Settings) -> DocumentLimits:
    """DOC_MAX_BYTES and the zip limits, as the document formats read them."""
    return DocumentLimits(
        max_bytes=settings.doc_max_bytes,
        max_members=settings.doc_max_members,
        max_uncompressed_bytes=settings.doc_max_uncompressed_bytes,
        max_compression_ratio=settings.doc_max_compression_ratio,
    )


def file_store_for(settings: Settings) -> FileStore:
    """The store of uploads and results (`DATA_DIR/documents`), shared by the requests and the
    jobs' worker of a process (and by every process on that directory)."""
    return FileStore(
        Path(settings.data_dir) / "documents",
        max_bytes=settings.doc_store_bytes,
        retention_s=settings.doc_retention_s,
        max_owner_bytes=int(settings.doc_store_bytes * settings.doc_store_key_share),
    )


def submit(
    store: JobStore,
    files: FileStore,
    spec: JobSpec,
    upload: tuple[str, bytes, str],
    *,
    max_in_flight: int | None = None,
) -> Job:
    """Store the upload (name, bytes, media type) for `spec.owner` and create the job that
    will run it; nothing is left behind when either step fails (the store's errors pass)."""
    name, data, media_type = upload
    input_id = files.put(spec.owner, name, data, media_type)
    spec = replace(spec, options={**spec.options, UPLOAD: input_id})
    try:
        return store.create(spec, [Item(ITEM_ID, input_id)], max_in_flight=max_in_flight)
    except BaseException:
        files.delete(input_id, spec.owner)
        raise


def run_document(
    ctx: tasks.TaskContext,
    files: FileStore,
    limits: DocumentLimits,
    spec: JobSpec,
    input_id: str,
) -> dict[str, Any]:
    """The document item's operation (see the module's docstring); its JSON-ready result."""
    stored = files.read(input_id, spec.owner)
    if stored is None:
        raise NotFound(
            "the uploaded document is gone: it waited longer than DOC_RETENTION_S, or the job "
            "was cancelled"
        )
    options = spec.options
    try:
        if options.get("task") == "summarize":
            body = _summarize(ctx, files, limits, spec, stored.data)
        else:
            body = _translate(ctx, files, limits, spec, stored.data, input_id)
    except ServiceError as exc:
        if not exc.retry_after:
            files.delete(input_id, spec.owner)
        raise
    # The upload stays until the outcome is written (`settle`): a worker that dies before
    # writing it leaves the item to another, which must find the upload still there.
    return body


def settle(files: FileStore, spec: JobSpec, input_id: str, result: Any, written: bool) -> None:
    """After a document item's outcome was written (or found written by another worker): the
    upload is no longer needed; a result file nobody's outcome names (ours, when another
    worker's outcome was written first) is deleted."""
    files.delete(input_id, spec.owner)
    if not written and isinstance(result, dict) and isinstance(result.get("file"), str):
        files.delete(result["file"], spec.owner)


def _name(options: Mapping[str, Any]) -> str:
    return str(options.get("filename") or "document")


def _translate(
    ctx: tasks.TaskContext,
    files: FileStore,
    limits: DocumentLimits,
    spec: JobSpec,
    data: bytes,
    input_id: str,
) -> dict[str, Any]:
    options = spec.options
    target = options.get("target")
    if not isinstance(target, str):
        raise InvalidRequest("option target is required", field="target")
    request = tasks.DocumentRequest(
        data,
        _name(options),
        target,
        str(options.get("source", tasks.AUTO)),
        limits=limits,
        options=tasks.GenerationOptions(num_beams=options.get("num_beams")),
        on_progress=lambda done, total: files.note_progress(input_id, done, total),
    )
    result = tasks.translate_document(ctx, request)
    file_id = files.put(spec.owner, result.filename, result.data, result.media_type)
    return {
        "file": file_id,
        "filename": result.filename,
        "media_type": result.media_type,
        "format": result.format,
        "source": result.source,
        "target": target,
        "segments": result.segments,
        "characters": options.get("characters"),
    }


def _summarize(
    ctx: tasks.TaskContext,
    files: FileStore,
    limits: DocumentLimits,
    spec: JobSpec,
    data: bytes,
) -> dict[str, Any]:
    options = spec.options
    info = tasks.inspect_document(data, _name(options), limits)
    if not info.text.strip():
        raise InvalidRequest("the document has no text to summarise", field="file")
    request = tasks.ArticleRequest(
        info.text,
        list(options.get("translate_to", [])),
        str(options.get("source", tasks.SUMMARY_LANGUAGE)),
        tasks.GenerationOptions(length=options.get("length")),
        style=str(options.get("style", "paragraph")),
    )
    article = tasks.article(ctx, request)
    name = tasks.summary_name(_name(options))
    text = summary_markdown(_name(options), article)
    file_id = files.put(spec.owner, name, text.encode("utf-8"), SUMMARY_MEDIA_TYPE)
    return {
        "file": file_id,
        "filename": name,
        "media_type": SUMMARY_MEDIA_TYPE,
        "format": info.format,
        "summary": article.summary.text,
        "translations": {lang: t.text for lang, t in article.translations.items()},
        "characters": info.characters,
    }


def summary_markdown(filename: str, article: tasks.Article) -> str:
    """The summary file: a title naming the document, the summary (its bullets as a list when
    asked for), then a section per translation, titled by the language's name and code."""
    lines = [f"# Summary of {filename}", "", _body(article.summary.text, article.summary.bullets)]
    for lang, translation in article.translations.items():
        bullets = article.translated_bullets(lang) if article.summary.bullets else None
        lines += ["", f"## {language_name(lang)} ({lang})", "", _body(translation.text, bullets)]
    return "\n".join(lines) + "\n"


def _body(text: str, bullets: list[str] | None) -> str:
    return "\n".join(f"- {b}" for b in bullets) if bullets else text
