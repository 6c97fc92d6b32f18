"""EPUB (.epub): every XHTML document of the book (chapters and the navigation page) is one
segment on the HTML path, tags and attributes kept; images, styles, fonts, the table of contents
file (`toc.ncx`) and the metadata are copied unchanged, except the language: `dc:language`
becomes the target, each document gets `lang`/`xml:lang` (and `dir="rtl"` for a right-to-left
target) and the spine `page-progression-direction="rtl"`, so readers turn pages the right way.

ebooklib reads the book (the manifest, which items are XHTML documents, where the package file
is) after `safety.open_zip` has checked the archive and every XML member in it. The translation
is written by copying the original archive member by member and replacing only the documents
and the package file: ebooklib's own writer would regenerate the package, navigation and
metadata from its model of the book, and lose what it does not model.
"""

from __future__ import annotations

import io
import posixpath
import re
import zipfile
import zlib
from collections.abc import Sequence

import ebooklib
from ebooklib import epub
from lxml.etree import LxmlError

from service.documents.direction import direction, is_rtl
from service.documents.formats import BadDocument, DocumentLimits, Segment
from service.documents.html import mark_language
from service.documents.safety import check_xml, open_zip, read_member

MIMETYPE = "application/epub+zip"
_CONTAINER = "META-INF/container.xml"
_ROOTFILE = "{urn:oasis:names:tc:opendocument:xmlns:container}rootfile"
_SPINE_RE = re.compile(r"<((?:\w+:)?spine)\b([^>]*?)(/?)>")
_PROGRESSION_RE = re.compile(r"""\s+page-progression-direction\s*=\s*(["'])[^"']*\1""")
_LANGUAGE_RE = re.compile(r"(<dc:language\b[^>]*>)[^<]*(</dc:language>)")
# What ebooklib raises on a book it cannot make sense of (missing items, broken package).
# and what zipfile raises for a member it cannot inflate (ebooklib reads every member).
_EBOOKLIB_ERRORS = (
    epub.EpubException,
    KeyError,
    ValueError,
    IndexError,
    AttributeError,
    TypeError,
    LxmlError,
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    OSError,
    NotImplementedError,
)


def _package_path(archive: zipfile.ZipFile) -> str:
    root = check_xml(read_member(archive, _CONTAINER), _CONTAINER)
    found = root.find(f".//{_ROOTFILE}")
    path = found.get("full-path") if found is not None else None
    if not path:
        raise BadDocument("the EPUB's container.xml names no package file")
    return path


def _documents(data: bytes, limits: DocumentLimits) -> tuple[zipfile.ZipFile, str, list[str]]:
    """The checked archive, its package file's path and its XHTML documents' paths."""
    archive = open_zip(data, limits)
    package = _package_path(archive)
    try:
        book = epub.read_epub(io.BytesIO(data), options={"ignore_ncx": True})
        names = [item.file_name for item in book.get_items_of_type(ebooklib.ITEM_DOCUMENT)]
    except _EBOOKLIB_ERRORS as exc:
        raise BadDocument(f"the EPUB cannot be read: {exc}") from None
    base = posixpath.dirname(package)
    paths = [posixpath.normpath(posixpath.join(base, name)) for name in names]
    present = set(archive.namelist())
    return archive, package, [path for path in paths if path in present]


def _decoded(raw: bytes, name: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadDocument(f"{name} in the EPUB is not UTF-8") from None


def mark_package(opf: str, target: str) -> str:
    """The package file with `dc:language` set to `target` and the spine's page progression
    set for a right-to-left target (or an existing one set to `ltr`)."""
    opf = _LANGUAGE_RE.sub(lambda m: f"{m.group(1)}{target}{m.group(2)}", opf)

    def spine(match: re.Match[str]) -> str:
        attrs = match.group(2)
        if not is_rtl(target) and not _PROGRESSION_RE.search(attrs):
            return match.group(0)
        attrs = _PROGRESSION_RE.sub("", attrs)
        progression = f' page-progression-direction="{direction(target)}"'
        return f"<{match.group(1)}{attrs}{progression}{match.group(3)}>"

    return _SPINE_RE.sub(spine, opf, count=1)


def _same_entry(info: zipfile.ZipInfo) -> zipfile.ZipInfo:
    """A new directory entry like `info` (name, time, compression, attributes): writing mutates
    the entry it is given, and `info` belongs to the archive still being read."""
    entry = zipfile.ZipInfo(info.filename, info.date_time)
    entry.compress_type = info.compress_type
    entry.external_attr = info.external_attr
    entry.create_system = info.create_system
    return entry


class Epub:
    """An EPUB 2 or 3 book."""

    name = "epub"
    extensions = (".epub",)
    media_type = MIMETYPE

    def read(self, data: bytes, limits: DocumentLimits) -> list[Segment]:
        archive, _, paths = _documents(data, limits)
        return [Segment(_decoded(read_member(archive, path), path), markup=True) for path in paths]

    def write(self, data: bytes, translations: Sequence[str], target: str) -> bytes:
        archive, package, paths = _documents(data, DocumentLimits(max_bytes=len(data)))
        replaced = {
            path: mark_language(text, target, wrap=False).encode("utf-8")
            for path, text in zip(paths, translations, strict=True)
        }
        opf = _decoded(read_member(archive, package), package)
        replaced[package] = mark_package(opf, target).encode("utf-8")
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as copy:
            for info in archive.infolist():
                body = replaced.get(info.filename)
                if body is None:
                    body = read_member(archive, info.filename)
                copy.writestr(_same_entry(info), body)
        return out.getvalue()
