"""Office documents for the format tests: built with the formats' own libraries (python-docx,
python-pptx, openpyxl), a deterministic stand-in for translation, and LibreOffice headless.

`shout` stands in for the model on the service's own HTML path: a markup segment is split into
text pieces by `service.text.html` and each piece is upper-cased, so tags come back around the
words they wrapped exactly as a translation does; a plain segment is upper-cased. `numbered`
maps each segment to a marker naming its position, to check every segment goes back to its
place.
"""

from __future__ import annotations

import datetime
import io
import shutil
import subprocess
import zipfile
from pathlib import Path

from service.documents.formats import Segment
from service.text.html import extract_texts

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
# The Debian packages that give `soffice` its Writer, Impress and Calc filters without a GUI.
OFFICE_PACKAGES = "libreoffice-writer-nogui libreoffice-impress-nogui libreoffice-calc-nogui"
W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def shout(segment: Segment) -> str:
    """The segment "translated": its words upper-cased, its tags kept (the HTML path's way)."""
    if not segment.markup:
        return segment.text.upper()
    pieces = extract_texts(segment.text)
    return pieces.rebuild([text.upper() for text in pieces.texts])


# The demo's Arabic, piece by piece (as the HTML path sends a formatted sentence's pieces).
ARABIC = {
    "Budget talks resume": "استئناف محادثات الميزانية",
    "The": "قال",
    "finance minister": "وزير المالية",
    "said on": "يوم",
    "Monday": "الاثنين",
    "that the": "إن",
    "new report": "التقرير الجديد",
    "was ready.": "جاهز.",
    "Schools will reopen": "ستعيد المدارس فتح أبوابها",
    "Roads will be repaired": "سيتم إصلاح الطرق",
    "City": "المدينة",
    "Budget": "الميزانية",
    "Paris": "باريس",
    "Figures from the ministry.": "أرقام من الوزارة.",
    "Daily news": "أخبار يومية",
    "Printed by the newsroom": "طبع في غرفة الأخبار",
}


def arabic(segment: Segment) -> str:
    """The segment in Arabic from `ARABIC`, piece by piece on the HTML path (unknown pieces
    upper-cased): a fixed stand-in for the model, for the pictures and the LibreOffice tests."""
    if not segment.markup:
        return ARABIC.get(segment.text, segment.text.upper())
    pieces = extract_texts(segment.text)
    return pieces.rebuild([ARABIC.get(text, text.upper()) for text in pieces.texts])


def numbered(segments: list[Segment]) -> list[str]:
    """`Segment N` for the Nth segment (plain text: a marker of where each one went)."""
    return [f"Segment {index}" for index, _ in enumerate(segments)]


def _hyperlink(paragraph, text: str, address: str) -> None:
    """A real w:hyperlink (python-docx has no API for one): a relationship and a linked run."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    rel = paragraph.part.relate_to(address, f"{R}/hyperlink", is_external=True)
    link = OxmlElement("w:hyperlink")
    link.set(qn("r:id"), rel)
    run = OxmlElement("w:r")
    props = OxmlElement("w:rPr")
    style = OxmlElement("w:u")
    style.set(qn("w:val"), "single")
    props.append(style)
    run.append(props)
    t = OxmlElement("w:t")
    t.text = text
    run.append(t)
    link.append(run)
    paragraph._p.append(link)


def _footnote(paragraph, text: str) -> None:
    """A footnote mark at the paragraph's end and its note in a new footnotes part (python-docx
    has no API for footnotes)."""
    from docx.opc.constants import CONTENT_TYPE, RELATIONSHIP_TYPE
    from docx.opc.packuri import PackURI
    from docx.opc.part import XmlPart
    from docx.oxml import parse_xml

    notes = parse_xml(
        f'<w:footnotes xmlns:w="{W}">'
        '<w:footnote w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r></w:p>'
        '</w:footnote><w:footnote w:id="1"><w:p><w:r><w:rPr><w:vertAlign w:val="superscript"/>'
        f'</w:rPr><w:footnoteRef/></w:r><w:r><w:t xml:space="preserve"> {text}</w:t></w:r></w:p>'
        "</w:footnote></w:footnotes>"
    )
    document_part = paragraph.part
    part = XmlPart(
        PackURI("/word/footnotes.xml"), CONTENT_TYPE.WML_FOOTNOTES, notes, document_part.package
    )
    document_part.relate_to(part, RELATIONSHIP_TYPE.FOOTNOTES)
    mark = parse_xml(
        f'<w:r xmlns:w="{W}"><w:rPr><w:vertAlign w:val="superscript"/></w:rPr>'
        '<w:footnoteReference w:id="1"/></w:r>'
    )
    paragraph._p.append(mark)


def build_docx() -> bytes:
    """A Word document with a heading, formatted runs, a link and a footnote mark inside one
    sentence, a list, a table, a header, a footer and the footnote."""
    import docx

    document = docx.Document()
    document.add_heading("Budget talks resume", level=1)
    p = document.add_paragraph("The ")
    p.add_run("finance minister").bold = True
    p.add_run(" said on ")
    p.add_run("Monday").italic = True
    _footnote(p, "Figures from the ministry.")
    p.add_run(" that the ")
    _hyperlink(p, "new report", "https://example.com/report")
    p.add_run(" was ready.")
    document.add_paragraph("Schools will reopen", style="List Bullet")
    document.add_paragraph("Roads will be repaired", style="List Bullet")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "City"
    table.cell(0, 1).text = "Budget"
    table.cell(1, 0).text = "Paris"
    table.cell(1, 1).text = "1200"
    section = document.sections[0]
    section.header.paragraphs[0].text = "Daily news"
    section.footer.paragraphs[0].text = "Printed by the newsroom"
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def build_pptx() -> bytes:
    """A presentation: a title, a text frame with a bold run and a link, a table, a group and
    speaker notes."""
    import pptx
    from pptx.util import Inches

    presentation = pptx.Presentation()
    slide = presentation.slides.add_slide(presentation.slide_layouts[1])
    slide.shapes.title.text = "Budget talks resume"
    frame = slide.placeholders[1].text_frame
    frame.text = "The minister spoke "
    run = frame.paragraphs[0].add_run()
    run.text = "on Monday"
    run.font.bold = True
    run = frame.paragraphs[0].add_run()
    run.text = " about the report"
    run.hyperlink.address = "https://example.com/report"
    frame.add_paragraph().text = "Schools will reopen"
    table = slide.shapes.add_table(2, 2, Inches(1), Inches(5), Inches(4), Inches(1)).table
    table.cell(0, 0).text = "City"
    table.cell(0, 1).text = "Budget"
    table.cell(1, 0).text = "Paris"
    table.cell(1, 1).text = "1200"
    slide.notes_slide.notes_text_frame.text = "Speak slowly"
    second = presentation.slides.add_slide(presentation.slide_layouts[5])
    second.shapes.title.text = "Questions"
    out = io.BytesIO()
    presentation.save(out)
    return out.getvalue()


def build_xlsx() -> bytes:
    """A workbook: text cells (one rich), a number, a formula, a date, a second sheet; openpyxl
    writes its text as inline strings (`build_xlsx_shared`: the same in shared strings)."""
    import openpyxl
    from openpyxl.cell.rich_text import CellRichText, TextBlock
    from openpyxl.cell.text import InlineFont

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Budget"
    sheet["A1"] = "City"
    sheet["B1"] = "Amount"
    sheet["C1"] = "Opened"
    sheet["A2"] = "Paris"
    sheet["B2"] = 1200
    sheet["C2"] = datetime.date(2026, 1, 5)
    sheet["B3"] = "=B2*2"
    sheet["A4"] = CellRichText(["The ", TextBlock(InlineFont(b=True), "total"), " is final"])
    workbook.create_sheet("Notes")["A1"] = "Checked by the newsroom"
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def build_xlsx_shared() -> bytes:
    """The same workbook written by XlsxWriter (python-pptx's own dependency), which keeps text
    in the shared strings part as Excel and LibreOffice do (openpyxl writes inline strings)."""
    import xlsxwriter

    out = io.BytesIO()
    workbook = xlsxwriter.Workbook(out, {"in_memory": True})
    sheet = workbook.add_worksheet("Budget")
    sheet.write_row(0, 0, ["City", "Amount", "Opened"])
    sheet.write_string(1, 0, "Paris")
    sheet.write_number(1, 1, 1200)
    sheet.write_datetime(
        1, 2, datetime.datetime(2026, 1, 5), workbook.add_format({"num_format": "yyyy-mm-dd"})
    )
    sheet.write_formula(2, 1, "=B2*2")
    sheet.write_rich_string(3, 0, "The ", workbook.add_format({"bold": True}), "total", " is final")
    workbook.add_worksheet("Notes").write_string(0, 0, "Checked by the newsroom")
    workbook.close()
    return out.getvalue()


def convert(
    sources: list[Path],
    kind: str,
    directory: Path,
    profile: Path | None = None,
    timeout: float = 180,
) -> list[Path]:
    """`sources` converted by LibreOffice headless (one start for all) to `kind` (odt, odp,
    pdf, `txt:Text (encoded):UTF8`...) in `directory`. `profile` is LibreOffice's user
    profile (made on first use, reused after: faster), `directory/.profile` by default; two
    conversions running at once must not share one. Raises when a file was not made."""
    assert SOFFICE, "soffice is not installed"
    profile = profile or directory / ".profile"
    subprocess.run(
        [
            SOFFICE,
            f"-env:UserInstallation=file://{profile}",
            "--headless",
            "--convert-to",
            kind,
            "--outdir",
            str(directory),
            *map(str, sources),
        ],
        check=True,
        capture_output=True,
        timeout=timeout,
    )
    made = [directory / f"{source.stem}.{kind.split(':')[0]}" for source in sources]
    missing = [path.name for path in made if not path.exists()]
    if missing:
        raise RuntimeError(f"LibreOffice did not make {', '.join(missing)}")
    return made


def render_arabic_docx(picture: Path, directory: Path) -> Path:
    """The README's picture: `build_docx` translated to Arabic by `arabic` through DocxFormat,
    rendered by LibreOffice to PDF and by pdftoppm (poppler-utils) to a small PNG."""
    from service.documents.docx import DocxFormat
    from service.documents.formats import DocumentLimits

    original = build_docx()
    segments = DocxFormat().read(original, DocumentLimits())
    source = directory / "arabic.docx"
    source.write_bytes(DocxFormat().write(original, [arabic(s) for s in segments], "ar"))
    (pdf,) = convert([source], "pdf", directory)
    stem = picture.with_suffix("")
    subprocess.run(
        [
            *("pdftoppm", "-png", "-r", "90", "-singlefile"),
            *("-x", "60", "-y", "30", "-W", "660", "-H", "260"),
            *(str(pdf), str(stem)),
        ],
        check=True,
        timeout=60,
    )
    return picture


if __name__ == "__main__":
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as work:
        print(render_arabic_docx(Path(sys.argv[1]), Path(work)))


ODF_NAMESPACES = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" '
    'xmlns:presentation="urn:oasis:names:tc:opendocument:xmlns:presentation:1.0" '
    'xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0" '
    'xmlns:fo="urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0" '
    'xmlns:xlink="http://www.w3.org/1999/xlink" office:version="1.3"'
)
_ODT_STYLES = (
    '<style:style style:name="P1" style:family="paragraph" style:parent-style-name="Standard">'
    '<style:paragraph-properties fo:text-align="start"/></style:style>'
    '<style:style style:name="T1" style:family="text">'
    '<style:text-properties fo:font-weight="bold"/></style:style>'
    '<style:style style:name="T2" style:family="text">'
    '<style:text-properties fo:font-style="italic"/></style:style>'
    '<style:style style:name="Tbl" style:family="table">'
    '<style:table-properties style:width="6in"/></style:style>'
)
ODT_BODY = (
    '<text:h text:style-name="Heading_20_1" text:outline-level="1">Budget talks resume</text:h>'
    '<text:p text:style-name="P1">The <text:span text:style-name="T1">finance minister</text:span>'
    ' said on <text:span text:style-name="T2">Monday</text:span><text:note text:id="n1" '
    'text:note-class="footnote"><text:note-citation>1</text:note-citation><text:note-body>'
    '<text:p text:style-name="Footnote">Figures from the ministry.</text:p></text:note-body>'
    '</text:note> that the <text:a xlink:type="simple" xlink:href="https://example.com/report">'
    'new report</text:a> was<text:s text:c="2"/>ready.</text:p>'
    '<text:list><text:list-item><text:p text:style-name="Standard">Schools will reopen</text:p>'
    "</text:list-item></text:list>"
    '<table:table table:name="T" table:style-name="Tbl"><table:table-column/><table:table-column/>'
    "<table:table-row><table:table-cell><text:p>City</text:p></table:table-cell>"
    "<table:table-cell><text:p>1200</text:p></table:table-cell></table:table-row></table:table>"
)
ODP_BODY = (
    '<draw:page draw:name="page1"><draw:frame presentation:class="title" svg:width="20cm" '
    'svg:height="3cm" svg:x="2cm" svg:y="1cm"><draw:text-box><text:p text:style-name="P1">'
    "Budget talks resume</text:p></draw:text-box></draw:frame>"
    '<draw:frame svg:width="20cm" svg:height="8cm" svg:x="2cm" svg:y="5cm"><draw:text-box>'
    '<text:p>The minister spoke <text:span text:style-name="T1">on Monday</text:span></text:p>'
    "<text:p>Schools will reopen</text:p></draw:text-box></draw:frame>"
    "<presentation:notes><draw:frame><draw:text-box><text:p>Speak slowly</text:p>"
    "</draw:text-box></draw:frame></presentation:notes></draw:page>"
)


def build_odf(kind: str) -> bytes:
    """A minimal OpenDocument file written by hand (`odt` or `odp`): `ODT_BODY` with a header,
    or `ODP_BODY`; LibreOffice's own files are the system tests' (see `convert`)."""
    body = "text" if kind == "odt" else "presentation"
    content = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {ODF_NAMESPACES}>'
        f"<office:automatic-styles>{_ODT_STYLES}</office:automatic-styles><office:body>"
        f"<office:{body}>{ODT_BODY if kind == 'odt' else ODP_BODY}</office:{body}>"
        "</office:body></office:document-content>"
    )
    styles = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-styles {ODF_NAMESPACES}>'
        '<office:master-styles><style:master-page style:name="Standard"><style:header>'
        "<text:p>Daily news</text:p></style:header></style:master-page></office:master-styles>"
        "</office:document-styles>"
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest='
        '"urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.3">'
        f'<manifest:file-entry manifest:full-path="/" manifest:media-type="{_ODF_TYPES[kind]}"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
        '<manifest:file-entry manifest:full-path="styles.xml" manifest:media-type="text/xml"/>'
        "</manifest:manifest>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"), _ODF_TYPES[kind], zipfile.ZIP_STORED)
        archive.writestr("content.xml", content)
        archive.writestr("styles.xml", styles)
        archive.writestr("META-INF/manifest.xml", manifest)
    return out.getvalue()


_ODF_TYPES = {
    "odt": "application/vnd.oasis.opendocument.text",
    "odp": "application/vnd.oasis.opendocument.presentation",
}
