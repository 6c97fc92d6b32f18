"""Checks a file passes before any format library opens it: a docx, pptx, xlsx, odt or epub is a
zip of XML, so a hostile one is a zip bomb or an XML bomb.

`open_zip` reads only the zip's central directory (names and declared sizes) and refuses the
archive before anything is extracted when it has too many members, too many uncompressed bytes
in all, or a member that inflates more than the ratio allows; the declared sizes are then
enforced while reading, so a member that lies about its size is cut off at its declared size.
`check_xml` parses with defusedxml, which refuses any entity declaration (billion laughs,
external entities) instead of expanding or fetching anything; a bare document type declaration
(`<!DOCTYPE html>`, the XHTML DTD's public id, as every EPUB chapter may carry) declares no
entity and is allowed (expat never fetches an external DTD). Format libraries (python-docx,
openpyxl, ...) parse the same members again with their own parsers, which is safe only because
every XML member passed `check_xml` first: `open_zip(..., xml_checked=True)` does both. An XML
member is known by its name, or by its content when it declares a DTD or entities (a package
may give a part any name).
"""

from __future__ import annotations

import io
import zipfile
import zlib
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from service.documents.formats import BadDocument, DocumentLimits, DocumentTooLarge

XML_SUFFIXES = (".xml", ".rels", ".xhtml", ".html", ".htm", ".opf", ".ncx", ".svg")


def check_size(data: bytes, limits: DocumentLimits) -> None:
    """DocumentTooLarge when the file itself is over DOC_MAX_BYTES."""
    if len(data) > limits.max_bytes:
        raise DocumentTooLarge(f"the file is {len(data):,} bytes; at most {limits.max_bytes:,}")


def open_zip(data: bytes, limits: DocumentLimits, *, xml_checked: bool = True) -> zipfile.ZipFile:
    """The archive, after its directory passed the limits (and, with `xml_checked`, after every
    XML member parsed without a DTD). BadDocument for a file that is not a readable zip."""
    check_size(data, limits)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, EOFError, ValueError) as exc:
        raise BadDocument("the file is not a readable zip archive (corrupt or truncated)") from exc
    _check_directory(members, limits)
    if xml_checked:
        for member in members:
            if member.is_dir():
                continue
            content = read_member(archive, member.filename)
            # By name, and by content: a package may name a part anything ([Content_Types].xml
            # and the relationships say what it is), so XML with declarations is checked too.
            if member.filename.lower().endswith(XML_SUFFIXES) or _declares(content):
                check_xml(content, member.filename)
    return archive


def _declares(content: bytes) -> bool:
    """Whether a member is XML (by its first character) that holds a DTD or entity
    declaration, whatever its name."""
    start = content.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    return start == b"<" and (b"<!DOCTYPE" in content or b"<!ENTITY" in content)


def _check_directory(members: list[zipfile.ZipInfo], limits: DocumentLimits) -> None:
    if len(members) > limits.max_members:
        raise DocumentTooLarge(
            f"the archive has {len(members):,} members; at most {limits.max_members:,}"
        )
    total = sum(member.file_size for member in members)
    if total > limits.max_uncompressed_bytes:
        raise DocumentTooLarge(
            f"the archive inflates to {total:,} bytes; at most {limits.max_uncompressed_bytes:,}"
        )
    for member in members:
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size > 1_000_000 and ratio > limits.max_compression_ratio:
            raise DocumentTooLarge(
                f"{member.filename} inflates {ratio:,.0f} times; at most "
                f"{limits.max_compression_ratio:,.0f} (a zip bomb?)"
            )


def read_member(archive: zipfile.ZipFile, name: str) -> bytes:
    """A member's bytes, never more than its declared size (a lying header cannot inflate past
    the limits checked); BadDocument when it is missing or corrupt."""
    try:
        info = archive.getinfo(name)
        with archive.open(info) as member:
            data = member.read(info.file_size + 1)
    except KeyError as exc:
        raise BadDocument(f"the archive has no {name}") from exc
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, zlib.error) as exc:
        raise BadDocument(f"{name} in the archive is corrupt") from exc
    except NotImplementedError as exc:  # a compression method zipfile does not read
        raise BadDocument(f"{name} in the archive is compressed in a way not supported") from exc
    if len(data) > info.file_size:
        raise BadDocument(f"{name} is larger than the archive says")
    return data


def check_xml(data: bytes, name: str = "the document") -> Element:
    """The parsed XML; BadDocument for an entity declaration (never expanded, never fetched)
    or XML that does not parse."""
    try:
        return fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise BadDocument(
            f"{name} declares a DTD or entities, which are refused (XML entity expansion and "
            "external entities are never processed)"
        ) from exc
    except (ParseError, ValueError, LookupError) as exc:
        raise BadDocument(f"{name} is not well-formed XML") from exc
