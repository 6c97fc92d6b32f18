"""OpenDocument text and presentations (written by hand here; LibreOffice's own in the system
tests) go through OdfFormat: spans, links, spaces and notes kept around the translated words,
headers translated, every segment back in its place, language and direction on the paragraphs'
styles, every other member as it was (mimetype first and stored)."""

from __future__ import annotations

import io
import zipfile

import pytest
from lxml import etree

from harness.office import build_docx, build_odf, numbered, shout
from service.documents.formats import BadDocument, DocumentLimits
from service.documents.odf import ODP, ODT, q

LIMITS = DocumentLimits()
CELL = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}table-cell"


def _xml(data: bytes, name: str) -> etree._Element:
    return etree.fromstring(zipfile.ZipFile(io.BytesIO(data)).read(name))


def _translated(fmt, data: bytes, target: str) -> bytes:
    return fmt.write(data, [shout(s) for s in fmt.read(data, LIMITS)], target)


@pytest.fixture(scope="module")
def odt() -> bytes:
    return build_odf("odt")


def test_paragraphs_notes_lists_tables_and_headers_are_segments(odt: bytes) -> None:
    assert [s.text for s in ODT.read(odt, LIMITS)] == [
        "Budget talks resume",
        'The <b id="s1">finance minister</b> said on <i id="s2">Monday</i><ph id="k0"></ph> '
        'that the <a id="s3">new report</a> was  ready.',
        "Figures from the ministry.",
        "Schools will reopen",
        "City",
        "Daily news",
    ]


def test_every_segment_goes_back_to_its_place(odt: bytes) -> None:
    segments = ODT.read(odt, LIMITS)
    result = ODT.write(odt, numbered(segments), "fr")
    assert [s.text for s in ODT.read(result, LIMITS)] == numbered(segments)


def test_spans_links_notes_and_spaces_are_kept(odt: bytes) -> None:
    body = _xml(_translated(ODT, odt, "fr"), "content.xml")
    p = body.find(f".//{q('text:p')}[@{q('text:style-name')}]")
    spans = {s.get(q("text:style-name")): s.text for s in p.iter(q("text:span"))}
    assert spans == {"T1": "FINANCE MINISTER", "T2": "MONDAY"}
    link = p.find(q("text:a"))
    assert (link.text, link.get("{http://www.w3.org/1999/xlink}href")) == (
        "NEW REPORT",
        "https://example.com/report",
    )
    assert p.find(f".//{q('text:note-body')}/{q('text:p')}").text == "FIGURES FROM THE MINISTRY."
    assert p.find(q("text:s")).get(q("text:c")) == "1"
    assert "".join(p.itertext()).startswith("THE FINANCE MINISTER SAID ON MONDAY1")
    assert len(list(body.iter(CELL))) == 2
    assert [c.findtext(q("text:p")) for c in body.iter(CELL)] == ["CITY", "1200"]


def test_arabic_paragraph_styles_name_the_language_and_turn_right_to_left(odt: bytes) -> None:
    result = _translated(ODT, odt, "ar")
    for part in ("content.xml", "styles.xml"):
        root = _xml(result, part)
        styles = {s.get(q("style:name")): s for s in root.iter(q("style:style"))}
        paragraphs = list(root.iter(q("text:p"), q("text:h")))
        assert paragraphs
        for p in paragraphs:
            style = styles[p.get(q("text:style-name"))]
            props = style.find(q("style:paragraph-properties"))
            text = style.find(q("style:text-properties"))
            assert props.get(q("style:writing-mode")) == "rl-tb"
            assert text.get(q("style:language-complex")) == "ar"
            assert text.get(q("style:country-complex")) == "SA"
    content = _xml(result, "content.xml")
    heading = content.find(f".//{q('text:h')}")
    derived = next(
        s
        for s in content.iter(q("style:style"))
        if s.get(q("style:name")) == heading.get(q("text:style-name"))
    )
    assert derived.get(q("style:parent-style-name")) == "Heading_20_1"
    bold = next(s for s in content.iter(q("style:style")) if s.get(q("style:name")) == "T1")
    assert bold.find(q("style:text-properties")).get(q("style:font-weight-complex")) == "bold"
    table = next(s for s in content.iter(q("style:style")) if s.get(q("style:name")) == "Tbl")
    assert table.find(q("style:table-properties")).get(q("style:writing-mode")) == "rl-tb"


def test_french_names_its_language_without_turning(odt: bytes) -> None:
    content = _xml(_translated(ODT, odt, "fr"), "content.xml")
    derived = [
        s for s in content.iter(q("style:style")) if s.get(q("style:name")).startswith("Translated")
    ]
    assert derived
    for style in derived:
        assert style.find(q("style:text-properties")).get(q("fo:language")) == "fr"
        assert style.find(q("style:paragraph-properties")).get(q("style:writing-mode")) is None


def test_the_archive_keeps_its_members_and_mimetype_first_and_stored(odt: bytes) -> None:
    before = zipfile.ZipFile(io.BytesIO(odt))
    after = zipfile.ZipFile(io.BytesIO(_translated(ODT, odt, "ar")))
    assert after.namelist() == before.namelist()
    first = after.infolist()[0]
    assert (first.filename, first.compress_type) == ("mimetype", zipfile.ZIP_STORED)
    assert after.read("META-INF/manifest.xml") == before.read("META-INF/manifest.xml")


def test_presentations_frames_and_notes_are_translated() -> None:
    odp = build_odf("odp")
    segments = ODP.read(odp, LIMITS)
    assert [s.text for s in segments] == [
        "Budget talks resume",
        'The minister spoke <b id="s1">on Monday</b>',
        "Schools will reopen",
        "Speak slowly",
        "Daily news",
    ]
    content = _xml(_translated(ODP, odp, "ar"), "content.xml")
    assert content.find(f".//{q('text:span')}").text == "ON MONDAY"
    notes = content.find(".//{urn:oasis:names:tc:opendocument:xmlns:presentation:1.0}notes")
    assert "".join(notes.itertext()) == "SPEAK SLOWLY"


def test_the_other_kind_or_another_file_is_a_bad_document(odt: bytes) -> None:
    with pytest.raises(BadDocument, match="opendocument.presentation"):
        ODP.read(odt, LIMITS)
    with pytest.raises(BadDocument):
        ODT.read(build_docx(), LIMITS)
