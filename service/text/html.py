"""HTML in, the same HTML out with its visible text swapped: what `format: html` translates.

Parsed with BeautifulSoup over Python's own `html.parser`: lenient with the broken markup
users paste (unclosed tags, stray end tags), pure Python (no libxml2 to build or to differ by
version, unlike lxml), and it keeps comments, CDATA, doctypes and attributes as they were.

Each text node is one piece to translate; a sentence split by inline markup ("the <b>new</b>
bridge") is therefore translated in pieces. Whitespace around a node's text is kept as it was;
a run of only whitespace between tags becomes one newline or space (the parser's doing; browsers
show it the same), except inside pre and textarea.
Nothing inside script, style, code, pre, textarea or template is touched, nor comments, CDATA,
doctypes or processing instructions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bs4 import BeautifulSoup, NavigableString, Tag
from bs4.exceptions import ParserRejectedMarkup

# Elements whose text is code, data or preformatted: never translated.
SKIPPED_ELEMENTS = frozenset({"script", "style", "code", "pre", "textarea", "template", "kbd"})
# Deeper nesting than this is refused: no real page nests 1,000 elements, and serialising a
# deeper tree costs recursion the service should not spend on one request.
MAX_DEPTH = 1000
_EDGES_RE = re.compile(r"^(\s*)(.*?)(\s*)$", re.DOTALL)
_WORD_RE = re.compile(r"[^\W\d_]")


class HtmlError(ValueError):
    """The markup cannot be parsed, or is nested deeper than MAX_DEPTH. `index`: which
    document of a list (see `extract_all`)."""

    index = 0


@dataclass
class HtmlTexts:
    """A parsed document and its translatable text pieces, in document order.

    `texts` are the pieces without their surrounding whitespace; `rebuild` puts a translation
    of each (same order and count) back and returns the document.
    """

    _soup: BeautifulSoup
    _nodes: list[NavigableString]
    _edges: list[tuple[str, str]]
    texts: list[str]

    def rebuild(self, translated: list[str]) -> str:
        if len(translated) != len(self._nodes):
            raise ValueError(f"{len(translated)} translations for {len(self._nodes)} pieces")
        for node, (lead, trail), text in zip(self._nodes, self._edges, translated, strict=True):
            node.replace_with(NavigableString(f"{lead}{text}{trail}"))
        return self._soup.decode(formatter="minimal")


def _depth_over(soup: BeautifulSoup, limit: int) -> bool:
    stack = [(soup, 0)]
    while stack:
        tag, depth = stack.pop()
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in tag.children if isinstance(child, Tag))
    return False


def _translatable(node: NavigableString) -> bool:
    # Subclasses of NavigableString are comments, CDATA, doctypes, declarations...: kept as is.
    if type(node) is not NavigableString or not _WORD_RE.search(node):
        return False
    return not any(parent.name in SKIPPED_ELEMENTS for parent in node.parents)


def extract_texts(html: str) -> HtmlTexts:
    """Parse `html` and list its translatable text pieces. Raises HtmlError for markup the
    parser rejects or nesting deeper than MAX_DEPTH."""
    try:
        soup = BeautifulSoup(html, "html.parser")
    except (ParserRejectedMarkup, AssertionError) as exc:
        raise HtmlError(f"the HTML cannot be parsed: {exc}") from None
    if _depth_over(soup, MAX_DEPTH):
        raise HtmlError(f"the HTML nests elements deeper than {MAX_DEPTH} levels")
    nodes = [node for node in soup.find_all(string=True) if _translatable(node)]
    edges, texts = [], []
    for node in nodes:
        lead, core, trail = _EDGES_RE.match(str(node)).groups()  # type: ignore[union-attr]
        edges.append((lead, trail))
        texts.append(core)
    return HtmlTexts(soup, nodes, edges, texts)


def extract_all(documents: list[str]) -> list[HtmlTexts]:
    """`extract_texts` of each document; the HtmlError raised carries the document's index."""
    parsed = []
    for index, html in enumerate(documents):
        try:
            parsed.append(extract_texts(html))
        except HtmlError as exc:
            exc.index = index
            raise
    return parsed
