"""Extraction: every article sentence out of each news page, no boilerplate, the page's own
metadata; pages with no article refused."""

import pytest

from harness import pages
from service.text.extraction import MAX_HTML_CHARS, NoArticle, extract_article


@pytest.mark.parametrize("page", pages.pages(), ids=lambda page: page.name)
def test_the_article_comes_out_and_the_boilerplate_stays_behind(page: pages.NewsPage) -> None:
    text = extract_article(page.html).text
    flat = " ".join(text.split())
    assert [s for s in page.article if s not in flat] == []
    assert [b for b in page.boilerplate if b in flat] == []
    assert "dataLayer" not in text


def test_paragraphs_are_separated_by_a_blank_line_in_order() -> None:
    text = extract_article(pages.classic()).text
    article = [" ".join(p) for p in pages.ARTICLE]
    paragraphs = text.split("\n\n")
    assert [p for p in paragraphs if p in article] == article
    assert all(p == " ".join(p.split()) and p for p in paragraphs)


@pytest.mark.parametrize("build", [pages.classic, pages.json_ld], ids=["meta", "json-ld"])
def test_title_byline_and_date_come_from_the_page(build) -> None:
    found = extract_article(build())
    assert found.title == pages.TITLE
    assert found.byline == pages.BYLINE
    assert found.published == pages.PUBLISHED


def test_a_fragment_without_metadata_has_none() -> None:
    found = extract_article(pages.cms_fragment())
    assert (found.byline, found.published) == (None, None)


@pytest.mark.parametrize(
    "html",
    ["", "   ", "<html><body></body></html>", "<script>x=1</script>", "<!-- a -->"],
)
def test_a_page_without_an_article_is_refused(html: str) -> None:
    with pytest.raises(NoArticle):
        extract_article(html)


def test_markup_over_the_backstop_is_refused_unread() -> None:
    with pytest.raises(NoArticle, match="over"):
        extract_article("<p>" + "a" * MAX_HTML_CHARS + "</p>")


def test_plain_text_passes_through_as_its_paragraphs() -> None:
    text = "The council met on Tuesday and voted for the bridge after a long debate."
    assert extract_article(f"<p>{text}</p>").text == text
