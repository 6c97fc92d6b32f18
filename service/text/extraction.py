"""A web page in, its article out: the main text without navigation, ads, comments or footers,
and what the page says about itself (title, byline, publication date).

Extraction is trafilatura's (maintained, pure Python over lxml, no model or download): on the
pages of `harness/pages.py` (`python -m bench extraction`) it kept every article sentence and
let no boilerplate in, where jusText let ads, related links and comments in and a page's plain
text is all boilerplate. Paragraphs come back separated by a blank line, so summarising and
translating see the article's paragraph breaks.
"""

from __future__ import annotations

from dataclasses import dataclass

import trafilatura
from trafilatura.settings import use_config

# Characters of markup read at most: trafilatura's own parse is bounded by the input's size,
# and callers bound what they pass (MAX_BODY_BYTES, FETCH_MAX_BYTES); this is a backstop.
MAX_HTML_CHARS = 20_000_000


def _config():  # type: ignore[no-untyped-def]
    """trafilatura's defaults, less its minimum sizes: a CMS body of one short paragraph is an
    article too (by default anything under 250 characters comes back empty)."""
    config = use_config()
    for name in ("MIN_EXTRACTED_SIZE", "MIN_OUTPUT_SIZE", "MIN_OUTPUT_COMM_SIZE"):
        config.set("DEFAULT", name, "1")
    config.set("DEFAULT", "EXTRACTION_TIMEOUT", "0")
    return config


_CONFIG = _config()


class NoArticle(ValueError):
    """The page holds no text that reads as an article (empty, all navigation, not HTML)."""


@dataclass(frozen=True)
class ExtractedArticle:
    """The article's text (paragraphs joined by a blank line) and, when the page names them,
    its title, byline and publication date (ISO `YYYY-MM-DD`)."""

    text: str
    title: str | None = None
    byline: str | None = None
    published: str | None = None


def extract_article(html: str) -> ExtractedArticle:
    """The article of a page (a whole document or a CMS body fragment).

    Raises NoArticle when no article text is found, or the markup is over MAX_HTML_CHARS.
    """
    if len(html) > MAX_HTML_CHARS:
        raise NoArticle(f"the page is over {MAX_HTML_CHARS} characters")
    if "<body" not in html[:100_000].lower():
        # A fragment: lxml would make a lone <p> the root, which trafilatura reads as empty.
        html = f"<html><body>{html}</body></html>"
    found = trafilatura.bare_extraction(
        html,
        with_metadata=True,
        include_comments=False,
        include_tables=True,
        include_images=False,
        deduplicate=False,
        config=_CONFIG,
    )
    text = _paragraphs(found.text if found is not None else "")
    if not text:
        raise NoArticle("no article text was found in the page")
    return ExtractedArticle(
        text=text,
        title=_present(found.title),
        byline=_present(found.author),
        published=_present(found.date),
    )


def _paragraphs(text: str | None) -> str:
    """trafilatura's lines (one per block) as paragraphs separated by a blank line."""
    lines = [" ".join(line.split()) for line in (text or "").splitlines()]
    return "\n\n".join(line for line in lines if line)


def _present(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None
