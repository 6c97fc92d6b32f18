"""News pages written for the extraction tests and comparison: each knows which of its sentences
are the article and which are boilerplate (navigation, ads, comments, footers, related links), so
an extractor's output can be scored: how much article it kept, how much boilerplate leaked in.

Five layouts an editor meets: a classic article page, a page whose comments outweigh the article,
a `div` soup without `<article>`, a CMS body fragment (what a CMS stores, no `<html>` around it)
and a page with its metadata in JSON-LD. Pure functions, deterministic.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from html import escape

ARTICLE = (
    (
        "The city council approved the new river bridge on Tuesday after three years of debate.",
        "The crossing will link the northern docks with the old market district.",
        "Engineers expect construction to begin next spring and to last about two years.",
    ),
    (
        "Mayor Alina Costa said the bridge would cut the average commute by twenty minutes.",
        "Opponents had argued that the money should go to repairing existing roads first.",
        "The final vote was eleven in favour and four against, with one abstention.",
    ),
    (
        "The project is funded by a regional transport grant and a municipal bond issue.",
        "A public consultation on the bridge's lighting and footpaths opens next month.",
        "Residents of the docks said they hoped the crossing would bring back local shops.",
    ),
)
TITLE = "Council approves river bridge after three-year debate"
BYLINE = "Maria Lindqvist"
PUBLISHED = "2024-03-12"

NAVIGATION = ("Home", "World news", "Business desk", "Sport results", "Culture and arts")
ADS = (
    "Subscribe today and get your first three months of unlimited access for one euro.",
    "Advertisement: compare the best mortgage rates in your area now.",
)
COMMENTS = (
    "I have lived by the docks for forty years and nobody ever asked us what we wanted.",
    "Another vanity project while the potholes on my street stay unfilled for a decade.",
    "Finally some good news, the ferry queue in winter is unbearable for commuters.",
    "Does anyone know whether cyclists will get their own lane on the new crossing?",
)
RELATED = (
    "Five things to know about the regional transport grant",
    "Opinion: our city keeps building bridges to nowhere",
)
FOOTER = (
    "Copyright 2024 The Riverside Courier. All rights reserved.",
    "Contact the newsroom, privacy policy and cookie settings.",
)
COOKIE = ("We use cookies to improve your experience on our website, accept all cookies.",)


@dataclass(frozen=True)
class NewsPage:
    name: str
    html: str
    article: tuple[str, ...]  # every sentence of the article, in order
    boilerplate: tuple[str, ...]  # every other sentence or link text on the page


def _paragraphs(tag: str = "p") -> str:
    return "\n".join(f"<{tag}>{' '.join(p)}</{tag}>" for p in ARTICLE)


def _links(items: tuple[str, ...]) -> str:
    return "".join(f'<li><a href="/{i}">{escape(text)}</a></li>' for i, text in enumerate(items))


def _comments() -> str:
    return "".join(
        f'<div class="comment"><span class="author">reader{i}</span><p>{text}</p></div>'
        for i, text in enumerate(COMMENTS)
    )


def _document(head: str, body: str) -> str:
    head = f'<meta charset="utf-8">{head}'
    return f'<!DOCTYPE html>\n<html lang="en"><head>{head}</head><body>{body}</body></html>'


def _meta() -> str:
    return (
        f"<title>{TITLE} | The Riverside Courier</title>"
        f'<meta name="author" content="{BYLINE}">'
        f'<meta property="article:published_time" content="{PUBLISHED}T09:30:00Z">'
        f'<meta property="og:title" content="{TITLE}">'
    )


def classic() -> str:
    """A news page: navigation, cookie banner, ads, the article, related links, comments, footer."""
    body = (
        f'<div class="cookie-banner">{COOKIE[0]}</div>'
        f"<header><nav><ul>{_links(NAVIGATION)}</ul></nav></header>"
        f'<aside class="ad">{ADS[0]}</aside>'
        f"<main><article><h1>{TITLE}</h1>"
        f'<p class="byline">By <span class="author">{BYLINE}</span>, '
        f'<time datetime="{PUBLISHED}">12 March 2024</time></p>'
        f"{_paragraphs()}</article>"
        f'<aside class="ad">{ADS[1]}</aside>'
        f'<section class="related"><h2>Related</h2><ul>{_links(RELATED)}</ul></section>'
        f'<section id="comments" class="comments"><h2>Comments</h2>{_comments()}</section></main>'
        f"<footer><p>{FOOTER[0]}</p><p>{FOOTER[1]}</p></footer>"
        "<script>window.dataLayer = [{page: 'article'}];</script>"
    )
    return _document(_meta(), body)


def heavy_comments() -> str:
    """The comments outweigh the article: three times over, as on a busy story."""
    comments = _comments() * 3
    body = (
        f"<nav><ul>{_links(NAVIGATION)}</ul></nav>"
        f"<article><h1>{TITLE}</h1>{_paragraphs()}</article>"
        f'<div id="comments" class="comments">{comments}</div>'
        f"<footer>{FOOTER[0]} {FOOTER[1]}</footer>"
    )
    return _document(_meta(), body)


def div_soup() -> str:
    """No semantic tags: every block is a `div`, as old CMS themes write them."""
    body = (
        f'<div class="top"><div class="menu">{" | ".join(NAVIGATION)}</div></div>'
        f'<div class="banner">{ADS[0]}</div>'
        f'<div class="content"><div class="headline">{TITLE}</div>{_paragraphs("div")}</div>'
        f'<div class="sidebar"><div class="box">{ADS[1]}</div>'
        f'<div class="box">{" ".join(RELATED)}</div></div>'
        f'<div class="bottom">{FOOTER[0]} {FOOTER[1]}</div>'
    )
    return _document(_meta(), body)


def cms_fragment() -> str:
    """What a CMS stores: the body's blocks alone, with an inline "read more" box and a caption."""
    first, *rest = ARTICLE
    return (
        f"<p>{' '.join(first)}</p>"
        f'<aside class="read-more"><a href="/1">Read more: {RELATED[0]}</a></aside>'
        + "".join(f"<p>{' '.join(p)}</p>" for p in rest)
    )


def json_ld() -> str:
    """Metadata in JSON-LD only, share buttons around the article, a newsletter box after it."""
    data = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "headline": TITLE,
        "author": {"@type": "Person", "name": BYLINE},
        "datePublished": f"{PUBLISHED}T09:30:00Z",
    }
    head = f'<script type="application/ld+json">{json.dumps(data)}</script>'
    body = (
        f"<header><ul>{_links(NAVIGATION)}</ul></header>"
        '<div class="share"><a href="#">Share on social media</a></div>'
        f"<article><h1>{TITLE}</h1>{_paragraphs()}</article>"
        f'<div class="newsletter">{ADS[0]}</div>'
        f"<footer>{FOOTER[0]}</footer>"
    )
    return _document(head, body)


_ALL_ARTICLE = tuple(sentence for paragraph in ARTICLE for sentence in paragraph)
_ALL_BOILERPLATE = NAVIGATION + ADS + COMMENTS + RELATED + FOOTER + COOKIE


def pages() -> list[NewsPage]:
    """Every page, each with the sentences that are its article and those that are not."""
    layouts = {
        "classic": classic,
        "heavy-comments": heavy_comments,
        "div-soup": div_soup,
        "cms-fragment": cms_fragment,
        "json-ld": json_ld,
    }
    found = []
    for name, build in layouts.items():
        html = build()
        boilerplate = tuple(text for text in _ALL_BOILERPLATE if escape(text) in html)
        found.append(NewsPage(name, html, _ALL_ARTICLE, boilerplate))
    return found


def huge(size: int) -> str:
    """An article page of at least `size` characters (its article repeated)."""
    paragraph = _paragraphs()
    return _document(_meta(), "<article>" + paragraph * (size // len(paragraph) + 1) + "</article>")
