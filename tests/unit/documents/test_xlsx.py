"""Workbooks built with openpyxl go through XlsxFormat and reopen with openpyxl: text cells
translated (rich text's runs kept), numbers, formulas and dates untouched, sheets right to left
for Arabic, every other member of the file byte for byte."""

from __future__ import annotations

import datetime
import io
import re
import zipfile

import openpyxl
import pytest

from harness.office import build_docx, build_xlsx, build_xlsx_shared, numbered, shout
from service.documents.formats import BadDocument, DocumentLimits
from service.documents.xlsx import XlsxFormat

LIMITS = DocumentLimits()
FORMAT = XlsxFormat()


@pytest.fixture(scope="module", params=["inline strings", "shared strings"])
def original(request: pytest.FixtureRequest) -> bytes:
    """The workbook with its text inline (openpyxl) and shared (XlsxWriter, as Excel writes)."""
    return build_xlsx() if request.param == "inline strings" else build_xlsx_shared()


@pytest.fixture(scope="module")
def arabic(original: bytes) -> bytes:
    return FORMAT.write(original, [shout(s) for s in FORMAT.read(original, LIMITS)], "ar")


def test_text_cells_are_the_segments(original: bytes) -> None:
    segments = FORMAT.read(original, LIMITS)
    assert sorted(re.sub(r"<[^>]+>", "", s.text) for s in segments) == [
        "Amount",
        "Checked by the newsroom",
        "City",
        "Opened",
        "Paris",
        "The total is final",
    ]
    rich = next(s for s in segments if "total" in s.text)
    assert rich.markup and re.search(r'<b id="s\d">total</b>', rich.text)


def test_every_segment_goes_back_to_its_place(original: bytes) -> None:
    segments = FORMAT.read(original, LIMITS)
    result = FORMAT.write(original, numbered(segments), "fr")
    assert [s.text for s in FORMAT.read(result, LIMITS)] == numbered(segments)


def test_numbers_formulas_and_dates_are_untouched(arabic: bytes) -> None:
    workbook = openpyxl.load_workbook(io.BytesIO(arabic), rich_text=True)
    sheet = workbook["Budget"]
    assert workbook.sheetnames == ["Budget", "Notes"]
    assert [sheet["A1"].value, sheet["A2"].value] == ["CITY", "PARIS"]
    assert sheet["B2"].value == 1200
    assert sheet["B3"].value == "=B2*2"
    assert sheet["C2"].value == datetime.datetime(2026, 1, 5)
    assert workbook["Notes"]["A1"].value == "CHECKED BY THE NEWSROOM"


def test_rich_text_keeps_its_bold_run(arabic: bytes) -> None:
    cell = openpyxl.load_workbook(io.BytesIO(arabic), rich_text=True)["Budget"]["A4"].value
    assert [
        (str(block), bool(getattr(getattr(block, "font", None), "b", None))) for block in cell
    ] == [
        ("THE ", False),
        ("TOTAL", True),
        (" IS FINAL", False),
    ]


def test_arabic_sheets_are_right_to_left_and_french_ones_not(
    original: bytes, arabic: bytes
) -> None:
    workbook = openpyxl.load_workbook(io.BytesIO(arabic))
    assert all(sheet.sheet_view.rightToLeft for sheet in workbook.worksheets)
    segments = FORMAT.read(original, LIMITS)
    french = FORMAT.write(original, [shout(s) for s in segments], "fr")
    assert not any(
        s.sheet_view.rightToLeft for s in openpyxl.load_workbook(io.BytesIO(french)).worksheets
    )


def test_members_without_text_are_copied_byte_for_byte(original: bytes, arabic: bytes) -> None:
    before, after = zipfile.ZipFile(io.BytesIO(original)), zipfile.ZipFile(io.BytesIO(arabic))
    assert before.namelist() == after.namelist()
    assert before.read("xl/styles.xml") == after.read("xl/styles.xml")
    kept = [n for n in before.namelist() if "sheet" not in n and "sharedStrings" not in n]
    assert all(before.read(name) == after.read(name) for name in kept)
    assert before.read("xl/workbook.xml") == after.read("xl/workbook.xml")


def test_a_word_document_is_not_a_workbook() -> None:
    with pytest.raises(BadDocument, match="no worksheet"):
        FORMAT.read(build_docx(), LIMITS)
