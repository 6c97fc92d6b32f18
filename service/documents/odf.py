"""OpenDocument text (.odt) and presentations (.odp): every paragraph and heading of the body
(tables, lists, frames, notes, speaker notes) and of the page headers and footers, translated
as one segment each, spans' and links' formatting mapped back (`runs`).

ODF's XML is edited directly with lxml (content.xml, and styles.xml for headers and footers),
since the same few elements carry the text in both: a paragraph (text:p, text:h) holds text,
spans (text:span, nested), links (text:a), spaces (text:s), tabs and line breaks; anything else
inside it (a footnote, a frame, a field, a bookmark) is kept as it is, in place, in its spans.
Every other member is copied as it was (`mimetype` first and stored, as ODF requires). odfpy was
not used: its tree API would rebuild the same elements, with a second copy of the document in
memory.

Each written paragraph gets an automatic style derived from its own that names the target
language (`fo:language`/`fo:country`, or `style:language-complex`/`style:country-complex` for a
right-to-left language) and, right to left, `style:writing-mode="rl-tb"`; right to left, tables
turn too and the automatic text styles get the complex-script twins of their weight, style and
size, which Arabic text uses.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Sequence
from copy import deepcopy
from dataclasses import dataclass, field

from lxml import etree

from service.documents.archive import parse_member, replace_members, serialize
from service.documents.formats import BadDocument, DocumentLimits, Segment
from service.documents.languages import is_right_to_left, locale_of
from service.documents.runs import (
    Flat,
    Hold,
    Item,
    Paragraph,
    flat_paragraphs,
    write_back,
)
from service.documents.safety import open_zip, read_member

NS = {
    "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
    "style": "urn:oasis:names:tc:opendocument:xmlns:style:1.0",
    "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0",
    "fo": "urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0",
}
HEADERS_FOOTERS = "header header-left header-first footer footer-left footer-first".split()
_SPACES = re.compile(r"(\t|\n| {2,})")


def q(name: str) -> str:
    prefix, local = name.split(":")
    return f"{{{NS[prefix]}}}{local}"


@dataclass
class _Document:
    archive: zipfile.ZipFile
    parts: dict[str, etree._Element]
    text_properties: dict[str, etree._Element] = field(default_factory=dict)


def _tag(chain: tuple[str, ...], link: etree._Element | None, document: _Document) -> str:
    if link is not None:
        return "a"
    for name in reversed(chain):
        props = document.text_properties.get(name)
        if props is None:
            continue
        if props.get(q("fo:font-weight")) == "bold":
            return "b"
        if props.get(q("fo:font-style")) == "italic":
            return "i"
        if props.get(q("style:text-underline-style"), "none") != "none":
            return "u"
    return "span"


def _walk(element, chain, link, paragraph: Paragraph, document: _Document) -> None:
    def add(text: str | None) -> None:
        if text:
            key = (chain, tuple(sorted(link.attrib.items())) if link is not None else ())
            paragraph.add_text(text, key, (chain, link), _tag(chain, link, document))

    add(element.text)
    for child in element:
        if child.tag == q("text:span"):
            _walk(child, (*chain, child.get(q("text:style-name"), "")), link, paragraph, document)
        elif child.tag == q("text:a"):
            _walk(child, chain, child, paragraph, document)
        elif child.tag == q("text:s"):
            add(" " * int(child.get(q("text:c"), "1") or "1"))
        elif child.tag == q("text:tab"):
            add("\t")
        elif child.tag == q("text:line-break"):
            add("\n")
        else:
            paragraph.add_hold((child, chain))
        add(child.tail)


def _places(document: _Document) -> list[tuple[str, etree._Element]]:
    """Where paragraphs are translated, by part: the body, then the master pages' headers and
    footers."""
    places = [("content.xml", e) for e in document.parts["content.xml"].iter(q("office:body"))]
    styles = document.parts.get("styles.xml")
    if styles is not None:
        places += [
            ("styles.xml", e) for name in HEADERS_FOOTERS for e in styles.iter(q(f"style:{name}"))
        ]
    return places


def _paragraphs(document: _Document) -> list[Flat]:
    def flatten(p: etree._Element) -> Paragraph:
        paragraph = Paragraph()
        _walk(p, (), None, paragraph, document)
        return paragraph

    paragraphs = (p for _, root in _places(document) for p in root.iter(q("text:p"), q("text:h")))
    return flat_paragraphs(paragraphs, flatten)


def _open(data: bytes, limits: DocumentLimits, mimetype: str) -> _Document:
    archive = open_zip(data, limits)
    names = set(archive.namelist())
    if "mimetype" not in names or read_member(archive, "mimetype").strip() != mimetype.encode():
        raise BadDocument(f"the file is not an OpenDocument file of type {mimetype}")
    parts = {}
    for name in ("content.xml", "styles.xml"):
        if name in names:
            try:
                parts[name] = parse_member(archive, name)
            except etree.XMLSyntaxError as exc:
                raise BadDocument(f"{name} is not well-formed XML") from exc
    if "content.xml" not in parts or parts["content.xml"].find(q("office:body")) is None:
        raise BadDocument("the OpenDocument file has no content.xml with a body")
    document = _Document(archive, parts)
    for root in parts.values():
        for style in root.iter(q("style:style")):
            props = style.find(q("style:text-properties"))
            if props is not None:
                document.text_properties[style.get(q("style:name"), "")] = props
    return document


def _append_string(parent: etree._Element, text: str) -> None:
    if len(parent):
        parent[-1].tail = (parent[-1].tail or "") + text
    else:
        parent.text = (parent.text or "") + text


def _append_text(parent: etree._Element, text: str) -> None:
    """`text` into `parent`, tabs, line breaks and runs of spaces as ODF writes them."""
    for piece in _SPACES.split(text):
        if piece == "\t":
            etree.SubElement(parent, q("text:tab"))
        elif piece == "\n":
            etree.SubElement(parent, q("text:line-break"))
        elif piece.startswith("  "):
            _append_string(parent, " ")
            etree.SubElement(parent, q("text:s"), {q("text:c"): str(len(piece) - 1)})
        elif piece:
            _append_string(parent, piece)


def _rebuild(flat: Flat, items: list[Item]) -> None:
    p, paragraph = flat.element, flat.paragraph
    p.text = None
    for child in list(p):
        p.remove(child)
    open_link, link_of = None, None
    for item in items:
        if isinstance(item, Hold):
            for element, chain in paragraph.holds[item.index]:
                element.tail = None
                _spans(p, chain).append(element)
            open_link = None
            continue
        chain, link = paragraph.templates[item.style]
        container = p
        if link is not None:
            if open_link is None or link_of is not link:
                open_link, link_of = etree.SubElement(p, link.tag, dict(link.attrib)), link
            container = open_link
        else:
            open_link = None
        _append_text(_spans(container, chain), item.text)


def _spans(parent: etree._Element, chain: tuple[str, ...]) -> etree._Element:
    """Nested spans of the styles in `chain` at the end of `parent`; the innermost."""
    for name in chain:
        parent = etree.SubElement(parent, q("text:span"))
        if name:
            parent.set(q("text:style-name"), name)
    return parent


class _Styles:
    """Paragraph styles that name the target language (and direction), one per style used."""

    def __init__(self, root: etree._Element, prefix: str, target: str) -> None:
        self.root, self.prefix, self.target = root, prefix, target
        self.made: dict[str | None, str] = {}
        self.automatic = root.find(q("office:automatic-styles"))
        if self.automatic is None:
            self.automatic = etree.Element(q("office:automatic-styles"))
            later = root.find(q("office:master-styles"))
            later = later if later is not None else root.find(q("office:body"))
            if later is not None:
                later.addprevious(self.automatic)
            else:
                root.append(self.automatic)
        self.own = {s.get(q("style:name")): s for s in self.automatic.iter(q("style:style"))}

    def mark(self, p: etree._Element) -> None:
        name = p.get(q("text:style-name"))
        if name not in self.made:
            self.made[name] = self._derive(name)
        p.set(q("text:style-name"), self.made[name])

    def _derive(self, name: str | None) -> str:
        made = f"{self.prefix}{len(self.made) + 1}"
        if name in self.own:
            style = deepcopy(self.own[name])
            style.set(q("style:name"), made)
        else:
            style = etree.Element(q("style:style"), {q("style:family"): "paragraph"})
            style.set(q("style:name"), made)
            if name:
                style.set(q("style:parent-style-name"), name)
        self.automatic.append(style)
        paragraph = style.find(q("style:paragraph-properties"))
        if paragraph is None:
            paragraph = etree.Element(q("style:paragraph-properties"))
            style.insert(0, paragraph)
        text = style.find(q("style:text-properties"))
        if text is None:
            text = etree.SubElement(style, q("style:text-properties"))
        language, country = locale_of(self.target)
        kind = "style:{}-complex" if is_right_to_left(self.target) else "fo:{}"
        text.set(q(kind.format("language")), language)
        if country:
            text.set(q(kind.format("country")), country)
        if is_right_to_left(self.target):
            paragraph.set(q("style:writing-mode"), "rl-tb")
        return made


def _right_to_left_styles(root: etree._Element) -> None:
    """Tables right to left; weight, style and size also for complex scripts (Arabic), where
    they are not set."""
    automatic = root.find(q("office:automatic-styles"))
    for table in automatic.iter(q("style:table-properties")) if automatic is not None else ():
        table.set(q("style:writing-mode"), "rl-tb")
    for props in automatic.iter(q("style:text-properties")) if automatic is not None else ():
        for plain, twin in (
            ("fo:font-weight", "style:font-weight-complex"),
            ("fo:font-style", "style:font-style-complex"),
            ("fo:font-size", "style:font-size-complex"),
        ):
            if props.get(q(plain)) is not None and props.get(q(twin)) is None:
                props.set(q(twin), props.get(q(plain)))


def _mark(document: _Document, target: str) -> None:
    """Every paragraph of the translated places in the target's language and direction."""
    places = _places(document)
    for name, root in document.parts.items():
        styles = _Styles(root, f"Translated_{name[0].upper()}", target)
        for _, place in (p for p in places if p[0] == name):
            for p in list(place.iter(q("text:p"), q("text:h"))):
                styles.mark(p)
        if is_right_to_left(target):
            _right_to_left_styles(root)


class OdfFormat:
    """One OpenDocument kind (text or presentation); see the module's docstring."""

    def __init__(
        self, name: str, media_type: str, write_limits: DocumentLimits | None = None
    ) -> None:
        self.name = name
        self.extensions = (f".{name}",)
        self.media_type = media_type
        self.write_limits = write_limits or DocumentLimits()

    def read(self, data: bytes, limits: DocumentLimits) -> list[Segment]:
        return [flat.encoded.segment for flat in _paragraphs(_open(data, limits, self.media_type))]

    def write(self, data: bytes, translations: Sequence[str], target: str) -> bytes:
        document = _open(data, self.write_limits, self.media_type)
        found = _paragraphs(document)
        write_back(found, translations, _rebuild)
        _mark(document, target)
        replaced = {name: serialize(root) for name, root in document.parts.items()}
        return replace_members(document.archive, replaced)


ODT = OdfFormat("odt", "application/vnd.oasis.opendocument.text")
ODP = OdfFormat("odp", "application/vnd.oasis.opendocument.presentation")
