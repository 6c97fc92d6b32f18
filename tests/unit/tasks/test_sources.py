"""Where an operation's text comes from: given, an HTML page's article, or a fetched page;
fetching off refused before anything is sent; a fetched page charged by its characters; the
bullets and reading times every summary answers. No model: the step runs before any."""

from __future__ import annotations

import pytest

from harness import pages
from harness.news_site import NewsSite
from service.core.errors import FetchFailed, FetchRefused, InvalidRequest
from service.sources import AddressPolicy, Fetcher, FetchLimits
from service.tasks import SourceOptions, TaskContext, TextLimits
from service.tasks.sources import Extracted, bullets, read_texts, reading_times
from service.text.extraction import extract_article

FOREVER = 1e12


def _ctx(fetcher: Fetcher | None = None, charge=None) -> TaskContext:  # noqa: ANN001
    return TaskContext(None, TextLimits(4, 10**5), fetcher=fetcher, charge=charge)  # type: ignore[arg-type]


def _fetcher() -> Fetcher:
    return Fetcher(AddressPolicy.from_allow_list(("127.0.0.1/32",)), FetchLimits(10**6, 2.0))


def test_texts_given_as_text_pass_through_with_nothing_extracted() -> None:
    texts, found = read_texts(_ctx(), ["a <b>b</b>", "c"], SourceOptions(), "texts", FOREVER)
    assert (texts, found) == (["a <b>b</b>", "c"], [None, None])


def test_html_texts_become_their_articles() -> None:
    html = pages.classic()
    texts, found = read_texts(_ctx(), [html], SourceOptions(format="html"), "text", FOREVER)
    article = extract_article(html)
    assert texts == [article.text]
    assert found == [Extracted(len(article.text), None, pages.TITLE, pages.BYLINE, pages.PUBLISHED)]


@pytest.mark.parametrize(
    ("texts", "field", "named"),
    [(["<script>x</script>"], "text", "text"), (["<p>Yes.</p>", ""], "texts", "texts.1")],
)
def test_an_html_text_without_an_article_is_named(texts, field, named) -> None:  # noqa: ANN001
    with pytest.raises(InvalidRequest) as caught:
        read_texts(_ctx(), texts, SourceOptions(format="html"), field, FOREVER)
    assert caught.value.field == named


def test_a_url_with_fetching_off_is_refused_unsent(news_site: NewsSite) -> None:
    before = len(news_site.requests)
    with pytest.raises(FetchRefused, match="FETCH_URLS") as caught:
        read_texts(_ctx(), [], SourceOptions(news_site.url("/article")), "url", FOREVER)
    assert caught.value.field == "url" and len(news_site.requests) == before


def test_a_fetched_page_is_charged_its_characters_and_extracted(news_site: NewsSite) -> None:
    charged: list[int] = []
    ctx = _ctx(_fetcher(), charged.append)
    texts, [found] = read_texts(ctx, [], SourceOptions(news_site.url("/article")), "url", FOREVER)
    assert charged == [len(pages.classic())]
    assert texts == [extract_article(pages.classic()).text]
    assert found is not None and found.source_url == news_site.url("/article")


def test_a_plain_text_page_is_read_as_it_is(news_site: NewsSite) -> None:
    ctx = _ctx(_fetcher())
    [text], [found] = read_texts(ctx, [], SourceOptions(news_site.url("/plain")), "url", FOREVER)
    assert text.split("\n\n") == [" ".join(p) for p in pages.ARTICLE]
    assert found is not None and found.title is None and found.characters == len(text)


def test_a_fetched_page_without_an_article_is_a_failed_fetch(news_site: NewsSite) -> None:
    ctx = _ctx(_fetcher())
    with pytest.raises(FetchFailed, match="no article"):
        read_texts(ctx, [], SourceOptions(news_site.url("/empty")), "url", FOREVER)


def test_bullets_are_the_summary_sentences() -> None:
    assert bullets("The vote passed. Work starts in May.  ") == [
        "The vote passed.",
        "Work starts in May.",
    ]
    assert bullets("") == []


def test_reading_times_of_article_and_summary() -> None:
    times = reading_times(" ".join(["word"] * 460), "a b c", 230)
    assert (times.article, times.summary) == (2.0, 0.1)
