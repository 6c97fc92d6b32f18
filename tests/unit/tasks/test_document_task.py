"""The document operation on the tiny models: format errors become 400/413/415, segments go
through the translate path (markup as HTML), the result is named `<stem>.<target>.<ext>`."""

from __future__ import annotations

import pytest

from service.core.errors import InvalidRequest, PayloadTooLarge, UnsupportedMediaType
from service.documents.formats import DocumentLimits
from service.documents.registry import FORMATS
from service.tasks import DocumentRequest, TaskContext, TextLimits, translate_document
from service.tasks.documents import result_name
from service.text.language import LanguageDetector


@pytest.fixture
def ctx(engine) -> TaskContext:
    return TaskContext(engine, TextLimits(64, 100_000), LanguageDetector())


def test_a_text_file_is_translated_block_by_block(ctx: TaskContext) -> None:
    data = b"The council approved the new bridge.\n\n1234\n\nFarmers fear the drought.\n"
    result = translate_document(ctx, DocumentRequest(data, "news.txt", "fr"))
    blocks = result.data.decode().split("\n\n")
    assert len(blocks) == 3 and blocks[1] == "1234"  # no words: not sent to the model
    assert result.filename == "news.fr.txt" and result.format == "txt"
    assert result.segments == 3 and result.batch_ids and result.source == "en"


def test_markup_keeps_its_tags_through_the_html_path(ctx: TaskContext) -> None:
    data = b"Some **bold** words and `code` here.\n"
    result = translate_document(ctx, DocumentRequest(data, "a.md", "fr"))
    text = result.data.decode()
    assert text.count("**") == 2 and "`code`" in text


def test_auto_detects_the_document_language_once(ctx: TaskContext) -> None:
    data = b"The council approved the new bridge on Tuesday after a long debate.\n"
    result = translate_document(ctx, DocumentRequest(data, "a.txt", "fr", source="auto"))
    assert result.source == "en"
    already = "Le conseil a approuvé le nouveau pont mardi après un long débat.".encode()
    same = translate_document(ctx, DocumentRequest(already, "b.txt", "fr", source="auto"))
    assert same.data == already and same.batch_ids == []


@pytest.mark.parametrize(
    ("data", "error", "status"),
    [
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 20, UnsupportedMediaType, 415),
        (b"PK\x03\x04 truncated", InvalidRequest, 400),
        (b"x" * 101, PayloadTooLarge, 413),
    ],
)
def test_format_errors_become_service_errors(ctx: TaskContext, data, error, status) -> None:
    request = DocumentRequest(data, "f.docx", "fr", limits=DocumentLimits(max_bytes=100))
    with pytest.raises(error) as raised:
        translate_document(ctx, request)
    assert raised.value.status == status and raised.value.field == "file"


@pytest.mark.parametrize(
    ("name", "fmt", "expected"),
    [
        ("report.txt", "txt", "report.fr.txt"),
        ("C:\\Users\\me\\page.HTM", "html", "page.fr.htm"),
        ("../../etc/passwd", "txt", "passwd.fr.txt"),
        ("notes.docx", "txt", "notes.fr.txt"),
        ("", "md", "document.fr.md"),
        ("a b;c.srt", "srt", "a_b_c.fr.srt"),
    ],
)
def test_result_names(name: str, fmt: str, expected: str) -> None:
    assert result_name(name, FORMATS[fmt], "fr") == expected


def test_progress_is_told_after_each_call(ctx: TaskContext) -> None:
    paragraphs = [f"Report {i}: the council approved the bridge." for i in range(130)]
    data = ("\n\n".join([*paragraphs, "1234"]) + "\n").encode()
    told: list[tuple[int, int]] = []
    request = DocumentRequest(data, "a.txt", "fr", on_progress=lambda *a: told.append(a))
    translate_document(ctx, request)
    assert told == [(64, 130), (128, 130), (130, 130)]  # "1234" has no words: not sent


def test_inspect_reads_without_translating() -> None:
    from service.tasks import inspect_document

    info = inspect_document(b"The **new** bridge.\n\nFarmers fear.\n", "a.md", DocumentLimits())
    assert (info.format, info.segments) == ("md", 2)
    assert info.text == "The new bridge.\n\nFarmers fear."  # visible text: no markup
    assert info.characters == len("The new bridge.Farmers fear.")
    with pytest.raises(UnsupportedMediaType):
        inspect_document(b"\x89PNG\r\n\x1a\n" + bytes(256), "a.docx", DocumentLimits())


def _rewritten(data: bytes, member: str, change) -> bytes:
    """`data` (a zip) with one member's bytes passed through `change`."""
    import io
    import zipfile

    source, out = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            body = source.read(info.filename)
            target.writestr(info.filename, change(body) if info.filename == member else body)
    return out.getvalue()


def _damaged_files() -> dict[str, tuple[str, bytes]]:
    """Files whose damage the format libraries trip over with errors of their own (found by an
    independent review: each was a 500)."""
    import re

    from harness import documents, office

    return {
        "unknown XML encoding": (
            "report.docx",
            _rewritten(
                office.build_docx(),
                "[Content_Types].xml",
                lambda xml: re.sub(rb"encoding=.UTF-8.", b'encoding="x"', xml, count=1),
            ),
        ),
        "relationship without a target": (
            "slides.pptx",
            _rewritten(
                office.build_pptx(),
                "ppt/_rels/presentation.xml.rels",
                lambda xml: re.sub(rb' Target="[^"]*"', b"", xml, count=1),
            ),
        ),
        "manifest item without href": (
            "book.epub",
            _rewritten(
                documents.book(),
                "EPUB/content.opf",
                lambda xml: re.sub(rb' href="[^"]*"', b"", xml, count=1),
            ),
        ),
    }


@pytest.mark.parametrize("case", sorted(_damaged_files()))
def test_a_damaged_file_a_library_trips_over_is_a_400_not_a_500(case: str) -> None:
    from service.tasks.documents import inspect_document

    name, data = _damaged_files()[case]
    with pytest.raises(InvalidRequest) as refused:
        inspect_document(data, name, DocumentLimits())
    assert refused.value.status == 400 and refused.value.field == "file"
