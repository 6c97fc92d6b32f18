"""Runs <-> one segment: a paragraph made of differently formatted runs is translated as one
sentence, and its formatting is put back on the words it wrapped.

A format flattens a paragraph into `Text` runs (text and the index of its formatting in a table
the format owns) and `Hold`s (things kept as they are: an image, a footnote mark, a field, a
bookmark; the format owns them too). `encode` turns that into one `Segment`:

- the plainest formatting covering the most characters is the paragraph's base (see
  `base_style`) and gets no tag;
  every other formatting wraps its words in a tag named after it (`b`, `i`, `u`, `a`, or
  `span`) with `id="sN"`, N its index: `The <b id="s1">army</b> said`;
- a hold inside the text is an empty `<ph id="kN"></ph>` where it stood; holds before the
  first word or after the last are not sent at all and go back to their edge;
- a paragraph with one formatting and no inner hold is plain text (`markup=False`).

The HTML path keeps every tag around the words it wraps, so the translation comes back with
the same tags around the translated words. `decode` reads any translation back, robustly: a
word takes the formatting of the innermost tag it is in (by its id; a tag without a known id
takes the first formatting with that tag name), words outside every tag take the base; a tag
lost, reordered, unclosed or duplicated never loses text (only characters XML cannot hold);
unknown tags are dropped with their text kept; a hold whose placeholder is lost goes to the
paragraph's end, a repeated one is placed once. Pure: no XML, no format library.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from service.documents.formats import Segment

HOLD_TAG = "ph"
PLAIN = "span"
_STYLE_ID = re.compile(r"^s(\d+)$")
_HOLD_ID = re.compile(r"^k(\d+)$")
_LINE_TAGS = frozenset({"br"})
_WORD = re.compile(r"[^\W\d_]")
# Characters XML 1.0 cannot hold: a translation carrying one would make the file unwritable.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@dataclass(frozen=True)
class Text:
    """Text written with formatting number `style` (an index into the format's own table)."""

    text: str
    style: int


@dataclass(frozen=True)
class Hold:
    """Something kept as it is (number `index` in the format's own list), not translated."""

    index: int


Item = Text | Hold


@dataclass(frozen=True)
class Encoded:
    """A paragraph as one segment, and what `decode` needs to map a translation back."""

    segment: Segment
    base: int
    styles: frozenset[int]
    tags: tuple[str, ...]
    lead: tuple[int, ...]
    trail: tuple[int, ...]
    inner: tuple[int, ...]
    spaces: tuple[Text, Text] = (Text("", 0), Text("", 0))


@dataclass
class Paragraph:
    """A paragraph being flattened by a format: its items, one template per formatting (what
    the format needs to write a run like it again) and the things each hold keeps."""

    items: list[Item] = field(default_factory=list)
    templates: list[Any] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    holds: list[list[Any]] = field(default_factory=list)
    _keys: dict[Hashable, int] = field(default_factory=dict)

    def add_text(self, text: str, key: Hashable, template: Any, tag: str) -> None:
        """Text in the formatting `key` (equal keys: the same formatting, one template)."""
        if key not in self._keys:
            self._keys[key] = len(self.templates)
            self.templates.append(template)
            self.tags.append(tag)
        self.items.append(Text(text, self._keys[key]))

    def add_hold(self, thing: Any) -> None:
        """Something kept as it is; neighbouring holds are one (they move together)."""
        if self.items and isinstance(self.items[-1], Hold):
            self.holds[self.items[-1].index].append(thing)
            return
        self.items.append(Hold(len(self.holds)))
        self.holds.append([thing])


def merge(items: Sequence[Item]) -> list[Item]:
    """Neighbouring texts with the same formatting joined, empty texts dropped."""
    merged: list[Item] = []
    for item in items:
        if isinstance(item, Text):
            if not item.text:
                continue
            last = merged[-1] if merged else None
            if isinstance(last, Text) and last.style == item.style:
                merged[-1] = Text(last.text + item.text, item.style)
                continue
        merged.append(item)
    return merged


def has_words(items: Sequence[Item]) -> bool:
    """Whether any text has a letter: a paragraph of numbers, dates or nothing is not sent."""
    return any(isinstance(i, Text) and _WORD.search(i.text) for i in items)


def base_style(items: Sequence[Item], tags: Sequence[str] = ()) -> int:
    """The paragraph's base formatting: the plainest (tagged `span`, neither bold, italic,
    underlined nor a link) covering the most characters, the first of equals; when every
    formatting is marked, the one covering the most characters; 0 without text."""
    counts: dict[int, int] = {}
    for item in items:
        if isinstance(item, Text):
            counts[item.style] = counts.get(item.style, 0) + len(item.text)
    plain = {style: n for style, n in counts.items() if style < len(tags) and tags[style] == PLAIN}
    pool = plain or counts
    return max(pool, key=lambda style: pool[style]) if pool else 0


def _edges(items: list[Item]) -> tuple[int, int]:
    start, end = 0, len(items)
    while start < end and isinstance(items[start], Hold):
        start += 1
    while end > start and isinstance(items[end - 1], Hold):
        end -= 1
    return start, end


def _cut_spaces(body: list[Item]) -> tuple[list[Item], tuple[Text, Text]]:
    """The body without the whitespace before its first word and after its last (kept in
    their formatting, not sent: a model may drop or double them)."""
    lead, trail = Text("", 0), Text("", 0)
    body = list(body)
    if body and isinstance(body[0], Text):
        text = body[0].text
        lead = Text(text[: len(text) - len(text.lstrip())], body[0].style)
        body[0] = Text(text.lstrip(), body[0].style)
    if body and isinstance(body[-1], Text):
        text = body[-1].text
        trail = Text(text[len(text.rstrip()) :], body[-1].style)
        body[-1] = Text(text.rstrip(), body[-1].style)
    return merge(body), (lead, trail)


def encode(items: Sequence[Item], tags: Sequence[str]) -> Encoded:
    """The paragraph's segment; `tags[n]` names the tag of formatting n (`b`, `i`, `a`...)."""
    flat = merge(items)
    start, end = _edges(flat)
    lead = tuple(i.index for i in flat[:start] if isinstance(i, Hold))
    trail = tuple(i.index for i in flat[end:] if isinstance(i, Hold))
    body, spaces = _cut_spaces(flat[start:end])
    base = base_style(body, tags)
    styles = frozenset(i.style for i in body if isinstance(i, Text))
    inner = tuple(i.index for i in body if isinstance(i, Hold))
    if not inner and styles <= {base}:
        text = "".join(i.text for i in body if isinstance(i, Text))
        return Encoded(Segment(text), base, styles, tuple(tags), lead, trail, inner, spaces)
    parts = []
    for item in body:
        if isinstance(item, Hold):
            parts.append(f'<{HOLD_TAG} id="k{item.index}"></{HOLD_TAG}>')
        elif item.style == base:
            parts.append(html.escape(item.text, quote=False))
        else:
            tag = tags[item.style]
            text = html.escape(item.text, quote=False)
            parts.append(f'<{tag} id="s{item.style}">{text}</{tag}>')
    segment = Segment("".join(parts), markup=True)
    return Encoded(segment, base, styles, tuple(tags), lead, trail, inner, spaces)


class _Reader(HTMLParser):
    """Collects the words of a translated segment with the formatting each is inside."""

    def __init__(self, encoded: Encoded) -> None:
        super().__init__(convert_charrefs=True)
        self.encoded = encoded
        self.stack: list[tuple[str, int]] = []
        self.items: list[Item] = []
        self.placed: set[int] = set()

    def _style_of(self, tag: str, attrs: dict[str, str | None]) -> int:
        found = _STYLE_ID.match(attrs.get("id") or "")
        if found and int(found.group(1)) in self.encoded.styles:
            return int(found.group(1))
        for style in sorted(self.encoded.styles):
            if self.encoded.tags[style] == tag and style != self.encoded.base:
                return style
        return self.stack[-1][1] if self.stack else self.encoded.base

    def _hold(self, attrs: dict[str, str | None]) -> None:
        found = _HOLD_ID.match(attrs.get("id") or "")
        index = int(found.group(1)) if found else -1
        if index in self.encoded.inner and index not in self.placed:
            self.placed.add(index)
            self.items.append(Hold(index))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == HOLD_TAG:
            self._hold(named)
        elif tag in _LINE_TAGS:
            self.handle_data("\n")
        else:
            self.stack.append((tag, self._style_of(tag, named)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == HOLD_TAG:
            self._hold(dict(attrs))
        elif tag in _LINE_TAGS:
            self.handle_data("\n")

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, -1, -1):
            if self.stack[depth][0] == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        style = self.stack[-1][1] if self.stack else self.encoded.base
        self.items.append(Text(data, style))


def xml_safe(text: str) -> str:
    """`text` without the characters XML 1.0 cannot hold (control characters, lone
    surrogates)."""
    return _NOT_XML.sub("", text)


def decode(translation: str, encoded: Encoded) -> list[Item]:
    """The translated paragraph as runs and holds, edge holds back at their edges; characters
    XML cannot hold are dropped."""
    translation = xml_safe(translation)
    lead: list[Item] = [Hold(i) for i in encoded.lead]
    trail: list[Item] = [Hold(i) for i in encoded.trail]
    first, last = encoded.spaces
    if not encoded.segment.markup:
        return merge([*lead, first, Text(translation.strip(), encoded.base), last, *trail])
    reader = _Reader(encoded)
    reader.feed(translation)
    reader.close()
    lost = [Hold(i) for i in encoded.inner if i not in reader.placed]
    return merge([*lead, first, *reader.items, *lost, last, *trail])


@dataclass
class Flat:
    """A paragraph of a document's XML: its element, its runs flattened, the segment they make."""

    element: Any
    paragraph: Paragraph
    encoded: Encoded


def flat_paragraphs(elements: Iterable[Any], flatten: Callable[[Any], Paragraph]) -> list[Flat]:
    """Each element flattened by the format's `flatten`, kept when it has words (the others are
    not sent and stay as they are), in document order."""
    found = []
    for element in elements:
        paragraph = flatten(element)
        if has_words(paragraph.items):
            found.append(Flat(element, paragraph, encode(paragraph.items, paragraph.tags)))
    return found


def write_back(
    found: Sequence[Flat], translations: Sequence[str], rebuild: Callable[[Flat, list[Any]], None]
) -> None:
    """Each paragraph rebuilt by the format's `rebuild` from its translation, read back into
    pieces (`decode`); ValueError unless there is exactly one translation per paragraph."""
    if len(translations) != len(found):
        raise ValueError(f"{len(translations)} translations for {len(found)} segments")
    for flat, translation in zip(found, translations, strict=True):
        rebuild(flat, decode(translation, flat.encoded))
