"""Markdown (.md): the text of each paragraph, heading, list item, quote and table cell is a
segment; everything else (code blocks and inline code, HTML, images, link targets, front matter
lines, list markers, quote markers, heading marks, table rules) is left as written.

Parsed with markdown-it-py (CommonMark, plus tables and strikethrough as GitHub writes them):
its block tokens say which source lines hold each piece of inline text, so a translation
replaces exactly that text in the original file. Inline syntax travels as markup through the
HTML path (`*em*` as `<em data-md="*">`, links as `<a href>`; inline code, images, autolinks
and inline HTML as `<code>`, which is never translated) and is written back in the same
syntax. A paragraph that spanned several lines is written on one line (Markdown renders a
soft break as a space either way); a hard break is written as `<br>`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from bs4 import BeautifulSoup, NavigableString, Tag
from markdown_it import MarkdownIt
from markdown_it.token import Token

from service.documents.formats import DocumentLimits, Segment
from service.documents.plaintext import decode, encode
from service.documents.safety import check_size

_PAIRED = {"em": "em", "strong": "strong", "s": "s"}
# What would start a block if a translation began with it, and what is inline syntax anywhere.
_LINE_START_RE = re.compile(r"^(\d+)?([#>+\-=.)])")
_INLINE_SYNTAX_RE = re.compile(r"([\\`*_\[\]<|])")


def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark").enable("table").enable("strikethrough")


@dataclass(frozen=True)
class _Span:
    """Where one inline token's text lies in the source, and its markup for translation."""

    start: int
    end: int
    markup: str


def _raw(source: str) -> str:
    return f'<code data-md="raw">{html.escape(source, quote=False)}</code>'


def _attr(value: str) -> str:
    return html.escape(value, quote=True)


def _child_markup(child: Token) -> str:
    kind = child.type
    if kind == "text":
        return html.escape(child.content, quote=False)
    if kind == "softbreak":
        return " "
    if kind == "hardbreak":
        return "<br>"
    if kind.endswith("_open") and kind[:-5] in _PAIRED:
        return f'<{_PAIRED[kind[:-5]]} data-md="{_attr(child.markup)}">'
    if kind.endswith("_close") and kind[:-6] in _PAIRED:
        return f"</{_PAIRED[kind[:-6]]}>"
    if kind == "link_open":
        title = child.attrs.get("title")
        extra = f' title="{_attr(str(title))}"' if title else ""
        return f'<a href="{_attr(str(child.attrs.get("href", "")))}"{extra}>'
    if kind == "link_close":
        return "</a>"
    if kind == "code_inline":
        return _raw(f"{child.markup}{child.content}{child.markup}")
    if kind == "image":
        title = child.attrs.get("title")
        extra = f' "{title}"' if title else ""
        return _raw(f"![{child.content}]({child.attrs.get('src', '')}{extra})")
    return _raw(child.content)  # html_inline, and anything else: as written


def inline_markup(children: Sequence[Token]) -> str:
    """An inline token's children as the markup the HTML path translates."""
    out, autolink = [], False
    for child in children:
        if child.type == "link_open" and child.markup == "autolink":
            autolink = True
            out.append(_raw(f"<{child.attrs.get('href', '')}>"))
        elif child.type == "link_close" and autolink:
            autolink = False
        elif not autolink:
            out.append(_child_markup(child))
    return "".join(out)


def _escape(text: str) -> str:
    return _INLINE_SYNTAX_RE.sub(r"\\\1", text)


def _markdown_of(node: Tag) -> str:
    parts = []
    for child in node.children:
        if isinstance(child, NavigableString):
            parts.append(_escape(str(child).replace("\n", " ")))
        elif isinstance(child, Tag):
            parts.append(_tag_markdown(child))
    return "".join(parts)


def _tag_markdown(tag: Tag) -> str:
    if tag.name == "code" and tag.get("data-md") == "raw":
        return tag.get_text()
    if tag.name == "br":
        return "<br>"
    inner = _markdown_of(tag)
    if tag.name in _PAIRED.values():
        mark = str(tag.get("data-md") or ("**" if tag.name == "strong" else "*"))
        return f"{mark}{inner}{mark}"
    if tag.name == "a":
        title = tag.get("title")
        extra = ' "{}"'.format(str(title).replace('"', '\\"')) if title else ""
        return f"[{inner}]({tag.get('href', '')}{extra})"
    return inner


def markdown_from_markup(markup: str) -> str:
    """A translated segment's markup back in Markdown inline syntax, on one line."""
    text = _markdown_of(BeautifulSoup(markup, "html.parser"))
    return _LINE_START_RE.sub(lambda m: f"{m.group(1) or ''}\\{m.group(2)}", text.strip())


def _line_starts(text: str) -> list[int]:
    starts = [0]
    starts.extend(m.end() for m in re.finditer("\n", text))
    return starts


def _spans(text: str) -> Iterator[_Span]:
    """Each inline token's place in `text`, in document order (tokens not found where their
    lines say are left alone)."""
    starts, cursor = _line_starts(text), 0
    for token in _parser().parse(text):
        if token.type != "inline" or not token.map or not token.content.strip():
            continue
        lines = token.content.split("\n")
        first_line = token.map[0]
        begin = text.find(lines[0], max(cursor, starts[first_line]))
        last_line = first_line + len(lines) - 1
        if begin < 0 or last_line >= len(starts):
            continue
        tail_from = begin if len(lines) == 1 else max(begin, starts[last_line])
        tail = text.find(lines[-1], tail_from)
        if tail < 0:
            continue
        cursor = tail + len(lines[-1])
        yield _Span(begin, cursor, inline_markup(token.children or []))


class Markdown:
    """Markdown, its syntax kept."""

    name = "md"
    extensions = (".md", ".markdown")
    media_type = "text/markdown; charset=utf-8"

    def read(self, data: bytes, limits: DocumentLimits) -> list[Segment]:
        check_size(data, limits)
        text, _, _ = decode(data)
        return [Segment(span.markup, markup=True) for span in _spans(text)]

    def write(self, data: bytes, translations: Sequence[str], target: str) -> bytes:
        text, bom, codec = decode(data)
        out, done = [], 0
        for span, translated in zip(_spans(text), translations, strict=True):
            out.append(text[done : span.start])
            out.append(markdown_from_markup(translated))
            done = span.end
        out.append(text[done:])
        return encode("".join(out), bom, codec)
