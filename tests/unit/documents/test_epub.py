"""EPUB: every XHTML document is a segment; the translation is a copy of the book with only
its documents and its package's language and page progression changed; ebooklib reopens it."""

from __future__ import annotations

import io
import zipfile

import ebooklib
import pytest
from ebooklib import epub

from harness.documents import SENTENCES, book
from service.documents.epub import Epub, mark_package
from service.documents.formats import BadDocument, DocumentLimits, DocumentTooLarge

LIMITS = DocumentLimits()


def reopen(data: bytes) -> epub.EpubBook:
    return epub.read_epub(io.BytesIO(data), options={"ignore_ncx": True})


def test_every_document_is_a_markup_segment() -> None:
    segments = Epub().read(book(3), LIMITS)
    assert len(segments) == 4  # three chapters and the navigation page
    assert all(s.markup for s in segments)
    assert sum(f"<p>{SENTENCES[0]}</p>" in s.text for s in segments) == 3


def test_the_translation_keeps_the_book_and_marks_arabic_right_to_left() -> None:
    data = book(2)
    fmt = Epub()
    segments = fmt.read(data, LIMITS)
    written = fmt.write(data, [s.text.replace("council", "مجلس") for s in segments], "ar")
    reopened = reopen(written)
    assert reopened.get_metadata("DC", "title")[0][0] == "The Bridge"
    assert reopened.get_metadata("DC", "creator")[0][0] == "A. Reporter"
    assert reopened.get_metadata("DC", "language")[0][0] == "ar"
    documents = list(reopened.get_items_of_type(ebooklib.ITEM_DOCUMENT))
    assert len(documents) == 3
    chapters = [d.content.decode() for d in documents if d.file_name.startswith("ch")]
    assert all("مجلس" in c and 'dir="rtl"' in c and 'lang="ar"' in c for c in chapters)
    archive = zipfile.ZipFile(io.BytesIO(written))
    assert archive.namelist() == zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert archive.infolist()[0].filename == "mimetype"
    assert archive.infolist()[0].compress_type == zipfile.ZIP_STORED
    assert archive.read("EPUB/style.css") == b"p{}"
    assert 'page-progression-direction="rtl"' in archive.read("EPUB/content.opf").decode()


def test_the_spine_direction_is_set_and_replaced() -> None:
    opf = '<package><dc:language>en</dc:language><spine toc="ncx"><itemref/></spine></package>'
    assert mark_package(opf, "ar") == (
        '<package><dc:language>ar</dc:language><spine toc="ncx" '
        'page-progression-direction="rtl"><itemref/></spine></package>'
    )
    rtl = '<spine page-progression-direction="rtl">'
    assert mark_package(rtl, "fr") == '<spine page-progression-direction="ltr">'
    assert mark_package("<spine>", "fr") == "<spine>"


def test_a_book_whose_package_is_missing_is_a_bad_document() -> None:
    data = book(1)
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as broken:
        for info in source.infolist():
            if not info.filename.endswith(".opf"):
                broken.writestr(info, source.read(info))
    with pytest.raises(BadDocument):
        Epub().read(out.getvalue(), LIMITS)


def test_limits_apply_before_ebooklib_opens_the_book() -> None:
    with pytest.raises(DocumentTooLarge):
        Epub().read(book(1), DocumentLimits(max_members=3))
