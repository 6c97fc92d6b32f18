"""Runs <-> one segment: a paragraph's formatted runs become one markup segment, and any
translation of it (tags kept, lost, reordered, broken) maps back without losing a word."""

from __future__ import annotations

import html
import re

from hypothesis import given
from hypothesis import strategies as st

from harness.office import shout
from service.documents.runs import (
    Hold,
    Paragraph,
    Text,
    base_style,
    decode,
    encode,
    has_words,
    merge,
    xml_safe,
)

TAGS = ["span", "b", "i", "a"]
SENTENCE = [
    Text("The ", 0),
    Text("finance minister", 1),
    Text(" said on ", 0),
    Text("Monday", 2),
    Hold(0),
    Text(" that the ", 0),
    Text("report", 3),
    Text(" was ready.", 0),
]


def _text(items) -> str:
    return "".join(i.text for i in items if isinstance(i, Text))


def test_a_sentence_of_runs_is_one_segment_with_a_tag_per_formatting() -> None:
    encoded = encode(SENTENCE, TAGS)
    assert encoded.segment.markup
    assert encoded.segment.text == (
        'The <b id="s1">finance minister</b> said on <i id="s2">Monday</i><ph id="k0"></ph>'
        ' that the <a id="s3">report</a> was ready.'
    )


def test_the_translation_takes_each_tags_formatting_back_on_the_words_it_wraps() -> None:
    encoded = encode(SENTENCE, TAGS)
    translated = (
        'Le <b id="s1">ministre</b> a dit <i id="s2">lundi</i><ph id="k0"></ph> que le '
        '<a id="s3">rapport</a> était prêt.'
    )
    assert decode(translated, encoded) == [
        Text("Le ", 0),
        Text("ministre", 1),
        Text(" a dit ", 0),
        Text("lundi", 2),
        Hold(0),
        Text(" que le ", 0),
        Text("rapport", 3),
        Text(" était prêt.", 0),
    ]


def test_words_moved_by_the_translation_keep_their_formatting() -> None:
    encoded = encode(SENTENCE, TAGS)
    reordered = '<i id="s2">Lundi</i>, <b id="s1">le ministre</b> a dit<ph id="k0"></ph>.'
    assert decode(reordered, encoded) == [
        Text("Lundi", 2),
        Text(", ", 0),
        Text("le ministre", 1),
        Text(" a dit", 0),
        Hold(0),
        Text(".", 0),
    ]


def test_the_html_path_keeps_every_tag_around_its_words() -> None:
    encoded = encode(SENTENCE, TAGS)
    back = decode(shout(encoded.segment), encoded)
    assert back == [
        Text(i.text.upper(), i.style) if isinstance(i, Text) else i for i in merge(SENTENCE)
    ]


def test_lost_tags_leave_the_words_in_the_base_formatting_and_holds_at_the_end() -> None:
    encoded = encode(SENTENCE, TAGS)
    assert decode("Le ministre a dit lundi.", encoded) == [
        Text("Le ministre a dit lundi.", 0),
        Hold(0),
    ]


def test_unknown_broken_and_duplicated_tags_never_lose_text() -> None:
    encoded = encode(SENTENCE, TAGS)
    messy = (
        '<x>Le</x> <b>ministre</b> <i id="s9">a dit</i> <ph id="k0"></ph><ph id="k0"/>'
        '<b id="s1">lundi <a id="s3">rapport</b> fin</a> & <unclosed'
    )
    back = decode(messy, encoded)
    assert _text(back) == "Le ministre a dit lundi rapport fin & <unclosed"
    assert back.count(Hold(0)) == 1
    assert Text("ministre", 1) in back  # a tag without its id: the first formatting named so
    assert Text("a dit", 2) in back
    assert Text("rapport", 3) in back


def test_unknown_tags_inherit_and_stray_end_tags_are_ignored() -> None:
    encoded = encode(SENTENCE, TAGS)
    back = decode('<b id="s1">le <x>grand</x></i> ministre</b> lundi', encoded)
    assert back == [Text("le grand ministre", 1), Text(" lundi", 0), Hold(0)]


def test_a_line_break_tag_is_a_newline_in_its_formatting() -> None:
    encoded = encode(SENTENCE, TAGS)
    back = decode('<b id="s1">un<br>deux<br/>trois</b>', encoded)
    assert back[0] == Text("un\ndeux\ntrois", 1)


def test_characters_xml_cannot_hold_are_dropped() -> None:
    encoded = encode([Text("a", 0), Text("b", 1)], TAGS)
    assert decode('x\x00y<b id="s1">\x0bz\ud800</b>', encoded) == [Text("xy", 0), Text("z", 1)]
    assert decode("plain\x1f", encode([Text("a", 0)], TAGS)) == [Text("plain", 0)]


def test_a_paragraph_of_one_formatting_is_plain_text() -> None:
    encoded = encode([Text("All ", 1), Text("bold", 1)], TAGS)
    assert not encoded.segment.markup
    assert encoded.segment.text == "All bold"
    assert decode("Tout <gras> & fin", encoded) == [Text("Tout <gras> & fin", 1)]


def test_markup_characters_in_the_text_are_escaped_and_come_back() -> None:
    encoded = encode([Text("a < b & c", 0), Text(" big", 1)], TAGS)
    assert encoded.segment.text == 'a &lt; b &amp; c<b id="s1"> big</b>'
    assert _text(decode(encoded.segment.text, encoded)) == "a < b & c big"


def test_holds_at_the_edges_are_not_sent_and_go_back_to_their_edge() -> None:
    items = [Hold(0), Text("Heading", 0), Hold(1)]
    encoded = encode(items, TAGS)
    assert encoded.segment.text == "Heading" and not encoded.segment.markup
    assert decode("Titre", encoded) == [Hold(0), Text("Titre", 0), Hold(1)]


def test_edge_spaces_are_kept_out_of_the_segment_and_put_back() -> None:
    encoded = encode([Text(" Figures from the ministry. ", 0)], TAGS)
    assert encoded.segment.text == "Figures from the ministry."
    assert decode(" Chiffres. ", encoded) == [Text(" Chiffres. ", 0)]


def test_the_base_is_the_plainest_formatting_not_the_longest() -> None:
    assert base_style([Text("a", 0), Text("a long link", 3)], TAGS) == 0
    assert base_style([Text("bold", 1), Text("italic text", 2)], TAGS) == 2
    assert base_style([], TAGS) == 0


def test_a_paragraph_without_letters_is_not_sent() -> None:
    assert not has_words([Text("2026 - 12", 0), Hold(0)])
    assert has_words([Text("12 mai", 0)])


def test_paragraph_gives_equal_formattings_one_template_and_joins_holds() -> None:
    paragraph = Paragraph()
    paragraph.add_text("a", "bold", "template-b", "b")
    paragraph.add_hold("image")
    paragraph.add_hold("bookmark")
    paragraph.add_text("b", "bold", "other", "b")
    assert paragraph.templates == ["template-b"]
    assert paragraph.items == [Text("a", 0), Hold(0), Text("b", 0)]
    assert paragraph.holds == [["image", "bookmark"]]


styles = st.integers(min_value=0, max_value=3)
texts = st.text(min_size=1, max_size=12).map(xml_safe)  # what an XML document can hold
items = st.lists(
    st.one_of(st.builds(Text, texts, styles), st.builds(Hold, st.integers(0, 3))),
    max_size=10,
).map(lambda xs: [x for i, x in enumerate(xs) if not isinstance(x, Hold) or x not in xs[:i]])


@given(items)
def test_an_untranslated_segment_decodes_to_its_own_paragraph(paragraph) -> None:
    encoded = encode(paragraph, TAGS)
    back = decode(encoded.segment.text, encoded)
    assert _text(back) == _text(merge(paragraph))
    assert sorted(i.index for i in back if isinstance(i, Hold)) == sorted(
        i.index for i in paragraph if isinstance(i, Hold)
    )


@given(items, st.text(alphabet=st.characters(exclude_characters="<&"), max_size=40))
def test_any_translation_decodes_without_losing_a_hold_or_its_words(paragraph, noise) -> None:
    encoded = encode(paragraph, TAGS)
    translation = noise + encoded.segment.text + noise
    back = decode(translation, encoded)
    holds = [i.index for i in back if isinstance(i, Hold)]
    assert sorted(holds) == sorted(i.index for i in paragraph if isinstance(i, Hold))
    if encoded.segment.markup:
        words = html.unescape(re.sub(r"<[^>]*>", "", xml_safe(translation)))
        assert _text(back) == encoded.spaces[0].text + words + encoded.spaces[1].text
