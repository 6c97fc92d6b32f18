"""A file's format is decided by its content: zip members, cue syntax, markup; the name only
chooses between Markdown and plain text. Mislabelled, binary, macro and unknown files are
refused as unsupported, naming the formats served."""

from __future__ import annotations

import io
import random
import zipfile

import pytest

from harness import documents
from service.documents.formats import (
    BadDocument,
    DocumentLimits,
    DocumentTooLarge,
    UnsupportedDocument,
)
from service.documents.registry import FORMATS, detect, supported_extensions

LIMITS = DocumentLimits(max_bytes=100_000)
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 20
SRT = b"1\n00:00:01,000 --> 00:00:02,000\nHello.\n"


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _ooxml(content_type: str, extra: dict[str, bytes] | None = None) -> bytes:
    types = (
        '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
        f'content-types"><Override PartName="/word/document.xml" ContentType="{content_type}"/>'
        "</Types>"
    ).encode()
    return _zip({"[Content_Types].xml": types, "word/document.xml": b"<d/>", **(extra or {})})


DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
DOCM = "application/vnd.ms-word.document.macroEnabled.main+xml"


@pytest.mark.parametrize(
    ("data", "name", "expected"),
    [
        (b"Hello.\n\nWorld.", "notes.txt", "txt"),
        (b"# Title\n\nText.", "notes.md", "md"),
        (b"# Title\n\nText.", "notes.txt", "txt"),
        (b"<!DOCTYPE html><html><body><p>Hi</p></body></html>", "page.txt", "html"),
        (b"<p>Hi <b>there</b></p>", "x", "html"),
        (b"  <!-- c --> <div>Hi</div>", "x.md", "html"),
        (b"<notatag> is not markup", "x.txt", "txt"),
        (SRT, "subs.txt", "srt"),
        (b"\xef\xbb\xbf" + SRT, "subs.srt", "srt"),
        (b"WEBVTT\n\n00:01.000 --> 00:02.000\nHello.\n", "subs.srt", "vtt"),
        (b"WEBVTT - a title\n\n00:01.000 --> 00:02.000\nHello.\n", "x", "vtt"),
        (b"WEBVTTX is a word", "x", "txt"),
        ("Bonjour.".encode("utf-16"), "x.txt", "txt"),
        (_zip({"mimetype": b"application/epub+zip", "a.xhtml": b"<html/>"}), "b.txt", "epub"),
    ],
)
def test_the_format_is_decided_by_content(data: bytes, name: str, expected: str) -> None:
    assert detect(data, name, LIMITS).name == expected


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (PNG, "photo.docx", "binary"),
        (b"%PDF-1.7\n%plain ascii", "a.pdf", "binary"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00", "old.doc", "binary"),
        ("caf\u00e9".encode("latin-1"), "x.txt", "other than UTF-8"),
        (b"", "x.txt", "empty"),
        (b"  \n ", "x.txt", "empty"),
        (_zip({"a.txt": b"hello"}), "a.docx", "this kind of zip archive"),
        (_zip({"mimetype": b"application/vnd.oasis.opendocument.spreadsheet"}), "a.odt", "ods"),
        (_ooxml(DOCM), "report.docx", "macro-enabled"),
        (_ooxml(DOCX, {"word/vbaProject.bin": b"\0" * 10}), "report.docx", "macro-enabled"),
    ],
)
def test_unsupported_files_are_refused_naming_the_formats_served(
    data: bytes, name: str, message: str
) -> None:
    with pytest.raises(UnsupportedDocument, match=message) as refused:
        detect(data, name, LIMITS)
    assert f"supported formats: {', '.join(FORMATS)}" in str(refused.value)


def test_a_format_found_but_not_registered_is_unsupported() -> None:
    # A Word template is recognised as what it is, but no format reads templates.
    template = "application/vnd.openxmlformats-officedocument.wordprocessingml.template.main+xml"
    with pytest.raises(UnsupportedDocument, match="dotx files cannot be translated here"):
        detect(_ooxml(template), "report.docx", LIMITS)


def test_an_office_document_is_read_by_its_content_whatever_its_name() -> None:
    assert detect(_ooxml(DOCX), "report.txt", LIMITS) is FORMATS["docx"]


def test_limits_and_corruption_come_before_the_format() -> None:
    with pytest.raises(DocumentTooLarge):
        detect(b"x" * 100_001, "big.txt", LIMITS)
    with pytest.raises(BadDocument, match="not a readable zip"):
        detect(_zip({"a.txt": b"hello" * 100})[:50], "cut.docx", LIMITS)
    bomb = _zip({"mimetype": b"application/epub+zip", "bomb.bin": b"\0" * 2_000_000})
    with pytest.raises(DocumentTooLarge, match="zip bomb"):
        detect(bomb, "book.epub", DocumentLimits(max_bytes=100_000))


def test_every_registered_format_lists_its_extensions() -> None:
    extensions = supported_extensions()
    assert {".txt", ".md", ".html", ".srt", ".vtt", ".epub"} <= set(extensions)
    assert all(ext.startswith(".") for ext in extensions)
    for name, fmt in FORMATS.items():
        assert fmt.name == name and fmt.extensions and fmt.media_type


def _mutations(base: bytes, rnd: random.Random, count: int) -> list[bytes]:
    """`base` cut short, with bytes overwritten, or with a run repeated."""
    out = []
    for _ in range(count):
        data = bytearray(base)
        kind = rnd.choice(["cut", "flip", "repeat"])
        if kind == "cut":
            data = data[: rnd.randrange(len(data))]
        elif kind == "flip":
            for _ in range(rnd.randint(1, 5)):
                data[rnd.randrange(len(data))] = rnd.randrange(256)
        else:
            at = rnd.randrange(len(data))
            data = data[:at] + data[at : at + 50] * 3 + data[at:]
        out.append(bytes(data))
    return out


@pytest.mark.parametrize(
    ("name", "base"),
    [
        ("a.epub", documents.book(2)),
        ("a.srt", documents.subtitles("srt")),
        ("a.vtt", documents.subtitles("vtt")),
        ("a.md", documents.MARKDOWN.encode()),
        ("a.html", documents.HTML.encode()),
    ],
)
def test_damaged_real_files_fail_only_as_bad_documents(name: str, base: bytes) -> None:
    """Read and written back, or refused with one of the three format errors: nothing else
    (a zlib error, a library's own exception) may escape to become a 500."""
    for data in _mutations(base, random.Random(name), 60):
        try:
            fmt = detect(data, name, LIMITS)
            segments = fmt.read(data, LIMITS)
            fmt.write(data, [s.text for s in segments], "ar")
        except (BadDocument, DocumentTooLarge, UnsupportedDocument):
            pass
