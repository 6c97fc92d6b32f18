"""Where an operation's text comes from: given as text, as an HTML page whose article is
extracted (`format: html`), or fetched from a `url` (HTML extracted, plain text as it is); and
what every summary also answers: its bullets (`style: bullets`) and the reading times.

A fetched page costs its characters against the caller's character rate limit, like a posted
text (`TaskContext.charge`), before anything is extracted or queued.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from service.core.errors import FetchFailed, FetchRefused, InvalidRequest
from service.tasks.context import TaskContext
from service.text import split_sentences
from service.text.extraction import ExtractedArticle, NoArticle, extract_article
from service.text.reading import reading_minutes

FORMATS = ("text", "html")
STYLES = ("paragraph", "bullets")


@dataclass(frozen=True)
class SourceOptions:
    """A `url` to fetch instead of texts (None: the texts are given), and the texts' `format`
    (`html`: extract each page's article first)."""

    url: str | None = None
    format: str = "text"


@dataclass(frozen=True)
class Extracted:
    """What was read, when the text was a page: its URL after redirects (for a `url`), the
    page's title, byline and date when it names them, and the article text's length."""

    characters: int
    source_url: str | None = None
    title: str | None = None
    byline: str | None = None
    published: str | None = None


@dataclass(frozen=True)
class ReadingTimes:
    """Minutes a person takes to read the article and its summary."""

    article: float
    summary: float


def read_texts(
    ctx: TaskContext, texts: Sequence[str], source: SourceOptions, field: str, deadline: float
) -> tuple[list[str], list[Extracted | None]]:
    """The texts to work on, and for each what was extracted (None for a text given as text).

    Raises FetchRefused/FetchFailed (and the fetch's own errors) for a `url`, InvalidRequest
    naming the text when an HTML text holds no article."""
    if source.url is not None:
        text, extracted = _from_url(ctx, source.url, deadline)
        return [text], [extracted]
    if source.format != "html":
        return list(texts), [None] * len(texts)
    found = []
    for index, html in enumerate(texts):
        try:
            article = extract_article(html)
        except NoArticle as exc:
            name = field if len(texts) == 1 and field == "text" else f"{field}.{index}"
            raise InvalidRequest(str(exc), field=name) from None
        found.append(article)
    return [a.text for a in found], [_extracted(a) for a in found]


def _from_url(ctx: TaskContext, url: str, deadline: float) -> tuple[str, Extracted]:
    if ctx.fetcher is None:
        raise FetchRefused("fetching URLs is turned off here (FETCH_URLS)", field="url")
    page = ctx.fetcher.fetch(url, deadline, field="url")
    if ctx.charge is not None:
        ctx.charge(len(page.text))
    if page.is_html:
        try:
            article = extract_article(page.text)
        except NoArticle as exc:
            raise FetchFailed(f"the page holds no article: {exc}", field="url") from None
    else:
        article = ExtractedArticle("\n\n".join(p.strip() for p in page.text.split("\n\n")).strip())
        if not article.text:
            raise FetchFailed("the page is empty", field="url")
    return article.text, _extracted(article, page.url)


def _extracted(article: ExtractedArticle, url: str | None = None) -> Extracted:
    return Extracted(len(article.text), url, article.title, article.byline, article.published)


def bullets(summary: str) -> list[str]:
    """A summary's sentences, one bullet each, in order."""
    return [sentence.strip() for sentence in split_sentences(summary) if sentence.strip()]


def reading_times(article: str, summary: str, words_per_minute: int) -> ReadingTimes:
    return ReadingTimes(
        reading_minutes(article, words_per_minute), reading_minutes(summary, words_per_minute)
    )
