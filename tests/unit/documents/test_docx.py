"""Word documents built with python-docx go through DocxFormat and reopen with python-docx:
same paragraphs and tables, runs' formatting on the translated words, every segment back in its
place, the target language and right to left written."""

from __future__ import annotations

import io
import zipfile

import docx
import pytest
from docx.oxml import parse_xml
from docx.oxml.ns import nsdecls, qn

from harness.office import build_docx, numbered, shout
from service.documents.docx import DocxFormat
from service.documents.formats import BadDocument, DocumentLimits, DocumentTooLarge

LIMITS = DocumentLimits()
FORMAT = DocxFormat()


@pytest.fixture(scope="module")
def original() -> bytes:
    return build_docx()


@pytest.fixture(scope="module")
def arabic(original: bytes) -> bytes:
    segments = FORMAT.read(original, LIMITS)
    return FORMAT.write(original, [shout(s) for s in segments], "ar")


def _parts_xml(data: bytes, name: str) -> str:
    return zipfile.ZipFile(io.BytesIO(data)).read(name).decode()


def test_segments_come_in_document_order_from_every_text_part(original: bytes) -> None:
    texts = [s.text for s in FORMAT.read(original, LIMITS)]
    assert texts[0] == "Budget talks resume"
    assert texts[2:7] == [
        "Schools will reopen",
        "Roads will be repaired",
        "City",
        "Budget",
        "Paris",
    ]
    assert "1200" not in texts  # no letters: kept, not sent
    assert {"Daily news", "Printed by the newsroom", "Figures from the ministry."} <= set(texts)


def test_a_formatted_sentence_is_one_segment_with_its_runs_as_tags(original: bytes) -> None:
    sentence = FORMAT.read(original, LIMITS)[1]
    assert sentence.markup
    assert sentence.text == (
        'The <b id="s1">finance minister</b> said on <i id="s2">Monday</i><ph id="k0"></ph> '
        'that the <a id="s3">new report</a> was ready.'
    )


def test_every_segment_goes_back_to_its_place(original: bytes) -> None:
    segments = FORMAT.read(original, LIMITS)
    result = FORMAT.write(original, numbered(segments), "fr")
    assert [s.text for s in FORMAT.read(result, LIMITS)] == numbered(segments)


def test_structure_and_untranslated_text_are_kept(original: bytes, arabic: bytes) -> None:
    before, after = docx.Document(io.BytesIO(original)), docx.Document(io.BytesIO(arabic))
    assert len(after.paragraphs) == len(before.paragraphs)
    assert len(after.tables) == len(before.tables) == 1
    assert [p.style.name for p in after.paragraphs] == [p.style.name for p in before.paragraphs]
    assert after.tables[0].cell(1, 1).text == "1200"
    assert after.tables[0].cell(1, 0).text == "PARIS"
    assert after.sections[0].header.paragraphs[0].text == "DAILY NEWS"
    assert after.sections[0].footer.paragraphs[0].text == "PRINTED BY THE NEWSROOM"


def test_runs_keep_their_formatting_link_and_footnote_mark(arabic: bytes) -> None:
    paragraph = docx.Document(io.BytesIO(arabic)).paragraphs[1]
    runs = [(r.text, bool(r.bold), bool(r.italic)) for r in paragraph.runs]
    assert ("FINANCE MINISTER", True, False) in runs
    assert ("MONDAY", False, True) in runs
    links = [h for h in paragraph.hyperlinks]
    assert [(h.text, h.address) for h in links] == [("NEW REPORT", "https://example.com/report")]
    assert paragraph.text.startswith("THE FINANCE MINISTER SAID ON MONDAY THAT THE NEW REPORT")
    xml = paragraph._p.xml
    assert xml.index("MONDAY") < xml.index("w:footnoteReference") < xml.index("THAT THE")
    assert "FIGURES FROM THE MINISTRY." in _parts_xml(arabic, "word/footnotes.xml")


def test_arabic_paragraphs_runs_and_tables_are_right_to_left(arabic: bytes) -> None:
    document = docx.Document(io.BytesIO(arabic))
    for paragraph in document.paragraphs:
        assert paragraph._p.pPr.find(qn("w:bidi")) is not None
    for run in (r for r in document.paragraphs[1].runs if r.text):
        props = run._r.rPr
        assert props.find(qn("w:rtl")) is not None
        assert props.find(qn("w:lang")).get(qn("w:bidi")) == "ar-SA"
    bold = next(r for r in document.paragraphs[1].runs if r.bold)
    assert bold._r.rPr.find(qn("w:bCs")) is not None  # Arabic text is bold by bCs
    assert document.tables[0]._tbl.tblPr.find(qn("w:bidiVisual")) is not None
    header = document.sections[0].header.paragraphs[0]
    assert header._p.pPr.find(qn("w:bidi")) is not None


def test_a_left_to_right_target_names_its_language_only(original: bytes) -> None:
    segments = FORMAT.read(original, LIMITS)
    document = docx.Document(io.BytesIO(FORMAT.write(original, [shout(s) for s in segments], "fr")))
    run = document.paragraphs[0].runs[0]
    assert run._r.rPr.find(qn("w:lang")).get(qn("w:val")) == "fr-FR"
    assert run._r.rPr.find(qn("w:rtl")) is None
    assert document.paragraphs[0]._p.pPr.find(qn("w:bidi")) is None


def test_a_translation_that_loses_its_tags_keeps_every_word(original: bytes) -> None:
    segments = FORMAT.read(original, LIMITS)
    plain = ["Le ministre a parlé lundi." if s.markup else s.text for s in segments]
    paragraph = docx.Document(io.BytesIO(FORMAT.write(original, plain, "fr"))).paragraphs[1]
    assert paragraph.text == "Le ministre a parlé lundi."
    assert "w:footnoteReference" in paragraph._p.xml


def test_the_wrong_number_of_translations_is_refused(original: bytes) -> None:
    with pytest.raises(ValueError, match="translations for"):
        FORMAT.write(original, ["one"], "fr")


def test_files_that_are_not_word_documents_are_bad_documents() -> None:
    with pytest.raises(BadDocument):
        FORMAT.read(b"not a zip at all", LIMITS)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "hi")
    with pytest.raises(BadDocument):
        FORMAT.read(buffer.getvalue(), LIMITS)


def test_an_xml_entity_in_a_part_is_refused_before_python_docx_opens_it(original: bytes) -> None:
    source = zipfile.ZipFile(io.BytesIO(original))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "word/document.xml":
                data = (
                    b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY e "x">]>' + data.split(b"?>", 1)[1]
                )
            archive.writestr(info, data)
    with pytest.raises(BadDocument, match="DTD"):
        FORMAT.read(buffer.getvalue(), LIMITS)


def test_limits_apply_to_reading(original: bytes) -> None:
    with pytest.raises(DocumentTooLarge):
        FORMAT.read(original, DocumentLimits(max_bytes=1000))


def test_runs_split_only_by_a_proofing_language_are_one_formatting() -> None:
    document = docx.Document()
    paragraph = document.add_paragraph()
    for text, proofing in (
        ("The minister ", '<w:lang w:val="en-US"/>'),
        ("spoke", '<w:noProof/><w:lang w:val="en-GB"/>'),
    ):
        props = parse_xml(f"<w:rPr {nsdecls('w')}>{proofing}</w:rPr>")
        paragraph.add_run(text)._r.insert(0, props)
    out = io.BytesIO()
    document.save(out)
    assert FORMAT.read(out.getvalue(), LIMITS)[0].text == "The minister spoke"
