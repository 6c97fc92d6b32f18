"""Translate a document: find its format by its content, read its segments, translate them
through the translate operation's own path (`translate_texts`: plain segments as text, segments
with inline markup as HTML so that their tags stay around their words), and write them back
into a copy of the file.

The format errors become the service's errors in one table (`ERRORS`): a corrupt or hostile
file is 400, a file over a limit 413, a format not served 415. The whole document is translated
within the request's one deadline (ITEM_TIMEOUT_S), like any other request.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from service.core.errors import (
    InvalidRequest,
    PayloadTooLarge,
    ServiceError,
    UnsupportedMediaType,
)
from service.documents.formats import (
    BadDocument,
    DocumentFormat,
    DocumentLimits,
    DocumentTooLarge,
    Segment,
    UnsupportedDocument,
)
from service.documents.registry import detect
from service.tasks.context import TaskContext
from service.tasks.generation import GenerationOptions
from service.tasks.translate import AUTO, detect_pair, resolve_pair, translate_texts
from service.text.html import HtmlError, extract_texts

# A format's errors -> the service's (and so the HTTP status every surface gives them).
log = logging.getLogger(__name__)

ERRORS: dict[type[Exception], type[ServiceError]] = {
    BadDocument: InvalidRequest,
    DocumentTooLarge: PayloadTooLarge,
    UnsupportedDocument: UnsupportedMediaType,
}
# Segments handed to `translate_texts` per call: bounds what one call holds in flight.
SEGMENTS_PER_CALL = 64
# Characters of the document that `source: auto` detects its one language from.
DETECTION_SAMPLE_CHARS = 2000
_WORD_RE = re.compile(r"[^\W\d_]")
_UNSAFE_NAME_RE = re.compile(r"[^\w\-]+")


@dataclass(frozen=True)
class DocumentRequest:
    """A file to translate into `target` from `source` (a code, or AUTO: detected once for
    the whole document), its name as the client sent it, and the limits it is read within."""

    data: bytes
    filename: str
    target: str
    source: str = "en"
    limits: DocumentLimits = DocumentLimits()
    options: GenerationOptions = GenerationOptions()
    # Told (segments translated, segments to translate) after each call, for a job's progress.
    on_progress: Callable[[int, int], None] | None = None

    @property
    def items(self) -> int:
        return 1


@dataclass
class DocumentResult:
    """The translated file: its bytes, format name, media type and file name
    (`<stem>.<target>.<ext>`), how many segments were translated, and the source language."""

    data: bytes
    format: str
    media_type: str
    filename: str
    source: str
    segments: int = 0
    batch_ids: list[int] = field(default_factory=list)

    @property
    def items(self) -> int:
        return 1


@dataclass(frozen=True)
class DocumentInfo:
    """What a file holds, read without a model: its format, media type, segments, its words'
    characters (what DeepL bills) and its text, one segment per paragraph."""

    format: str
    media_type: str
    segments: int
    characters: int
    text: str


@contextmanager
def format_errors() -> Iterator[None]:
    """Raise a format's error as the service error `ERRORS` maps it to. Any other error from
    a format library on a file (one it trips over that its format did not foresee) is the
    file's fault as far as the client can tell: a 400, with the details only in the log."""
    try:
        yield
    except tuple(ERRORS) as exc:
        error = next(to for kind, to in ERRORS.items() if isinstance(exc, kind))
        raise error(str(exc), field="file") from None
    except ServiceError:
        raise
    except Exception:
        log.exception("a document format failed on a file")
        raise InvalidRequest(
            "the file could not be read: it is damaged or uses something this service cannot read",
            field="file",
        ) from None


def result_name(filename: str, fmt: DocumentFormat, target: str) -> str:
    """`<stem>.<target>.<ext>`: the sender's name without its folders and unsafe characters;
    the extension it had when the format knows it (`.htm`), else the format's own."""
    base = PurePosixPath(filename.replace("\\", "/")).name
    stem, dot, ext = base.rpartition(".")
    if not dot:
        stem, ext = base, ""
    suffix = f".{ext.lower()}"
    suffix = suffix if suffix in fmt.extensions else fmt.extensions[0]
    stem = _UNSAFE_NAME_RE.sub("_", stem).strip("._")[:100] or "document"
    return f"{stem}.{target}{suffix}"


def _visible_text(segment: Segment) -> str:
    if not segment.markup:
        return segment.text
    try:
        return " ".join(extract_texts(segment.text).texts)
    except HtmlError:
        return ""


def _source(ctx: TaskContext, segments: Sequence[Segment], request: DocumentRequest) -> str:
    """The source language: the one asked for, or with AUTO the one the
    document's first DETECTION_SAMPLE_CHARS are in (the target itself when already there)."""
    if request.source != AUTO:
        return request.source
    if ctx.detector is None:
        raise InvalidRequest("language detection is not available here", field="source")
    sample = " ".join(_visible_text(s) for s in segments[:50])[:DETECTION_SAMPLE_CHARS]
    if not _WORD_RE.search(sample):
        raise InvalidRequest("the document has no text to detect its language from")
    pair, found = detect_pair(
        ctx.engine, ctx.detector, sample, request.target, ctx.detection_languages()
    )
    return pair.source if pair is not None else found.language


def _translate_segments(
    ctx: TaskContext, segments: Sequence[Segment], source: str, request: DocumentRequest
) -> tuple[list[str], list[int]]:
    """A translation per segment (segments without words as they are) and the batch ids."""
    deadline = ctx.started()
    out, batch_ids = [s.text for s in segments], []
    todos = [
        [
            i
            for i, s in enumerate(segments)
            if s.markup == markup and (markup or _WORD_RE.search(s.text))
        ]
        for markup in (False, True)
    ]
    total, finished = sum(len(todo) for todo in todos), 0
    for markup, todo in zip((False, True), todos, strict=True):
        for start in range(0, len(todo), SEGMENTS_PER_CALL):
            chunk = todo[start : start + SEGMENTS_PER_CALL]
            done = translate_texts(
                ctx.engine,
                [segments[i].text for i in chunk],
                target=request.target,
                source=source,
                options=request.options,
                deadline=deadline,
                text_format="html" if markup else "text",
            )
            for i, translation in zip(chunk, done, strict=True):
                out[i] = translation.text
                batch_ids += translation.batch_ids
            finished += len(chunk)
            if request.on_progress is not None:
                request.on_progress(finished, total)
    return out, batch_ids


def translate_document(ctx: TaskContext, request: DocumentRequest) -> DocumentResult:
    """The document operation: detect, read, translate, write (see the module's docstring)."""
    if request.source != AUTO:  # a pair not served is refused before the file is read
        resolve_pair(ctx.engine, request.source, request.target)
    with format_errors():
        fmt = detect(request.data, request.filename, request.limits)
        segments = fmt.read(request.data, request.limits)
    source = _source(ctx, segments, request) if segments else request.source
    if source == request.target or not segments:
        translations, batch_ids = [s.text for s in segments], []
    else:
        translations, batch_ids = _translate_segments(ctx, segments, source, request)
    with format_errors():
        data = fmt.write(request.data, translations, request.target)
    return DocumentResult(
        data,
        fmt.name,
        fmt.media_type,
        result_name(request.filename, fmt, request.target),
        source,
        segments=len(segments),
        batch_ids=batch_ids,
    )


def inspect_document(data: bytes, filename: str, limits: DocumentLimits) -> DocumentInfo:
    """Read a file as `translate_document` will, without translating: the same service errors
    for a file that is not served (415), over a limit (413) or corrupt or hostile (400), so a
    background job refuses a bad file when it is uploaded, not when it runs."""
    with format_errors():
        fmt = detect(data, filename, limits)
        segments = fmt.read(data, limits)
    texts = [text for text in (_visible_text(s).strip() for s in segments) if text]
    return DocumentInfo(
        fmt.name,
        fmt.media_type,
        len(segments),
        sum(len(text) for text in texts if _WORD_RE.search(text)),
        "\n\n".join(texts),
    )


def summary_name(filename: str) -> str:
    """`<stem>.summary.md`: the name of a document's summary (the sender's name made safe)."""
    base = PurePosixPath(filename.replace("\\", "/")).name
    stem = base.rpartition(".")[0] or base
    stem = _UNSAFE_NAME_RE.sub("_", stem).strip("._")[:100] or "document"
    return f"{stem}.summary.md"
