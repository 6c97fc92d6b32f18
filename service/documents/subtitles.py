"""Subtitles (.srt, .vtt), read and written with pysubs2: cue timings and SRT numbering are
kept; only the text changes.

A sentence often runs over several cues ("The council approved" / "the new bridge."): the cues
from one that does not end a sentence to the next one that does (at most MAX_CUES_PER_SENTENCE)
are one segment, translated as a whole, and the translation is shared out over those cues by
each cue's share of the source words, so each cue keeps its time on screen. A cue's line
breaks are rebuilt the same way (as many lines as it had). Inline styling inside cues (`<i>`)
is not carried over; WebVTT cue identifiers and cue settings are not either (pysubs2 writes
cues numbered, without settings).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence

import pysubs2

from service.documents.formats import BadDocument, DocumentLimits, Segment
from service.documents.plaintext import decode
from service.documents.safety import check_size

# A cue that ends with one of these (before closing quotes or brackets) ends its sentence.
_SENTENCE_END_RE = re.compile(r"""[.!?\u2026\u061f\u3002:;][\"'\u201d\u2019\u00bb)\]]*$""")
MAX_CUES_PER_SENTENCE = 6
_WORD_RE = re.compile(r"[^\W\d_]")


def _cue_text(event: pysubs2.SSAEvent) -> str:
    return " ".join(event.plaintext.split())


def sentence_groups(texts: Sequence[str]) -> list[list[int]]:
    """Indexes of cues that hold one sentence, in order; cues without words (a music note, a
    number) stand alone and are no segment."""
    groups: list[list[int]] = []
    current: list[int] = []
    for i, text in enumerate(texts):
        if not _WORD_RE.search(text):
            if current:
                groups.append(current)
                current = []
            groups.append([i])
            continue
        current.append(i)
        if _SENTENCE_END_RE.search(text) or len(current) >= MAX_CUES_PER_SENTENCE:
            groups.append(current)
            current = []
    if current:
        groups.append(current)
    return groups


def share_words(translation: str, weights: Sequence[int]) -> list[str]:
    """`translation`'s words cut into len(weights) consecutive runs, each in proportion to its
    weight (a cue's source words); no run is empty while there are words enough (with fewer
    words than runs, the first runs get one each)."""
    words, parts = translation.split(), len(weights)
    if len(words) < parts:  # a word each for the first cues, the rest empty
        return [words[k] if k < len(words) else "" for k in range(parts)]
    if sum(weights) == 0:
        weights = [1] * parts
    total, seen, bounds = sum(weights), 0, [0]
    for k, weight in enumerate(weights[:-1]):
        seen += weight
        cut = round(len(words) * seen / total)
        bounds.append(min(max(cut, bounds[-1] + 1), len(words) - (parts - k - 1)))
    bounds.append(len(words))
    return [" ".join(words[a:b]) for a, b in itertools.pairwise(bounds)]


def _lines(text: str, count: int) -> str:
    """`text` on `count` lines (pysubs2's `\\N`), cut at words by length."""
    words = text.split()
    if count <= 1 or len(words) < 2:
        return text
    return r"\N".join(share_words(text, [1] * min(count, len(words))))


class Subtitles:
    """SubRip or WebVTT subtitles."""

    def __init__(self, name: str, media_type: str) -> None:
        self.name = name
        self.extensions = (f".{name}",)
        self.media_type = media_type

    def _load(self, data: bytes) -> pysubs2.SSAFile:
        text, _, _ = decode(data)
        try:
            subs = pysubs2.SSAFile.from_string(text, format_=self.name)
        except (pysubs2.Pysubs2Error, ValueError, IndexError) as exc:
            raise BadDocument(f"the {self.name} file cannot be read: {exc}") from None
        if not len(subs):
            raise BadDocument(f"the {self.name} file holds no cues")
        return subs

    def read(self, data: bytes, limits: DocumentLimits) -> list[Segment]:
        check_size(data, limits)
        texts = [_cue_text(event) for event in self._load(data)]
        return [
            Segment(" ".join(texts[i] for i in group))
            for group in sentence_groups(texts)
            if _WORD_RE.search(texts[group[0]])
        ]

    def write(self, data: bytes, translations: Sequence[str], target: str) -> bytes:
        subs = self._load(data)
        events = list(subs)
        texts = [_cue_text(event) for event in events]
        given = iter(translations)
        for group in sentence_groups(texts):
            if not _WORD_RE.search(texts[group[0]]):
                continue
            weights = [len(texts[i].split()) for i in group]
            for i, part in zip(group, share_words(next(given), weights), strict=True):
                lines = events[i].text.count(r"\N") + 1
                events[i].text = _lines(part, lines)
        return subs.to_string(self.name).encode("utf-8")
