"""Excel (.xlsx): the text cells, translated one segment per string, rich text's runs mapped
back (`runs`); numbers, dates, formulas and their cached results are never touched.

Text cells hold their strings in the shared strings part (one `si` per distinct string, which
is where numbers, dates and formulas never are) or inline (`t="inlineStr"`); both are edited in
their XML with lxml and the workbook's other members are copied as they were. Not through
openpyxl: it rewrites the whole workbook from what it models and drops what it does not (its
documentation says so for charts, images and shapes). Sheet names are not translated, since
formulas refer to them. A right-to-left target turns every sheet right to left (`rightToLeft`
on its view), as Excel does for an Arabic workbook.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from copy import deepcopy
from dataclasses import dataclass

from lxml import etree

from service.documents.archive import parse_member, replace_members, serialize
from service.documents.formats import BadDocument, DocumentLimits, Segment
from service.documents.languages import is_right_to_left
from service.documents.runs import (
    Flat,
    Hold,
    Item,
    Paragraph,
    flat_paragraphs,
    write_back,
)
from service.documents.safety import open_zip

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
CONTENT_TYPES = "http://schemas.openxmlformats.org/package/2006/content-types"
SHARED_STRINGS = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
WORKSHEET = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
# What may follow sheetViews in a worksheet (schema order): a new sheetViews goes before them.
_AFTER_VIEWS = ("sheetFormatPr", "cols", "sheetData")


def q(name: str) -> str:
    return f"{{{MAIN}}}{name}"


@dataclass
class _Workbook:
    archive: zipfile.ZipFile
    parts: dict[str, etree._Element]
    sheets: list[str]


def _tag(rpr: etree._Element | None) -> str:
    for name in ("b", "i", "u"):
        found = rpr.find(q(name)) if rpr is not None else None
        if found is not None and found.get("val", "true") not in ("0", "false", "none"):
            return name
    return "span"


def _flatten(string: etree._Element) -> Paragraph:
    paragraph = Paragraph()
    for child in string:
        if child.tag == q("t"):
            paragraph.add_text(child.text or "", b"", None, "span")
        elif child.tag == q("r"):
            rpr = child.find(q("rPr"))
            key = etree.tostring(rpr) if rpr is not None else b""
            paragraph.add_text(child.findtext(q("t")) or "", key, rpr, _tag(rpr))
    return paragraph


def _open(data: bytes, limits: DocumentLimits) -> _Workbook:
    archive = open_zip(data, limits)
    try:
        types = parse_member(archive, "[Content_Types].xml")
    except BadDocument:
        raise BadDocument("the file is not an Excel workbook (no [Content_Types].xml)") from None
    parts: dict[str, etree._Element] = {}
    sheets = []
    for override in types.iter(f"{{{CONTENT_TYPES}}}Override"):
        name = override.get("PartName", "").lstrip("/")
        kind = override.get("ContentType")
        if kind in (SHARED_STRINGS, WORKSHEET):
            try:
                parts[name] = parse_member(archive, name)
            except etree.XMLSyntaxError as exc:
                raise BadDocument(f"{name} is not well-formed XML") from exc
            if kind == WORKSHEET:
                sheets.append(name)
    if not sheets:
        raise BadDocument("the file is not an Excel workbook (it has no worksheet)")
    return _Workbook(archive, parts, sheets)


def _strings(workbook: _Workbook) -> list[Flat]:
    """Shared strings first, then each sheet's inline strings, in document order."""
    strings = (
        string
        for name, root in workbook.parts.items()
        for string in root.iter(q("si") if name not in workbook.sheets else q("is"))
    )
    return flat_paragraphs(strings, _flatten)


def _text(tag: str, text: str) -> etree._Element:
    t = etree.Element(q(tag))
    t.text = text
    if text != text.strip():
        t.set("{http://www.w3.org/XML/1998/namespace}space", "preserve")
    return t


def _rebuild(flat: Flat, items: list[Item]) -> None:
    string, templates = flat.element, flat.paragraph.templates
    for child in list(string):
        if child.tag in (q("t"), q("r")):
            string.remove(child)
    texts = [item for item in items if not isinstance(item, Hold)]
    if len(texts) == 1 and templates[texts[0].style] is None:
        string.insert(0, _text("t", texts[0].text))
        return
    for position, item in enumerate(texts):
        run = etree.Element(q("r"))
        if templates[item.style] is not None:
            run.append(deepcopy(templates[item.style]))
        run.append(_text("t", item.text))
        string.insert(position, run)


def _mark_right_to_left(sheet: etree._Element) -> None:
    views = sheet.find(q("sheetViews"))
    if views is None:
        views = etree.Element(q("sheetViews"))
        later = [child for child in sheet if etree.QName(child).localname in _AFTER_VIEWS]
        if later:
            later[0].addprevious(views)
        else:
            sheet.append(views)
    if views.find(q("sheetView")) is None:
        etree.SubElement(views, q("sheetView"), workbookViewId="0")
    for view in views.iter(q("sheetView")):
        view.set("rightToLeft", "1")


class XlsxFormat:
    """Excel workbooks (see the module's docstring for what is translated and kept)."""

    name = "xlsx"
    extensions = (".xlsx",)
    media_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

    def __init__(self, write_limits: DocumentLimits | None = None) -> None:
        self.write_limits = write_limits or DocumentLimits()

    def read(self, data: bytes, limits: DocumentLimits) -> list[Segment]:
        return [flat.encoded.segment for flat in _strings(_open(data, limits))]

    def write(self, data: bytes, translations: Sequence[str], target: str) -> bytes:
        workbook = _open(data, self.write_limits)
        found = _strings(workbook)
        write_back(found, translations, _rebuild)
        if is_right_to_left(target):
            for name in workbook.sheets:
                _mark_right_to_left(workbook.parts[name])
        replaced = {name: serialize(root) for name, root in workbook.parts.items()}
        return replace_members(workbook.archive, replaced)
