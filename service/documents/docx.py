"""Word (.docx): every paragraph of the body, tables, headers, footers, footnotes, endnotes and
comments, translated as one segment each, its runs' formatting mapped back (`runs`).

Opened with python-docx, which loads the package's parts and writes back every part it did not
change byte for byte; the paragraphs are edited in its XML (w:p), since its API has no
footnotes. A paragraph's runs (w:r with text, tabs and line breaks) and hyperlinks are its
text; a run with anything else (an image, a footnote mark, a field, a page break) and any
other child (a bookmark, a content control, a tracked change) is kept as it is, in place.
Spelling marks (w:proofErr) are dropped: Word recomputes them.

For a right-to-left target each written paragraph gets w:bidi, each run w:rtl and the language
as w:lang's bidi attribute (and the complex-script twins of bold, italic and size, which Word
and LibreOffice use for Arabic); tables get w:bidiVisual. Other targets get w:lang's val.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from copy import deepcopy

import docx
from docx.exceptions import InvalidXmlError
from docx.opc.constants import CONTENT_TYPE as CT
from docx.opc.exceptions import OpcError
from docx.opc.part import PartFactory, XmlPart
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from lxml import etree

from service.documents.formats import BadDocument, DocumentLimits, Segment
from service.documents.languages import is_right_to_left, locale_tag
from service.documents.runs import (
    Flat,
    Hold,
    Item,
    Paragraph,
    flat_paragraphs,
    write_back,
)
from service.documents.safety import open_zip

# python-docx has no class for footnotes and endnotes; as XmlParts their XML is saved on write.
PartFactory.part_type_for.setdefault(CT.WML_FOOTNOTES, XmlPart)
PartFactory.part_type_for.setdefault(CT.WML_ENDNOTES, XmlPart)
TEXT_PARTS = (
    CT.WML_DOCUMENT_MAIN,
    CT.WML_HEADER,
    CT.WML_FOOTER,
    CT.WML_FOOTNOTES,
    CT.WML_ENDNOTES,
    CT.WML_COMMENTS,
)
# What python-docx raises on a package that is not a Word document or is broken inside (a part
# of the wrong kind, a missing relationship): turned into BadDocument while opening, only.
LIBRARY_ERRORS = (
    OpcError,
    InvalidXmlError,
    ValueError,
    KeyError,
    AttributeError,
    TypeError,
    zipfile.BadZipFile,
    etree.XMLSyntaxError,
)
_TEXT_CHILDREN = {qn("w:rPr"), qn("w:t"), qn("w:tab"), qn("w:br"), qn("w:cr")}
_NOT_FORMATTING = {qn("w:lang"), qn("w:noProof")}
_IGNORED = {qn("w:proofErr"), qn("w:lastRenderedPageBreak")}
# Schema order of the children written into w:rPr, w:pPr and w:tblPr (Word refuses others).
RPR_ORDER = (
    "rStyle rFonts b bCs i iCs caps smallCaps strike dstrike outline shadow emboss imprint "
    "noProof snapToGrid vanish webHidden color spacing w kern position sz szCs highlight u "
    "effect bdr shd fitText vertAlign rtl cs em lang eastAsianLayout specVanish oMath"
).split()
PPR_ORDER = (
    "pStyle keepNext keepLines pageBreakBefore framePr widowControl numPr suppressLineNumbers "
    "pBdr shd tabs suppressAutoHyphens kinsoku wordWrap overflowPunct topLinePunct autoSpaceDE "
    "autoSpaceDN bidi adjustRightInd snapToGrid spacing ind contextualSpacing mirrorIndents "
    "suppressOverlap jc textDirection textAlignment textboxTightWrap outlineLvl divId cnfStyle "
    "rPr sectPr pPrChange"
).split()
TBLPR_ORDER = (
    "tblStyle tblpPr tblOverlap bidiVisual tblStyleRowBandSize tblStyleColBandSize tblW jc "
    "tblCellSpacing tblInd tblBorders shd tblLayout tblCellMar tblLook tblCaption tblDescription"
).split()


def _on(rpr: etree._Element | None, name: str) -> bool:
    found = rpr.find(qn(f"w:{name}")) if rpr is not None else None
    value = found.get(qn("w:val"), "true") if found is not None else "false"
    return value not in ("false", "0", "none", "off")


def _tag(rpr: etree._Element | None, link: etree._Element | None) -> str:
    if link is not None:
        return "a"
    return next((tag for tag in ("b", "i", "u") if _on(rpr, tag)), "span")


def _run_text(run: etree._Element) -> str | None:
    """The run's text, or None when it holds anything but text, tabs and line breaks."""
    parts = []
    for child in run:
        if child.tag in _IGNORED or child.tag == qn("w:rPr"):
            continue
        if child.tag not in _TEXT_CHILDREN:
            return None
        if child.tag == qn("w:t"):
            parts.append(child.text or "")
        elif child.tag == qn("w:tab"):
            parts.append("\t")
        elif child.get(qn("w:type"), "textWrapping") == "textWrapping":
            parts.append("\n")
        else:
            return None
    return "".join(parts)


def _key(rpr: etree._Element | None) -> bytes:
    """The run's formatting as a key, without what the writer replaces or Word only tracks for
    proofing (language, no-proofing): runs split by a spell-check language are one."""
    if rpr is None:
        return b""
    copy = deepcopy(rpr)
    for child in list(copy):
        if child.tag in _NOT_FORMATTING:
            copy.remove(child)
    return etree.tostring(copy) if len(copy) or copy.attrib else b""


def _add_runs(paragraph: Paragraph, runs: list[etree._Element], link: etree._Element | None):
    for run in runs:
        rpr = run.find(qn("w:rPr"))
        template = (rpr, link)
        key = (_key(rpr), tuple(sorted(link.attrib.items())) if link is not None else ())
        paragraph.add_text(_run_text(run) or "", key, template, _tag(rpr, link))


def _shallow(element: etree._Element) -> etree._Element:
    copy = OxmlElement(_prefixed(element))
    for name, value in element.attrib.items():
        copy.set(name, value)
    return copy


def _prefixed(element: etree._Element) -> str:
    return f"{element.prefix}:{etree.QName(element).localname}"


def _flatten(p: etree._Element) -> Paragraph:
    paragraph = Paragraph()
    in_field = 0
    for child in p:
        if child.tag in (qn("w:pPr"), qn("w:proofErr")):
            continue
        fields = child.findall(f".//{qn('w:fldChar')}")
        for mark in fields:
            kind = mark.get(qn("w:fldCharType"))
            in_field += 1 if kind == "begin" else -1 if kind == "end" else 0
        inside = fields or in_field > 0
        if child.tag == qn("w:r") and not inside and _run_text(child) is not None:
            _add_runs(paragraph, [child], None)
            continue
        if child.tag == qn("w:hyperlink") and not inside:
            runs = [r for r in child if r.tag != qn("w:proofErr")]
            if runs and all(r.tag == qn("w:r") and _run_text(r) is not None for r in runs):
                _add_runs(paragraph, runs, child)
                continue
        paragraph.add_hold(child)
    return paragraph


def _paragraphs(roots: list[etree._Element]) -> list[Flat]:
    return flat_paragraphs((p for root in roots for p in root.iter(qn("w:p"))), _flatten)


def _open(
    data: bytes, limits: DocumentLimits
) -> tuple[docx.document.Document, list[etree._Element]]:
    """The document and the XML of its text parts; python-docx's errors on a package that is
    not a Word document, or a broken one, are BadDocument."""
    open_zip(data, limits)
    try:
        document = docx.Document(io.BytesIO(data))
        roots = [
            part.element
            for part in document.part.package.iter_parts()
            if part.content_type in TEXT_PARTS and isinstance(part, XmlPart)
        ]
    except LIBRARY_ERRORS as exc:
        raise BadDocument(f"the file is not a readable Word document: {exc}") from None
    return document, roots


def _child(parent: etree._Element, name: str, order: Sequence[str]) -> etree._Element:
    """`parent`'s w:`name` child, made in its schema place when missing."""
    found = parent.find(qn(f"w:{name}"))
    if found is not None:
        return found
    made = OxmlElement(f"w:{name}")
    later = set(order[order.index(name) + 1 :])
    for index, child in enumerate(parent):
        if etree.QName(child).localname in later:
            parent.insert(index, made)
            return made
    parent.append(made)
    return made


def _mark_run(rpr: etree._Element, target: str) -> None:
    lang = _child(rpr, "lang", RPR_ORDER)
    if not is_right_to_left(target):
        lang.set(qn("w:val"), locale_tag(target))
        return
    lang.set(qn("w:bidi"), locale_tag(target))
    _child(rpr, "rtl", RPR_ORDER)
    for plain, complex_ in (("b", "bCs"), ("i", "iCs"), ("sz", "szCs")):
        found = rpr.find(qn(f"w:{plain}"))
        if found is not None and rpr.find(qn(f"w:{complex_}")) is None:
            twin = _child(rpr, complex_, RPR_ORDER)
            for name, value in found.attrib.items():
                twin.set(name, value)


def _new_run(text: str, rpr: etree._Element | None, target: str) -> etree._Element:
    run = OxmlElement("w:r")
    props = deepcopy(rpr) if rpr is not None else OxmlElement("w:rPr")
    _mark_run(props, target)
    run.append(props)
    for index, line in enumerate(text.split("\n")):
        if index:
            run.append(OxmlElement("w:br"))
        for position, piece in enumerate(line.split("\t")):
            if position:
                run.append(OxmlElement("w:tab"))
            if piece:
                t = OxmlElement("w:t")
                t.text = piece
                t.set("{http://www.w3.org/XML/1998/namespace}space", "preserve")
                run.append(t)
    return run


def _rebuild(flat: Flat, items: list[Item], target: str) -> None:
    p, paragraph = flat.element, flat.paragraph
    for child in list(p):
        if child.tag != qn("w:pPr"):
            p.remove(child)
    link_of: etree._Element | None = None
    open_link: etree._Element | None = None
    for item in items:
        if isinstance(item, Hold):
            p.extend(paragraph.holds[item.index])
            open_link = None
            continue
        rpr, link = paragraph.templates[item.style]
        run = _new_run(item.text, rpr, target)
        if link is None:
            p.append(run)
            open_link = None
            continue
        if open_link is None or link_of is not link:
            open_link, link_of = _shallow(link), link
            p.append(open_link)
        open_link.append(run)


def _child_first(parent: etree._Element, name: str) -> etree._Element:
    found = parent.find(qn(f"w:{name}"))
    if found is None:
        found = OxmlElement(f"w:{name}")
        parent.insert(0, found)
    return found


def _mark_right_to_left(roots: list[etree._Element]) -> None:
    """Every paragraph (numbers-only ones too) and table of the text parts right to left."""
    for root in roots:
        for p in root.iter(qn("w:p")):
            _child(_child_first(p, "pPr"), "bidi", PPR_ORDER)
        for table in root.iter(qn("w:tbl")):
            _child(_child_first(table, "tblPr"), "bidiVisual", TBLPR_ORDER)


class DocxFormat:
    """Word documents (see the module's docstring for what is translated and kept)."""

    name = "docx"
    extensions = (".docx",)
    media_type = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"

    def __init__(self, write_limits: DocumentLimits | None = None) -> None:
        self.write_limits = write_limits or DocumentLimits()

    def read(self, data: bytes, limits: DocumentLimits) -> list[Segment]:
        return [flat.encoded.segment for flat in _paragraphs(_open(data, limits)[1])]

    def write(self, data: bytes, translations: Sequence[str], target: str) -> bytes:
        document, roots = _open(data, self.write_limits)
        found = _paragraphs(roots)
        write_back(found, translations, lambda flat, pieces: _rebuild(flat, pieces, target))
        if is_right_to_left(target):
            _mark_right_to_left(roots)
        out = io.BytesIO()
        document.save(out)
        return out.getvalue()
