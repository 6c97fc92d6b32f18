"""PowerPoint (.pptx): every paragraph of the slides' text frames, tables and groups, and of
their speaker notes, translated as one segment each, runs' formatting mapped back (`runs`).

Opened with python-pptx, which writes back every part it did not change byte for byte; the
paragraphs (a:p) are edited in its XML. A run (a:r) is text with its a:rPr (bold, size,
colour, and a link: PowerPoint keeps hyperlinks in the run's properties), a line break (a:br)
is a newline in its run's formatting, and a field (a:fld: slide number, date) or anything else
is kept as it is, in place. Masters and layouts (the template's prompts) are not translated.

Each written run gets the target's `lang`; for a right-to-left target every paragraph and table
gets `rtl="1"`, and paragraph properties (the slides', and the levels' defaults of masters and
layouts) are mirrored: left alignment turns right, right turns left.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from copy import deepcopy

import pptx
from lxml import etree
from pptx.exc import InvalidXmlError, PackageNotFoundError
from pptx.oxml import parse_xml
from pptx.oxml.ns import qn

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

_NS_A = 'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main"'
# What python-pptx raises on a package that is not a presentation or is broken inside (a part of
# the wrong kind, a missing relationship): turned into BadDocument while opening, only.
LIBRARY_ERRORS = (
    PackageNotFoundError,
    InvalidXmlError,
    ValueError,
    KeyError,
    AttributeError,
    TypeError,
    zipfile.BadZipFile,
    etree.XMLSyntaxError,
)
_PARAGRAPH_PROPERTIES = [qn("a:pPr"), qn("a:defPPr")] + [qn(f"a:lvl{n}pPr") for n in range(1, 10)]
_NOT_FORMATTING = ("lang", "altLang", "dirty", "err", "noProof", "smtClean")
_FIXED = {qn("a:pPr"), qn("a:endParaRPr")}


def _tag(rpr: etree._Element | None) -> str:
    if rpr is None:
        return "span"
    if rpr.find(qn("a:hlinkClick")) is not None:
        return "a"
    if rpr.get("b") in ("1", "true"):
        return "b"
    if rpr.get("i") in ("1", "true"):
        return "i"
    return "u" if rpr.get("u", "none") != "none" else "span"


def _key(rpr: etree._Element | None) -> bytes:
    """The run's formatting as a key, without what the writer replaces or PowerPoint only
    tracks for proofing (language, spelling marks, dirty flags)."""
    if rpr is None:
        return b""
    copy = deepcopy(rpr)
    for name in _NOT_FORMATTING:
        copy.attrib.pop(name, None)
    return etree.tostring(copy) if len(copy) or copy.attrib else b""


def _add(paragraph: Paragraph, text: str, rpr: etree._Element | None) -> None:
    key = _key(rpr)
    paragraph.add_text(text, key, rpr, _tag(rpr))


def _flatten(p: etree._Element) -> Paragraph:
    paragraph = Paragraph()
    for child in p:
        if child.tag in _FIXED:
            continue
        if child.tag == qn("a:r"):
            _add(paragraph, child.findtext(qn("a:t")) or "", child.find(qn("a:rPr")))
        elif child.tag == qn("a:br"):
            _add(paragraph, "\n", child.find(qn("a:rPr")))
        else:
            paragraph.add_hold(child)
    return paragraph


def _parts(presentation: pptx.presentation.Presentation) -> list[etree._Element]:
    """The slides' XML, each followed by its notes' when it has notes."""
    found = []
    for slide in presentation.slides:
        found.append(slide.element)
        if slide.has_notes_slide:
            found.append(slide.notes_slide.element)
    return found


def _paragraphs(roots: list[etree._Element]) -> list[Flat]:
    return flat_paragraphs((p for root in roots for p in root.iter(qn("a:p"))), _flatten)


def _open(
    data: bytes, limits: DocumentLimits
) -> tuple[pptx.presentation.Presentation, list[etree._Element], list[etree._Element]]:
    """The presentation, the XML of its slides and notes, and of its masters and layouts;
    python-pptx's errors on a package that is not a presentation, or a broken one, are
    BadDocument."""
    open_zip(data, limits)
    try:
        presentation = pptx.Presentation(io.BytesIO(data))
        return presentation, _parts(presentation), _templates(presentation)
    except LIBRARY_ERRORS as exc:
        raise BadDocument(f"the file is not a readable PowerPoint presentation: {exc}") from None


def _properties(rpr: etree._Element | None, target: str) -> etree._Element:
    props = deepcopy(rpr) if rpr is not None else parse_xml(f"<a:rPr {_NS_A}/>")
    props.set("lang", locale_tag(target))
    return props


def _new_runs(text: str, rpr: etree._Element | None, target: str) -> list[etree._Element]:
    made = []
    for index, line in enumerate(text.split("\n")):
        if index:
            br = parse_xml(f"<a:br {_NS_A}/>")
            br.append(_properties(rpr, target))
            made.append(br)
        if line:
            run = parse_xml(f"<a:r {_NS_A}><a:t/></a:r>")
            run.insert(0, _properties(rpr, target))
            run.find(qn("a:t")).text = line
            made.append(run)
    return made


def _rebuild(flat: Flat, items: list[Item], target: str) -> None:
    p, paragraph = flat.element, flat.paragraph
    end = p.find(qn("a:endParaRPr"))
    made: list[etree._Element] = []
    for child in list(p):
        if child.tag not in _FIXED:
            p.remove(child)
    for item in items:
        if isinstance(item, Hold):
            made.extend(paragraph.holds[item.index])
        else:
            made.extend(_new_runs(item.text, paragraph.templates[item.style], target))
    for element in made:
        if end is None:
            p.append(element)
        else:
            end.addprevious(element)


def _templates(presentation: pptx.presentation.Presentation) -> list[etree._Element]:
    """The masters' and layouts' XML: where inherited paragraph properties live."""
    found = []
    for master in presentation.slide_masters:
        found.append(master.element)
        found.extend(layout.element for layout in master.slide_layouts)
    return found


def _mark_right_to_left(roots: list[etree._Element], templates: list[etree._Element]) -> None:
    """Every paragraph of the slides and notes right to left, and every paragraph property of
    them and of the masters and layouts (the levels' defaults) mirrored: `rtl="1"`, left
    alignment turned right and right turned left, so inherited alignment mirrors too."""
    for root in roots:
        for p in root.iter(qn("a:p")):
            if p.find(qn("a:pPr")) is None:
                p.insert(0, parse_xml(f"<a:pPr {_NS_A}/>"))
        for table in root.iter(qn("a:tblPr")):
            table.set("rtl", "1")
    for root in [*roots, *templates]:
        for props in root.iter(*_PARAGRAPH_PROPERTIES):
            props.set("rtl", "1")
            mirrored = {"l": "r", "r": "l"}.get(props.get("algn", ""))
            if mirrored:
                props.set("algn", mirrored)


class PptxFormat:
    """PowerPoint presentations (see the module's docstring for what is translated and kept)."""

    name = "pptx"
    extensions = (".pptx",)
    media_type = "application/vnd.openxmlformats-officedocument.presentationml.presentation"

    def __init__(self, write_limits: DocumentLimits | None = None) -> None:
        self.write_limits = write_limits or DocumentLimits()

    def read(self, data: bytes, limits: DocumentLimits) -> list[Segment]:
        return [flat.encoded.segment for flat in _paragraphs(_open(data, limits)[1])]

    def write(self, data: bytes, translations: Sequence[str], target: str) -> bytes:
        presentation, roots, templates = _open(data, self.write_limits)
        found = _paragraphs(roots)
        write_back(found, translations, lambda flat, pieces: _rebuild(flat, pieces, target))
        if is_right_to_left(target):
            _mark_right_to_left(roots, templates)
        out = io.BytesIO()
        presentation.save(out)
        return out.getvalue()
