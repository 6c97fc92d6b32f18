"""Subtitles: cue timings and numbering kept, a sentence over several cues translated as one
segment and shared out over its cues by their share of the words."""

from __future__ import annotations

import pysubs2
import pytest

from service.documents.formats import BadDocument, DocumentLimits, Segment
from service.documents.subtitles import Subtitles, sentence_groups, share_words

LIMITS = DocumentLimits()
SRT = """1
00:00:01,000 --> 00:00:02,500
The council approved
the new bridge

2
00:00:02,600 --> 00:00:04,000
on Tuesday after a long debate.

3
00:00:05,000 --> 00:00:06,000
<i>Work starts in May.</i>

4
00:00:07,000 --> 00:00:08,000
\u266a

"""
VTT = """WEBVTT

00:00:01.000 --> 00:00:02.000
Farmers fear

00:00:02.000 --> 00:00:03.500
the drought.
"""


def test_a_sentence_over_several_cues_is_one_segment() -> None:
    segments = Subtitles("srt", "application/x-subrip").read(SRT.encode(), LIMITS)
    assert segments == [
        Segment("The council approved the new bridge on Tuesday after a long debate."),
        Segment("Work starts in May."),
    ]


def test_the_translation_is_shared_out_by_word_share_and_timings_are_kept() -> None:
    fmt = Subtitles("srt", "application/x-subrip")
    translated = "Le conseil a approuvé le nouveau pont mardi après un long débat ici."
    written = fmt.write(SRT.encode(), [translated, "Les travaux commencent en mai."], "fr")
    before = pysubs2.SSAFile.from_string(SRT, format_="srt")
    after = pysubs2.SSAFile.from_string(written.decode(), format_="srt")
    assert [(e.start, e.end) for e in after] == [(e.start, e.end) for e in before]
    assert [line for line in written.decode().splitlines() if line.isdigit()] == list("1234")
    # Cue 1 had 6 of the sentence's 12 words and two lines: 6 of the 12 words, on two lines.
    assert after[0].text == r"Le conseil a\Napprouvé le nouveau"
    assert after[1].text == "pont mardi après un long débat ici."
    assert after[2].text == "Les travaux commencent en mai."
    assert after[3].plaintext == "\u266a"  # no words: untouched


def test_webvtt_is_read_and_written_as_webvtt() -> None:
    fmt = Subtitles("vtt", "text/vtt")
    [segment] = fmt.read(VTT.encode(), LIMITS)
    assert segment.text == "Farmers fear the drought."
    written = fmt.write(VTT.encode(), ["Les agriculteurs craignent la sécheresse."], "fr")
    assert written.decode().startswith("WEBVTT")
    after = pysubs2.SSAFile.from_string(written.decode(), format_="vtt")
    assert [(e.start, e.end) for e in after] == [(1000, 2000), (2000, 3500)]
    assert [e.text for e in after] == ["Les agriculteurs", "craignent la sécheresse."]


@pytest.mark.parametrize(
    ("words", "weights", "expected"),
    [
        ("a b c d e f", [3, 1], ["a b c d", "e f"]),
        ("a b c", [0, 0, 0], ["a", "b", "c"]),
        ("a b c d", [1, 10], ["a", "b c d"]),  # every cue keeps a word
        ("a", [1, 1], ["a", ""]),
        ("", [2, 3], ["", ""]),
    ],
)
def test_share_words(words: str, weights: list[int], expected: list[str]) -> None:
    assert share_words(words, weights) == expected


def test_a_run_without_sentence_ends_is_cut_after_six_cues() -> None:
    assert sentence_groups(["a"] * 8) == [[0, 1, 2, 3, 4, 5], [6, 7]]
    assert sentence_groups(["a", "", "b."]) == [[0], [1], [2]]
    assert sentence_groups(["He said \u201cyes.\u201d", "Then"]) == [[0], [1]]


def test_a_subtitle_file_without_cues_is_a_bad_document() -> None:
    with pytest.raises(BadDocument, match="no cues"):
        Subtitles("srt", "application/x-subrip").read(b"just some words\n", LIMITS)
