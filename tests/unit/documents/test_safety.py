"""Hostile containers are refused before extraction: zip bombs by their directory, XML bombs and
external entities by defusedxml, corrupt and truncated archives as BadDocument."""

from __future__ import annotations

import io
import zipfile

import pytest

from service.documents.formats import BadDocument, DocumentLimits, DocumentTooLarge
from service.documents.safety import check_xml, open_zip, read_member

LIMITS = DocumentLimits(
    max_bytes=1_000_000, max_members=10, max_uncompressed_bytes=5_000_000, max_compression_ratio=50
)
BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<w:document xmlns:w="urn:w">&lol2;</w:document>"""
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><d>&xxe;</d>"""


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_a_well_formed_archive_opens_and_its_members_read() -> None:
    data = _zip({"word/document.xml": b"<d>hello</d>", "media/a.png": b"\x89PNG"})
    archive = open_zip(data, LIMITS)
    assert read_member(archive, "word/document.xml") == b"<d>hello</d>"


def test_a_zip_bomb_member_is_refused_by_its_ratio_before_extraction() -> None:
    data = _zip({"word/document.xml": b"<d/>", "bomb.bin": b"\0" * 3_000_000})
    with pytest.raises(DocumentTooLarge, match="bomb.bin inflates"):
        open_zip(data, LIMITS)


def test_too_many_uncompressed_bytes_in_all_are_refused() -> None:
    members = {f"part{i}.bin": bytes(range(256)) * 4_000 for i in range(6)}  # 6 x 1 MB, ratio ~1
    with pytest.raises(DocumentTooLarge, match="inflates to 6,144,000 bytes"):
        open_zip(_zip(members), DocumentLimits(**{**LIMITS.__dict__, "max_bytes": 10_000_000}))


def test_too_many_members_are_refused() -> None:
    with pytest.raises(DocumentTooLarge, match="11 members; at most 10"):
        open_zip(_zip({f"m{i}.txt": b"x" for i in range(11)}), LIMITS)


def test_a_file_over_the_size_limit_is_refused_unread() -> None:
    with pytest.raises(DocumentTooLarge, match="1,000,001 bytes"):
        open_zip(b"PK" + b"\0" * 999_999, LIMITS)


@pytest.mark.parametrize("xml", [BILLION_LAUGHS, XXE], ids=["billion-laughs", "xxe"])
def test_xml_entities_in_a_member_are_refused_not_expanded(xml: bytes) -> None:
    with pytest.raises(BadDocument, match="word/document.xml declares a DTD"):
        open_zip(_zip({"word/document.xml": xml}), LIMITS)


def test_a_doctype_without_entities_is_allowed() -> None:
    xhtml = (
        b'<?xml version="1.0"?><!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.1//EN" '
        b'"http://www.w3.org/TR/xhtml11/DTD/xhtml11.dtd"><html xmlns="http://www.w3.org/1999/xhtml"/>'
    )
    open_zip(_zip({"OEBPS/ch1.xhtml": xhtml, "OEBPS/ch2.xhtml": b"<!DOCTYPE html><html/>"}), LIMITS)


def test_a_member_that_is_not_xml_is_not_parsed_as_xml() -> None:
    # Binary (not starting with "<"), though it holds the bytes of an entity declaration.
    open_zip(_zip({"word/media/image1.bin": b"\x89PNG\r\n" + BILLION_LAUGHS}), LIMITS)


@pytest.mark.parametrize("data", [b"not a zip", _zip({"a.xml": b"<a/>" * 100})[:60]])
def test_corrupt_or_truncated_archives_are_bad_documents(data: bytes) -> None:
    with pytest.raises(BadDocument, match="not a readable zip"):
        open_zip(data, LIMITS)


def test_a_member_larger_than_its_header_says_is_cut_off() -> None:
    data = bytearray(_zip({"a.txt": b"abcdef" * 10}))
    # The local header's and the directory's uncompressed size say 10 bytes instead of 60.
    for offset in (22, data.rfind(b"PK\x01\x02") + 24):
        data[offset : offset + 4] = (10).to_bytes(4, "little")
    with pytest.raises(BadDocument, match="a.txt in the archive is corrupt"):
        open_zip(bytes(data), LIMITS)  # every member is read, so the lie is found at once
    archive = open_zip(bytes(data), LIMITS, xml_checked=False)
    with pytest.raises(BadDocument):
        read_member(archive, "a.txt")


def test_malformed_xml_is_a_bad_document() -> None:
    with pytest.raises(BadDocument, match="not well-formed"):
        check_xml(b"<a><b></a>", "content.xml")
    assert check_xml(b"<a><b/></a>").tag == "a"


def test_a_member_whose_compressed_data_is_corrupt_is_a_bad_document() -> None:
    data = bytearray(_zip({"a.xml": b"<a>" + bytes(range(256)) * 20 + b"</a>"}))
    start = 30 + len("a.xml")  # the local header, then the deflated data
    data[start : start + 8] = b"\xff" * 8
    with pytest.raises(BadDocument, match="a.xml in the archive is corrupt"):
        open_zip(bytes(data), LIMITS)


def test_a_member_in_an_unknown_compression_method_is_a_bad_document() -> None:
    data = bytearray(_zip({"a.xml": b"<a/>"}))
    for offset in (8, data.rfind(b"PK\x01\x02") + 10):  # local and central compression method
        data[offset : offset + 2] = (99).to_bytes(2, "little")
    with pytest.raises(BadDocument, match="not supported"):
        open_zip(bytes(data), LIMITS)


def test_xml_entities_in_a_member_named_otherwise_are_refused_too() -> None:
    """A package may name its main part anything ([Content_Types].xml says what it is): the
    check reads XML by its content as well as by its name."""
    with pytest.raises(BadDocument, match="word/document.dat declares a DTD"):
        open_zip(_zip({"word/document.dat": XXE}), LIMITS)
    open_zip(_zip({"media/notes.bin": b"<not xml, no declarations"}), LIMITS)
