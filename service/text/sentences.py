"""Paragraph and sentence splitting. Pure functions: no model, no torch.

Sentences are split with pysbd, a rule-based port of the "Golden Rules" segmenter: it keeps
abbreviations ("U.S.", "Dr.", "D.C.") and decimals inside their sentence, needs no model
download (unlike NLTK's punkt data or spaCy's pipelines) and is deterministic, so the same text
is always split, batched and cached the same way.
"""

from __future__ import annotations

import re
import threading

import pysbd

# A paragraph separator is any whitespace run that holds a line break (any that str.splitlines
# breaks at: \n, \r, \v, \f, \x1c-\x1e, \x85, U+2028, U+2029); it is kept verbatim.
_LINE_BREAKS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"
_SEPARATOR_RE = re.compile(rf"(\s*[{_LINE_BREAKS}]\s*)")
# Text that may hold more than one sentence: an end mark (possibly closed by quotes or brackets)
# followed by whitespace and more text, or "!"/"?" glued to the next word (pysbd splits there
# too). Without one, the paragraph is one sentence and pysbd
# (about 0.1 ms a call, the largest CPU cost of a translate request outside the model) is skipped.
_MAYBE_SEVERAL_RE = re.compile(
    r"[.!?\u061f\u2026;:][\"'\u201d\u2019)\]]*\s+\S|[!?\u061f][^\s!?\u061f\"'\u201d\u2019)\]]"
)
# pysbd's time grows faster than linearly with its input (0.1 s for 10,000 characters, 7 s for
# 100,000) and holds the GIL, so a long paragraph is segmented in windows of at most this many
# characters: 100,000 then take 0.7 s (0.57 s with 1,000-character windows, 0.88 s with 6,000),
# and a window still holds a dozen sentences of news prose, so a cut rarely has to fall back.
_WINDOW_CHARS = 3000
# Where a window may end: after a lowercase word of five or more letters and one end mark, which
# a closing double quote may follow, before a capital, digit or opening quote (only a capital after
# a closing quote). Abbreviations ("Dr.", "U.S.", "Inc.", "p.m.") never match, and pysbd splits at
# every such point outside quotes and brackets.
_WINDOW_END_RE = re.compile(
    r'(?<![\w.])[a-z]{5,}[.!?](?:["\u201d](?=\s+[A-Z]))?(\s+)["\u201c]?[A-Z0-9]'
)
_SPACE_RE = re.compile(r"\s+")
# pysbd costs 0.1-0.4 ms per sentence end it weighs. Prose has an end mark every 30 characters
# or more (every 8 in "Dr. Smith of the U.S. said so."); a window of over _DENSE_MIN_CHARS with
# one every _DENSE_EVERY characters or fewer is not prose (runs of initials, junk such as
# "!a!a!a") and is split at whitespace after end marks instead: "!a" x 50,000 took 10 s in pysbd.
_END_MARK_RE = re.compile(r"[.!?\u061f\u2026]")
_DENSE_EVERY = 6
_DENSE_MIN_CHARS = 500
_DENSE_SPLIT_RE = re.compile(r"(?<=[.!?\u061f\u2026\"'\u201d\u2019)\]])\s+")
# pysbd keeps sentences inside these pairs together; a window must not end inside one.
_ENCLOSING_PAIRS = (('"', '"'), ("\u201c", "\u201d"), ("\u2018", "\u2019"), ("(", ")"), ("[", "]"))

_local = threading.local()


def _segmenter() -> pysbd.Segmenter:
    segmenter = getattr(_local, "segmenter", None)
    if segmenter is None:
        segmenter = _local.segmenter = pysbd.Segmenter(language="en", clean=False)
    return segmenter


def split_paragraphs(text: str) -> list[str]:
    """Split `text` into alternating [paragraph, separator, paragraph, ...] pieces.

    Even indices are paragraphs (possibly empty at the ends), odd indices are the separators,
    so `"".join(pieces) == text` and a translation can be rebuilt with the same layout.
    """
    return _SEPARATOR_RE.split(text)


def split_sentences(paragraph: str) -> list[str]:
    """Sentences of one paragraph, stripped, in order; empty for a blank paragraph.

    Every sentence is a slice of the paragraph and together they hold all its non-whitespace
    characters, even where pysbd drops some ("Call a Dr.?!" keeps its "?!"). Time is linear in
    the paragraph's length: long paragraphs are segmented in windows cut where pysbd would split.
    """
    stripped = paragraph.strip()
    if not stripped:
        return []
    if not _MAYBE_SEVERAL_RE.search(stripped):
        return [stripped]
    return [s for window in _windows(stripped, _WINDOW_CHARS) for s in _segment(window)]


def _windows(text: str, size: int) -> list[str]:
    """Stripped text `text` cut into pieces of at most `size` characters, in order.

    Only the whitespace at the cuts is left out. Each cut is at the last sentence boundary that
    pysbd is sure to find (see `_WINDOW_END_RE`), failing one at the last whitespace, and failing
    that after `size` characters, so the result depends on the text alone.
    """
    windows: list[str] = []
    start = 0
    while len(text) - start > size:
        end = _window_end(text, start, start + size)
        windows.append(text[start:end])
        space = _SPACE_RE.match(text, end)
        start = space.end() if space else end
    windows.append(text[start:])
    return windows


def _window_end(text: str, start: int, limit: int) -> int:
    for match in reversed(list(_WINDOW_END_RE.finditer(text, start, limit + 1))):
        before = text[start : match.start(1)]
        if not any(_is_open(before, opener, closer) for opener, closer in _ENCLOSING_PAIRS):
            return match.start(1)
    spaces = list(_SPACE_RE.finditer(text, start + 1, limit + 1))
    return spaces[-1].start() if spaces else limit


def _is_open(text: str, opener: str, closer: str) -> bool:
    if opener == closer:
        return text.count(opener) % 2 == 1
    return text.rfind(opener) > text.rfind(closer)


def _segment(text: str) -> list[str]:
    """pysbd's sentences of `text`, taken as slices of `text` so that no character is lost.

    pysbd's output serves only to find where sentences start: each segment is looked for after
    the previous one, and one that pysbd altered so that it cannot be found stays with the
    sentence before it. Text too dense in end marks to be prose skips pysbd (see _DENSE_EVERY).
    """
    if len(text) > _DENSE_MIN_CHARS and len(_END_MARK_RE.findall(text)) * _DENSE_EVERY > len(text):
        return _DENSE_SPLIT_RE.split(text)
    starts = [0]
    cursor = 0
    for segment in _segmenter().segment(text):
        core = segment.strip()
        found = text.find(core, cursor)
        if not core or found < 0:
            continue
        if found:
            starts.append(found)
        cursor = found + len(core)
    return [text[a:b].strip() for a, b in zip(starts, starts[1:] + [len(text)], strict=True)]
