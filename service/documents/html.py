"""HTML (.html, .htm): the whole page is one segment on the HTML path (`service.text.html`:
every text node translated, every tag, attribute, script, style and code block kept). The
translation is marked with its language: `lang` on `<html>` (and `dir="rtl"` for a right-to-left
target such as Arabic); a fragment without `<html>` is wrapped in a `<div>` that carries them.
"""

from __future__ import annotations

from collections.abc import Sequence

from bs4 import BeautifulSoup, Tag

from service.documents.direction import direction, is_rtl
from service.documents.formats import BadDocument, DocumentLimits, Segment
from service.documents.plaintext import decode, encode
from service.documents.safety import check_size


def mark_language(document: str, target: str, *, wrap: bool = True) -> str:
    """`document` with `lang` (and `xml:lang` when it had one) set to `target` on its `<html>`,
    and `dir` set for a right-to-left target (or an existing `dir` set to `ltr`). A fragment
    is wrapped in a `<div>` carrying them when `wrap`, else returned as it is."""
    soup = BeautifulSoup(document, "html.parser")
    root = soup.find("html")
    if not isinstance(root, Tag):
        if not wrap:
            return document
        attrs = f' dir="{direction(target)}"' if is_rtl(target) else ""
        return f'<div lang="{target}"{attrs}>{document}</div>'
    root["lang"] = target
    if root.has_attr("xml:lang"):
        root["xml:lang"] = target
    if is_rtl(target) or root.has_attr("dir"):
        root["dir"] = direction(target)
    return soup.decode(formatter="minimal")


class Html:
    """An HTML page or fragment."""

    name = "html"
    extensions = (".html", ".htm")
    media_type = "text/html; charset=utf-8"

    def read(self, data: bytes, limits: DocumentLimits) -> list[Segment]:
        check_size(data, limits)
        text, _, _ = decode(data)
        if not text.strip():
            raise BadDocument("the HTML file is empty")
        return [Segment(text, markup=True)]

    def write(self, data: bytes, translations: Sequence[str], target: str) -> bytes:
        _, bom, codec = decode(data)
        [translated] = translations
        return encode(mark_language(translated, target), bom, codec)
