"""Which format a file is, decided by its content, never by its name alone; and the table of
formats served, one line each (`FORMATS`).

- A zip is an Office or ODF document or an EPUB by its members: OOXML by the content type of
  its main part in `[Content_Types].xml` (docx, pptx, xlsx; their macro-enabled kinds docm,
  pptm, xlsm, and any package holding a `vbaProject.bin`, are refused: see `MACRO_KINDS`), ODF
  and EPUB by their `mimetype` member. Any other zip is unsupported.
- Text (UTF-8, or UTF-16 with its BOM) is subtitles by their cue syntax (a `WEBVTT` header; an
  SRT index line followed by a `-->` timing line), HTML by its markup (a doctype, or a first tag
  that is an HTML element), else plain text. Markdown is plain text too, so only between those
  two does the name decide: `.md`/`.markdown` is read as Markdown, anything else as text.
- Anything else (an image, a PDF, a legacy binary .doc) is unsupported.

So a docx named `report.txt` is read as the docx it is, and a PNG named `photo.docx` is refused
as unsupported. A kind found but not in `FORMATS` is unsupported too, and every refusal names
the formats that are served.
"""

from __future__ import annotations

import posixpath
import re
import zipfile

from service.documents.docx import DocxFormat
from service.documents.epub import MIMETYPE as EPUB_MIMETYPE
from service.documents.epub import Epub
from service.documents.formats import DocumentFormat, DocumentLimits, UnsupportedDocument
from service.documents.html import Html
from service.documents.markdown import Markdown
from service.documents.odf import ODP, ODT, OdfFormat
from service.documents.plaintext import PlainText, decode
from service.documents.pptx import PptxFormat
from service.documents.safety import check_size, check_xml, open_zip, read_member
from service.documents.subtitles import Subtitles
from service.documents.xlsx import XlsxFormat

# Writing opens bytes that `read` already checked against the configured limits (DOC_MAX_*),
# which may be set above the defaults: the Office formats' own check on write must not refuse
# what was read, so it only keeps its XML checks.
_READ_ALREADY = DocumentLimits(
    max_bytes=2**62,
    max_members=2**31,
    max_uncompressed_bytes=2**62,
    max_compression_ratio=float("inf"),
)

# The formats served, by name: a new format is one line here.
FORMATS: dict[str, DocumentFormat] = {
    "txt": PlainText(),
    "md": Markdown(),
    "html": Html(),
    "srt": Subtitles("srt", "application/x-subrip"),
    "vtt": Subtitles("vtt", "text/vtt"),
    "epub": Epub(),
    "docx": DocxFormat(_READ_ALREADY),
    "pptx": PptxFormat(_READ_ALREADY),
    "xlsx": XlsxFormat(_READ_ALREADY),
    "odt": OdfFormat("odt", ODT.media_type, _READ_ALREADY),
    "odp": OdfFormat("odp", ODP.media_type, _READ_ALREADY),
}

# Office packages that carry macros: never translated (a translated copy would carry the code).
MACRO_KINDS = frozenset({"docm", "pptm", "xlsm", "dotm", "potm", "xltm", "macro"})
_OOXML = "application/vnd.openxmlformats-officedocument."
# The content type of an OOXML package's main part -> its kind.
OOXML_KINDS = {
    _OOXML + "wordprocessingml.document.main+xml": "docx",
    _OOXML + "presentationml.presentation.main+xml": "pptx",
    _OOXML + "presentationml.slideshow.main+xml": "ppsx",
    _OOXML + "spreadsheetml.sheet.main+xml": "xlsx",
    _OOXML + "wordprocessingml.template.main+xml": "dotx",
    _OOXML + "presentationml.template.main+xml": "potx",
    _OOXML + "spreadsheetml.template.main+xml": "xltx",
    "application/vnd.ms-word.document.macroEnabled.main+xml": "docm",
    "application/vnd.ms-word.template.macroEnabledTemplate.main+xml": "dotm",
    "application/vnd.ms-powerpoint.presentation.macroEnabled.main+xml": "pptm",
    "application/vnd.ms-powerpoint.slideshow.macroEnabled.main+xml": "pptm",
    "application/vnd.ms-powerpoint.template.macroEnabled.main+xml": "potm",
    "application/vnd.ms-excel.sheet.macroEnabled.main+xml": "xlsm",
    "application/vnd.ms-excel.template.macroEnabled.main+xml": "xltm",
}
# An ODF package's or EPUB's `mimetype` member -> its kind.
MIMETYPE_KINDS = {
    "application/vnd.oasis.opendocument.text": "odt",
    "application/vnd.oasis.opendocument.presentation": "odp",
    "application/vnd.oasis.opendocument.spreadsheet": "ods",
    EPUB_MIMETYPE: "epub",
}
_CONTENT_TYPES = "[Content_Types].xml"
_CT = "{http://schemas.openxmlformats.org/package/2006/content-types}"
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
# Binary formats that may begin with text-like bytes: PDF, images, OLE2 (.doc), gzip, 7z, RAR.
_BINARY_MAGIC = (
    b"%PDF-",
    b"\x89PNG",
    b"GIF8",
    b"\xff\xd8\xff",
    b"\xd0\xcf\x11\xe0",
    b"\x1f\x8b",
    b"7z\xbc\xaf",
    b"Rar!",
)
_VTT_RE = re.compile(r"\AWEBVTT(?:[ \t][^\n]*)?(?:\r?\n|\Z)")
_SRT_RE = re.compile(r"\A\d+[ \t]*\r?\n[ \t]*\d{1,2}:\d{2}:\d{2}[,.]\d{1,3}[ \t]*-->")
_HTML_TAGS = (
    "html|head|body|title|meta|link|style|script|div|span|p|a|h[1-6]|ul|ol|li|table|tr|td|th|"
    "section|article|header|footer|nav|main|aside|blockquote|pre|em|strong|b|i|u|br|hr|img|"
    "figure|form|dl|dt|dd"
)
_HTML_RE = re.compile(
    rf"\A(?:<!--.*?-->\s*)*<(?:!doctype\s+html|(?:{_HTML_TAGS})[\s/>])", re.I | re.S
)
MARKDOWN_EXTENSIONS = (".md", ".markdown")


def supported_extensions() -> list[str]:
    """Every file name ending of the formats served, as `/frontend/settings` lists them."""
    return [ext for fmt in FORMATS.values() for ext in fmt.extensions]


def _unsupported(what: str) -> UnsupportedDocument:
    served = ", ".join(FORMATS)
    return UnsupportedDocument(f"{what}; supported formats: {served}")


def _ooxml_kind(archive: zipfile.ZipFile) -> str | None:
    if _CONTENT_TYPES not in archive.namelist():
        return None
    root = check_xml(read_member(archive, _CONTENT_TYPES), _CONTENT_TYPES)
    for override in root.iter(f"{_CT}Override"):
        kind = OOXML_KINDS.get(override.get("ContentType", ""))
        if kind is not None:
            return kind
    return "ooxml"


def zip_kind(data: bytes, limits: DocumentLimits) -> str:
    """The kind of a zip-based file by its members: `docx`, `epub`, `docm`, `macro` (a
    package holding VBA), `zip` (none we know)."""
    archive = open_zip(data, limits, xml_checked=False)
    names = archive.namelist()
    if any(posixpath.basename(name).lower() == "vbaproject.bin" for name in names):
        return "macro"
    kind = _ooxml_kind(archive)
    if kind is not None:
        return kind
    if "mimetype" in names:
        found = read_member(archive, "mimetype").decode("ascii", "replace").strip()
        return MIMETYPE_KINDS.get(found, "zip")
    return "zip"


def text_kind(data: bytes, name: str) -> str:
    """The kind of a text file by its content: `vtt`, `srt`, `html`, else `md` or `txt` by
    the name's extension. UnsupportedDocument when it is not text."""
    text, _, _ = decode(data)
    head = text[:4096].lstrip("\ufeff \t\r\n")
    if _VTT_RE.match(head):
        return "vtt"
    if _SRT_RE.match(head):
        return "srt"
    if _HTML_RE.match(head):
        return "html"
    return "md" if name.lower().endswith(MARKDOWN_EXTENSIONS) else "txt"


def detect(data: bytes, name: str, limits: DocumentLimits) -> DocumentFormat:
    """The format that reads `data` (named `name` by its sender): DocumentTooLarge over the
    size limit or for a zip over its limits; UnsupportedDocument for a kind not served, a macro
    file, or a binary file; BadDocument for a zip that cannot be read."""
    check_size(data, limits)
    if not data.strip():
        raise _unsupported("the file is empty")
    if data.startswith(_BINARY_MAGIC):
        raise _unsupported("the file is binary (a PDF, an image, a legacy Office file...)")
    kind = zip_kind(data, limits) if data.startswith(_ZIP_MAGIC) else None
    if kind is None:
        try:
            kind = text_kind(data, name)
        except UnsupportedDocument as exc:
            raise _unsupported(str(exc)) from None
    if kind in MACRO_KINDS:
        raise _unsupported(
            "macro-enabled Office files (.docm, .pptm, .xlsm) are refused: a translated copy "
            "would carry their code; save the file without macros (.docx, .pptx, .xlsx)"
        )
    if kind not in FORMATS:
        shown = "this kind of zip archive" if kind in ("zip", "ooxml") else f"{kind} files"
        raise _unsupported(f"{shown} cannot be translated here")
    return FORMATS[kind]
