"""The Office formats against LibreOffice: documents it wrote (a docx turned odt, a pptx turned
odp, its own xlsx) go through our read/write, and every result opens again in LibreOffice, which
renders it to PDF with the translated text, and reads Arabic documents right to left.

LibreOffice starts once per conversion batch (seconds each), so the module does all its work
in one module-scoped fixture; the tests read what it made. Skipped without `soffice` (Debian:
`apt-get install -y libreoffice-writer-nogui libreoffice-impress-nogui
libreoffice-calc-nogui poppler-utils`; .ci/run installs them).
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import docx
import openpyxl
import pptx
import pytest
from lxml import etree

from harness.office import (
    ARABIC,
    SOFFICE,
    arabic,
    build_docx,
    build_pptx,
    build_xlsx,
    convert,
    shout,
)
from service.documents.docx import DocxFormat
from service.documents.formats import DocumentLimits
from service.documents.odf import ODP, ODT, q
from service.documents.pptx import PptxFormat
from service.documents.xlsx import XlsxFormat

pytestmark = [
    pytest.mark.office,
    pytest.mark.skipif(
        SOFFICE is None or shutil.which("pdftotext") is None,
        reason="LibreOffice (soffice) or pdftotext is not installed: `apt-get install -y "
        "libreoffice-writer-nogui libreoffice-impress-nogui libreoffice-calc-nogui "
        "poppler-utils` (.ci/run does)",
    ),
]
LIMITS = DocumentLimits()
FORMATS = {"docx": DocxFormat(), "pptx": PptxFormat(), "xlsx": XlsxFormat(), "odt": ODT, "odp": ODP}


def _translate(source: Path, out: Path, translate) -> Path:
    fmt = FORMATS[source.suffix[1:]]
    data = source.read_bytes()
    out.write_bytes(fmt.write(data, [translate(s) for s in fmt.read(data, LIMITS)], "ar"))
    return out


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Sources (ours and LibreOffice's), their Arabic translations, and LibreOffice's PDF and
    text of each translation and its reading of the Arabic docx as odt."""
    root = tmp_path_factory.mktemp("office")
    sources, made, results = root / "sources", root / "made", root / "results"
    profile = root / "profile"
    for folder in (sources, made, results):
        folder.mkdir()
    (sources / "report.docx").write_bytes(build_docx())
    (sources / "slides.pptx").write_bytes(build_pptx())
    (sources / "sheet.xlsx").write_bytes(build_xlsx())
    (odt,) = convert([sources / "report.docx"], "odt", made, profile)
    (odp,) = convert([sources / "slides.pptx"], "odp", made, profile)
    (calc,) = convert([sources / "sheet.xlsx"], "xlsx:Calc MS Excel 2007 XML", made, profile)
    files = {
        "docx": _translate(sources / "report.docx", results / "report.docx", arabic),
        "pptx": _translate(sources / "slides.pptx", results / "slides.pptx", shout),
        "xlsx": _translate(calc, results / "sheet.xlsx", shout),
        "odt": _translate(odt, results / "report-lo.odt", arabic),
        "odp": _translate(odp, results / "slides-lo.odp", shout),
    }
    pdfs = convert(list(files.values()), "pdf", root / "pdf", profile)
    texts = convert(
        [files["docx"], files["odt"]], "txt:Text (encoded):UTF8", root / "text", profile
    )
    (reread,) = convert([files["docx"]], "odt", root / "reread", profile)
    found = {"made-odt": odt, "made-odp": odp, "made-xlsx": calc, "reread": reread, **files}
    found |= {f"pdf-{kind}": pdf for kind, pdf in zip(files, pdfs, strict=True)}
    found |= {"text-docx": texts[0], "text-odt": texts[1]}
    return found


def _pdf_text(path: Path) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout


def test_libreoffice_files_are_read_like_ours(office: dict[str, Path]) -> None:
    odt = ODT.read(office["made-odt"].read_bytes(), LIMITS)
    ours = DocxFormat().read(build_docx(), LIMITS)
    assert [re.sub(r"<[^>]+>", "", s.text) for s in odt][:2] == [
        re.sub(r"<[^>]+>", "", s.text) for s in ours
    ][:2]
    assert any('<b id="' in s.text and ">finance minister</b>" in s.text for s in odt)
    odp = [s.text for s in ODP.read(office["made-odp"].read_bytes(), LIMITS)]
    assert "Budget talks resume" in odp and "Speak slowly" in odp
    workbook = zipfile.ZipFile(office["made-xlsx"])
    assert "xl/sharedStrings.xml" in workbook.namelist()  # LibreOffice shares its strings
    cells = XlsxFormat().read(office["made-xlsx"].read_bytes(), LIMITS)
    assert "Checked by the newsroom" in {s.text for s in cells}


def test_every_result_opens_in_libreoffice_with_its_translated_text(
    office: dict[str, Path],
) -> None:
    assert "FINANCE MINISTER" not in _pdf_text(office["pdf-docx"])  # it is in Arabic
    assert "THE MINISTER SPOKE" in _pdf_text(office["pdf-pptx"])
    assert "SPEAK SLOWLY" not in _pdf_text(office["pdf-pptx"])  # notes are not printed
    sheet = _pdf_text(office["pdf-xlsx"])
    assert "PARIS" in sheet and "1200" in sheet and "THE TOTAL IS FINAL" in sheet
    assert "2400" in sheet  # the formula is still a formula: LibreOffice computed it
    header = sheet.splitlines()[0]
    assert header.index("OPENED") < header.index("CITY")  # the sheet runs right to left
    assert "SCHOOLS WILL REOPEN" in _pdf_text(office["pdf-odp"])
    for kind in ("docx", "odt"):
        text = office[f"text-{kind}"].read_text(encoding="utf-8-sig")
        for line in ("استئناف محادثات الميزانية", ARABIC["Schools will reopen"], "باريس"):
            assert line in text, (kind, line)
        assert "قال وزير المالية يوم الاثنين" in text


def test_results_reopen_with_the_libraries_with_their_structure(office: dict[str, Path]) -> None:
    document = docx.Document(office["docx"])
    assert len(document.paragraphs) == len(docx.Document(io.BytesIO(build_docx())).paragraphs)
    assert [r.text for r in document.paragraphs[1].runs if r.bold] == ["وزير المالية"]
    assert [r.text for r in document.paragraphs[1].runs if r.italic] == ["الاثنين"]
    slides = pptx.Presentation(office["pptx"])
    assert len(slides.slides) == 2
    workbook = openpyxl.load_workbook(office["xlsx"])
    assert workbook["Budget"]["B2"].value == 1200
    assert workbook["Budget"]["B3"].value == "=B2*2"
    assert workbook["Budget"]["A2"].value == "PARIS"
    assert workbook["Budget"].sheet_view.rightToLeft


def test_libreoffice_reads_the_arabic_docx_right_to_left_in_arabic(office: dict[str, Path]) -> None:
    content = etree.fromstring(zipfile.ZipFile(office["reread"]).read("content.xml"))
    styles = {s.get(q("style:name")): s for s in content.iter(q("style:style"))}
    heading = content.find(f".//{q('text:h')}")
    props = styles[heading.get(q("text:style-name"))].find(q("style:paragraph-properties"))
    assert props.get(q("style:writing-mode")) == "rl-tb"
    languages = {
        t.get(q("style:language-complex")) for t in content.iter(q("style:text-properties"))
    }
    assert "ar" in languages


def test_odt_from_libreoffice_keeps_its_paragraphs_and_tables(office: dict[str, Path]) -> None:
    before = etree.fromstring(zipfile.ZipFile(office["made-odt"]).read("content.xml"))
    after = etree.fromstring(zipfile.ZipFile(office["odt"]).read("content.xml"))
    table = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}table"
    for tag in (q("text:p"), q("text:h"), table, q("text:span")):
        assert len(list(after.iter(tag))) == len(list(before.iter(tag))), tag
