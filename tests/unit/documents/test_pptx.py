"""Presentations built with python-pptx go through PptxFormat and reopen with python-pptx: same
slides, shapes and table, runs' formatting and links on the translated words, notes translated,
every segment back in its place, right to left for Arabic."""

from __future__ import annotations

import io

import pptx
import pytest
from pptx.oxml.ns import qn

from harness.office import build_pptx, numbered, shout
from service.documents.formats import BadDocument, DocumentLimits
from service.documents.pptx import PptxFormat

LIMITS = DocumentLimits()
FORMAT = PptxFormat()


@pytest.fixture(scope="module")
def original() -> bytes:
    return build_pptx()


@pytest.fixture(scope="module")
def arabic(original: bytes) -> bytes:
    return FORMAT.write(original, [shout(s) for s in FORMAT.read(original, LIMITS)], "ar")


def _frames(presentation) -> list[list]:
    return [
        [p for shape in slide.shapes if shape.has_text_frame for p in shape.text_frame.paragraphs]
        for slide in presentation.slides
    ]


def test_frames_tables_and_notes_are_segments_in_slide_order(original: bytes) -> None:
    assert [s.text for s in FORMAT.read(original, LIMITS)] == [
        "Budget talks resume",
        'The minister spoke <b id="s1">on Monday</b><a id="s2"> about the report</a>',
        "Schools will reopen",
        "City",
        "Budget",
        "Paris",
        "Speak slowly",
        "Questions",
    ]


def test_every_segment_goes_back_to_its_place(original: bytes) -> None:
    segments = FORMAT.read(original, LIMITS)
    result = FORMAT.write(original, numbered(segments), "fr")
    assert [s.text for s in FORMAT.read(result, LIMITS)] == numbered(segments)


def test_slides_shapes_and_formatting_are_kept(original: bytes, arabic: bytes) -> None:
    before, after = pptx.Presentation(io.BytesIO(original)), pptx.Presentation(io.BytesIO(arabic))
    assert len(after.slides) == len(before.slides) == 2
    for old, new in zip(before.slides, after.slides, strict=True):
        assert [s.shape_type for s in new.shapes] == [s.shape_type for s in old.shapes]
    paragraph = _frames(after)[0][1]
    runs = [(r.text, r.font.bold, r.hyperlink.address) for r in paragraph.runs]
    assert runs == [
        ("THE MINISTER SPOKE ", None, None),
        ("ON MONDAY", True, None),
        (" ABOUT THE REPORT", None, "https://example.com/report"),
    ]
    table = next(s for s in after.slides[0].shapes if s.has_table).table
    assert [table.cell(1, 0).text, table.cell(1, 1).text] == ["PARIS", "1200"]
    assert after.slides[0].notes_slide.notes_text_frame.text == "SPEAK SLOWLY"


def test_arabic_paragraphs_and_tables_are_right_to_left(arabic: bytes) -> None:
    presentation = pptx.Presentation(io.BytesIO(arabic))
    for paragraphs in _frames(presentation):
        for paragraph in paragraphs:
            assert paragraph._p.pPr.get("rtl") == "1"
            assert all(r._r.rPr.get("lang") == "ar-SA" for r in paragraph.runs)
    table = next(s for s in presentation.slides[0].shapes if s.has_table)
    assert table._element.graphic.graphicData.tbl.tblPr.get("rtl") == "1"
    master = presentation.slide_masters[0].element
    body = master.find(f".//{qn('p:bodyStyle')}/{qn('a:lvl1pPr')}")
    assert (body.get("rtl"), body.get("algn")) == ("1", "r")  # inherited left turns right
    title = master.find(f".//{qn('p:titleStyle')}/{qn('a:lvl1pPr')}")
    assert title.get("algn") == "ctr"


def test_french_names_its_language_and_stays_left_to_right(original: bytes) -> None:
    segments = FORMAT.read(original, LIMITS)
    result = pptx.Presentation(
        io.BytesIO(FORMAT.write(original, [shout(s) for s in segments], "fr"))
    )
    paragraph = _frames(result)[0][0]
    assert paragraph.runs[0]._r.rPr.get("lang") == "fr-FR"
    assert paragraph._p.pPr is None or paragraph._p.pPr.get("rtl") is None


def test_a_word_document_is_not_a_presentation() -> None:
    from harness.office import build_docx

    with pytest.raises(BadDocument):
        FORMAT.read(build_docx(), LIMITS)


def test_runs_split_only_by_spelling_marks_are_one_formatting() -> None:
    presentation = pptx.Presentation()
    frame = presentation.slides.add_slide(presentation.slide_layouts[5]).shapes.title.text_frame
    frame.text = "The minister "
    run = frame.paragraphs[0].add_run()
    run.text = "spoke"
    run._r.get_or_add_rPr().set("err", "1")
    run._r.get_or_add_rPr().set("lang", "en-GB")
    out = io.BytesIO()
    presentation.save(out)
    assert FORMAT.read(out.getvalue(), LIMITS)[0].text == "The minister spoke"
