"""The contract every document format keeps: find the text of a file, and write translated text
back into a copy of it with everything else (layout, styles, timings, numbers) untouched.

One reader/writer per format behind this one interface (as CTranslate2's converters are: a new
format is a new small class registered by name). A format never translates: it hands out
`Segment`s in document order, and later takes one translated string per segment back.

A segment is a unit that is translated as a whole: a paragraph, a table cell, a slide's text
frame paragraph, a subtitle sentence spread over cues. Inline formatting inside a segment (bold,
italic, underline, links) travels as markup in the segment's text with `markup=True` (e.g.
`The <b>army</b> said`), translated on the HTML path that keeps tags around the words they
wrap, and is mapped back to the format's runs by the writer.

What a caller can rely on:
- `read` raises `BadDocument` (a clear 400) for a corrupt or truncated file, `DocumentTooLarge`
  (413) when a limit is passed, never anything else for bad input.
- `write(original, translations, target)` takes exactly one string per segment that `read`
  returned for the same bytes, in the same order, and returns the new file's bytes; `target`
  is the language written (e.g. `ar`: the format marks the text right to left).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


class BadDocument(Exception):
    """The file is corrupt, truncated, hostile (XML entities) or not what it claims to be."""


class DocumentTooLarge(Exception):
    """A limit on size, member count, uncompressed size or compression ratio is passed."""


class UnsupportedDocument(Exception):
    """No format reads this content (decided by content, not by the file name)."""


@dataclass(frozen=True)
class Segment:
    """Text to translate as one unit; `markup` when it carries inline tags to keep."""

    text: str
    markup: bool = False


@dataclass(frozen=True)
class DocumentLimits:
    """Limits checked before anything is extracted (DOC_MAX_BYTES and the zip limits)."""

    max_bytes: int = 20_000_000
    max_members: int = 2_000
    max_uncompressed_bytes: int = 200_000_000
    max_compression_ratio: float = 100.0


class DocumentFormat(Protocol):
    """One file format. `name` is the short name the API shows (`docx`), `extensions` the
    file name endings it is known by, `media_type` what a download is served as."""

    name: str
    extensions: tuple[str, ...]
    media_type: str

    def read(self, data: bytes, limits: DocumentLimits) -> list[Segment]:
        """The file's segments in document order."""
        ...

    def write(self, data: bytes, translations: Sequence[str], target: str) -> bytes:
        """A copy of the file with each segment replaced by its translation."""
        ...
