"""Plain text, Markdown and HTML: segments out in document order, translations back in with
everything else (blank lines, line endings, BOMs, Markdown syntax, tags) as written."""

from __future__ import annotations

import pytest
from markdown_it import MarkdownIt

from service.documents.formats import BadDocument, DocumentLimits, Segment
from service.documents.html import Html, mark_language
from service.documents.markdown import Markdown, markdown_from_markup
from service.documents.plaintext import PlainText
from service.text.html import extract_texts

LIMITS = DocumentLimits()


def _upper(segments: list[Segment]) -> list[str]:
    """A stand-in translation on the real HTML path for markup: text upper-cased, tags and
    code kept."""
    out = []
    for segment in segments:
        if segment.markup:
            found = extract_texts(segment.text)
            out.append(found.rebuild([text.upper() for text in found.texts]))
        else:
            out.append(segment.text.upper())
    return out


def test_plain_text_is_cut_at_blank_lines_and_keeps_its_layout() -> None:
    data = "\ufeffFirst line\r\nsame block.\r\n\r\n\r\n  Second block.  \r\n".encode()
    fmt = PlainText()
    segments = fmt.read(data, LIMITS)
    assert segments == [Segment("First line\r\nsame block."), Segment("Second block.")]
    written = fmt.write(data, ["Premier\r\nbloc.", "Second."], "fr")
    assert written == "\ufeffPremier\r\nbloc.\r\n\r\n\r\n  Second.  \r\n".encode()


def test_utf16_text_is_written_back_in_utf16() -> None:
    data = "One.\n\nTwo.".encode("utf-16")
    assert PlainText().write(data, ["Un.", "Deux."], "fr").decode("utf-16") == "Un.\n\nDeux."


MARKDOWN = """# The *new* bridge

The council **approved** the [plan](https://example.org/plan "Plan") on `Tuesday`
after a long debate.

- First item
- Second *item*
  1. nested one

> A quoted line
> continued.

| Town | Result |
| --- | --- |
| North | approved |

```python
print("code is never translated")
```

Setext heading
==============

![a map](map.png) and <span>inline html</span> at <https://example.org>.
"""


def test_markdown_segments_are_the_inline_texts_as_markup() -> None:
    segments = Markdown().read(MARKDOWN.encode(), LIMITS)
    texts = [s.text for s in segments]
    assert all(s.markup for s in segments)
    assert texts[0] == 'The <em data-md="*">new</em> bridge'
    assert '<a href="https://example.org/plan" title="Plan">plan</a>' in texts[1]
    assert '<code data-md="raw">`Tuesday`</code>' in texts[1]
    assert "print" not in " ".join(texts)  # the code block is no segment
    assert texts.count("approved") == 1  # the table cell
    assert len(segments) == 12


def test_markdown_written_back_keeps_its_syntax() -> None:
    fmt = Markdown()
    segments = fmt.read(MARKDOWN.encode(), LIMITS)
    written = fmt.write(MARKDOWN.encode(), _upper(segments), "fr").decode()
    lines = written.splitlines()
    assert lines[0] == "# THE *NEW* BRIDGE"
    assert (
        'THE COUNCIL **APPROVED** THE [PLAN](https://example.org/plan "Plan") ON `Tuesday` '
        "AFTER A LONG DEBATE." in lines
    )
    assert "- FIRST ITEM" in lines and "- SECOND *ITEM*" in lines and "  1. NESTED ONE" in lines
    assert "> A QUOTED LINE CONTINUED." in lines
    assert "| NORTH | APPROVED |" in lines and "| --- | --- |" in lines
    assert '```python\nprint("code is never translated")\n```' in written
    assert "SETEXT HEADING\n==============" in written
    assert "![a map](map.png) AND <span>INLINE HTML</span> AT <https://example.org>." in written
    # The same block structure as the original, as a Markdown parser sees it.
    kinds = [t.type for t in MarkdownIt("commonmark").enable("table").parse(written)]
    assert kinds == [t.type for t in MarkdownIt("commonmark").enable("table").parse(MARKDOWN)]


def test_translated_text_cannot_inject_markdown_syntax() -> None:
    assert markdown_from_markup("a *b* [c] | d_e") == r"a \*b\* \[c\] \| d\_e"
    assert markdown_from_markup("# not a heading") == r"\# not a heading"
    assert markdown_from_markup("1. not a list") == r"1\. not a list"


def test_html_is_one_markup_segment_and_gets_its_language() -> None:
    page = b'<!DOCTYPE html><html lang="en"><body><p>Hello <b>there</b>.</p></body></html>'
    fmt = Html()
    [segment] = fmt.read(page, LIMITS)
    assert segment.markup and segment.text == page.decode()
    written = fmt.write(page, [segment.text.replace("Hello", "Salut")], "ar").decode()
    assert written.startswith("<!DOCTYPE html>")
    assert '<html dir="rtl" lang="ar">' in written and "Salut <b>there</b>" in written
    french = fmt.write(page, [segment.text], "fr").decode()
    assert '<html lang="fr">' in french and "dir=" not in french


def test_an_html_fragment_is_wrapped_to_carry_its_language() -> None:
    assert mark_language("<p>x</p>", "ar") == '<div lang="ar" dir="rtl"><p>x</p></div>'
    assert mark_language("<p>x</p>", "fr", wrap=False) == "<p>x</p>"
    assert 'dir="ltr"' in mark_language('<html dir="rtl"><p>x</p></html>', "fr")


def test_an_empty_html_file_is_a_bad_document() -> None:
    with pytest.raises(BadDocument):
        Html().read(b"  \n", LIMITS)
