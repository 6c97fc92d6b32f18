"""Plain text (.txt): each block of lines between blank lines is a segment; the blank lines,
the line breaks inside a block (the translate operation keeps them), the line-ending style and
a byte-order mark are kept.

Text files are read as UTF-8 (with or without a BOM), or UTF-16 with its BOM: anything else is
refused as unsupported, since guessing a legacy code page would turn the text into mojibake.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Sequence

from service.documents.formats import DocumentLimits, Segment, UnsupportedDocument
from service.documents.safety import check_size

_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Blank lines (whitespace holding at least two line breaks) separate blocks.
_BLANK_RE = re.compile(r"(\s*\n\s*\n\s*)")


def decode(data: bytes) -> tuple[str, bytes, str]:
    """The text, its byte-order mark (b"" when none) and the encoding to write it back in.
    UnsupportedDocument when it is not UTF-8 or BOM-marked UTF-16 text (a NUL byte, or bytes
    that do not decode: a binary file)."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            body, codec = data[len(bom) :], encoding
            break
    else:
        bom, body, codec = b"", data, "utf-8"
    try:
        text = body.decode(codec)
    except UnicodeDecodeError:
        raise UnsupportedDocument(
            "the file is binary, or text in an encoding other than UTF-8"
        ) from None
    if "\0" in text:
        raise UnsupportedDocument("the file is binary (it holds NUL bytes)")
    return text, bom, codec


def encode(text: str, bom: bytes, codec: str) -> bytes:
    return bom + text.encode(codec)


def blocks(text: str) -> list[str]:
    """The text cut at blank lines, separators kept: odd indexes are the separators."""
    return _BLANK_RE.split(text)


def _edges(block: str) -> tuple[str, str, str]:
    core = block.strip()
    if not core:
        return block, "", ""
    start = block.index(core)
    return block[:start], core, block[start + len(core) :]


class PlainText:
    """Plain text, paragraph by paragraph."""

    name = "txt"
    extensions = (".txt", ".text")
    media_type = "text/plain; charset=utf-8"

    def read(self, data: bytes, limits: DocumentLimits) -> list[Segment]:
        check_size(data, limits)
        text, _, _ = decode(data)
        return [Segment(core) for core in self._cores(text)]

    def write(self, data: bytes, translations: Sequence[str], target: str) -> bytes:
        text, bom, codec = decode(data)
        pieces, given = blocks(text), iter(translations)
        for i in range(0, len(pieces), 2):
            lead, core, trail = _edges(pieces[i])
            if core:
                pieces[i] = lead + next(given) + trail
        return encode("".join(pieces), bom, codec)

    @staticmethod
    def _cores(text: str) -> list[str]:
        found = (_edges(block)[1] for block in blocks(text)[::2])
        return [core for core in found if core]
