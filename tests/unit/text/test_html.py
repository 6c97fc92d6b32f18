"""HTML: text nodes out and back in; tags, attributes, code and comments untouched; hostile
markup answered or refused with HtmlError, quickly."""

import time

import pytest

from service.text.html import MAX_DEPTH, HtmlError, extract_all, extract_texts


def _upper(html: str) -> str:
    document = extract_texts(html)
    return document.rebuild([text.upper() for text in document.texts])


def test_text_nodes_change_and_every_tag_and_attribute_stays() -> None:
    html = (
        '<p class="lead" data-x="1">Talks '
        '<a href="https://e.org/a?b=1&amp;c=2">resumed</a> today.</p>'
    )
    assert extract_texts(html).texts == ["Talks", "resumed", "today."]
    assert _upper(html) == (
        '<p class="lead" data-x="1">TALKS <a href="https://e.org/a?b=1&amp;c=2">RESUMED</a> '
        "TODAY.</p>"
    )


def test_code_script_style_pre_comments_and_cdata_are_not_translated() -> None:
    html = (
        "<script>var s = 'hello world';</script><style>p { color: red }</style>"
        "<pre>keep this</pre><p>Run <code>make test</code> now<!-- a note --></p>"
        "<![CDATA[ raw data ]]>"
    )
    assert extract_texts(html).texts == ["Run", "now"]
    out = _upper(html)
    for kept in ("'hello world'", "p { color: red }", "keep this", "make test", "<!-- a note -->"):
        assert kept in out
    assert "RUN" in out and "NOW" in out


def test_whitespace_around_text_and_pieces_without_words_are_kept() -> None:
    html = "<ul><li>  First item\n</li><li>2024</li></ul><pre>\n  x\n</pre>"
    assert extract_texts(html).texts == ["First item"]
    assert _upper(html) == "<ul><li>  FIRST ITEM\n</li><li>2024</li></ul><pre>\n  x\n</pre>"


def test_whitespace_between_tags_collapses_as_a_browser_shows_it() -> None:
    assert _upper("<ul>\n  <li>a b</li>\n</ul>") == "<ul>\n<li>A B</li>\n</ul>"


def test_entities_come_back_escaped_where_html_needs_it() -> None:
    document = extract_texts("<p>Fish &amp; chips &lt;3 caf&eacute;</p>")
    assert document.texts == ["Fish & chips <3 café"]
    assert document.rebuild(["Poisson & frites <3"]) == "<p>Poisson &amp; frites &lt;3</p>"


@pytest.mark.parametrize(
    "html",
    [
        "<p>Unclosed <b>bold <i>and italic",
        "</div></span>stray end tags<p>",
        "<<<>>> <p <b>odd</ b></p>",
        "<![if !IE]><p>conditional</p><![endif]>",
        "&bogus; &#99999999; &#x0; &",
        "<p>" + "word " * 20000 + "</p>",
        "<b>" * (MAX_DEPTH - 5) + "deep but allowed",
    ],
)
def test_hostile_markup_is_answered_quickly(html: str) -> None:
    started = time.perf_counter()
    _upper(html)
    assert time.perf_counter() - started < 5


@pytest.mark.parametrize(
    "html", ["<div>" * 10_000 + "deep" + "</div>" * 10_000, "<b>" * 10_000 + "never closed"]
)
def test_nesting_deeper_than_the_limit_is_refused_quickly(html: str) -> None:
    started = time.perf_counter()
    with pytest.raises(HtmlError, match="deeper than"):
        extract_texts(html)
    assert time.perf_counter() - started < 5


def test_extract_all_names_the_document_that_failed() -> None:
    with pytest.raises(HtmlError) as caught:
        extract_all(["<p>fine</p>", "<i>" * 10_000])
    assert caught.value.index == 1


def test_rebuild_needs_one_translation_per_piece() -> None:
    with pytest.raises(ValueError):
        extract_texts("<p>a b</p><p>c d</p>").rebuild(["only one"])
