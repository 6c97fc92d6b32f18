"""What every Office format promises alike: hostile or broken translations never crash a write
and the result reopens; corrupt, truncated or foreign files are BadDocument, never another
error."""

from __future__ import annotations

import io
import zipfile

import pytest

from harness.office import build_docx, build_odf, build_pptx, build_xlsx, shout
from service.documents.docx import DocxFormat
from service.documents.formats import BadDocument, DocumentLimits
from service.documents.odf import ODP, ODT
from service.documents.pptx import PptxFormat
from service.documents.xlsx import XlsxFormat

LIMITS = DocumentLimits()
CASES = {
    "docx": (DocxFormat(), build_docx),
    "pptx": (PptxFormat(), build_pptx),
    "xlsx": (XlsxFormat(), build_xlsx),
    "odt": (ODT, lambda: build_odf("odt")),
    "odp": (ODP, lambda: build_odf("odp")),
}
HOSTILE = [
    '<script>alert(1)</script> & <b id="s9">x</b></i><ph id="k7"/><ph id="k0"></ph><<<',
    "\x00\x0b control \ud800 characters",
    '<a id="s1" href="javascript:x">link</a> <!-- comment --> &amp;&lt;',
    "",
    "  spaces   inside  \t tab \n line  ",
]


@pytest.fixture(scope="module", params=list(CASES))
def case(request: pytest.FixtureRequest):
    fmt, build = CASES[request.param]
    return fmt, build()


def test_hostile_translations_write_a_file_that_reopens(case) -> None:
    fmt, data = case
    segments = fmt.read(data, LIMITS)
    translations = [HOSTILE[i % len(HOSTILE)] for i in range(len(segments))]
    result = fmt.write(data, translations, "ar")
    again = fmt.read(result, LIMITS)
    text = " ".join(s.text for s in again)
    assert "alert(1)" in text and "control" in text and "spaces" in text


def test_writing_twice_is_stable(case) -> None:
    fmt, data = case
    once = fmt.write(data, [shout(s) for s in fmt.read(data, LIMITS)], "ar")
    twice = fmt.write(once, [s.text for s in fmt.read(once, LIMITS)], "ar")
    assert fmt.read(twice, LIMITS) == fmt.read(once, LIMITS)


@pytest.mark.parametrize("cut", [0.3, 0.6, 0.9])
def test_a_truncated_file_is_a_bad_document(case, cut: float) -> None:
    fmt, data = case
    with pytest.raises(BadDocument):
        fmt.read(data[: int(len(data) * cut)], LIMITS)


def test_a_file_of_another_kind_is_a_bad_document(case) -> None:
    fmt, data = case
    for other, (_, build) in CASES.items():
        if other == fmt.name:
            continue
        with pytest.raises(BadDocument):
            fmt.read(build(), LIMITS)
    empty = io.BytesIO()
    zipfile.ZipFile(empty, "w").close()
    with pytest.raises(BadDocument):
        fmt.read(empty.getvalue(), LIMITS)


def test_the_contract_names_and_types(case) -> None:
    fmt, _ = case
    assert fmt.extensions == (f".{fmt.name}",)
    assert fmt.media_type.startswith("application/vnd.")


def _replaced(data: bytes, name: str, new: bytes) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for info in source.infolist():
            archive.writestr(info, new if info.filename == name else source.read(info))
    return out.getvalue()


def test_a_part_of_the_wrong_kind_is_a_bad_document_or_ignored(case) -> None:
    """Each XML member in turn replaced by well-formed XML of no known kind: the format either
    refuses the file (BadDocument) or translates what is left, never another error."""
    fmt, data = case
    refused = 0
    for name in zipfile.ZipFile(io.BytesIO(data)).namelist():
        if not name.endswith((".xml", ".rels")):
            continue
        broken = _replaced(data, name, b'<?xml version="1.0"?><x/>')
        try:
            segments = fmt.read(broken, LIMITS)
        except BadDocument:
            refused += 1
            continue
        fmt.write(broken, [shout(s) for s in segments], "ar")
    assert refused >= 1
