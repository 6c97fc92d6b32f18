"""extraction: article kept and boilerplate leaked, per extractor, on the news pages we wrote.

Each page of `harness/pages.py` knows its article sentences and its boilerplate (navigation, ads,
cookie banner, related links, comments, footer). Each extractor's output is scored by how many
article sentences it holds (kept) and how many boilerplate pieces (leaked), with its time per
page. Compared: trafilatura as the service configures it (`service.text.extraction`), jusText
(trafilatura's own fallback, by paragraph stop-word density) and BeautifulSoup's `get_text()` (no
extraction at all: what summarising the raw page would read). Seconds on 2 cores.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import justext
from bs4 import BeautifulSoup

from bench.report import log, save, table
from harness.pages import NewsPage, pages
from service.text.extraction import NoArticle, extract_article


def _trafilatura(html: str) -> str:
    try:
        return extract_article(html).text
    except NoArticle:
        return ""


def _justext(html: str) -> str:
    found = justext.justext(html.encode(), justext.get_stoplist("English"))
    return "\n".join(p.text for p in found if not p.is_boilerplate)


def _page_text(html: str) -> str:
    return BeautifulSoup(html, "html.parser").get_text(" ")


EXTRACTORS: dict[str, Callable[[str], str]] = {
    "trafilatura": _trafilatura,
    "justext": _justext,
    "page text": _page_text,
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repeat", type=int, default=20, help="runs per page, for the time")


def score(extract: Callable[[str], str], page: NewsPage, repeat: int) -> dict[str, Any]:
    """Article sentences kept, boilerplate pieces leaked, and milliseconds per page."""
    start = time.perf_counter()
    for _ in range(repeat):
        text = extract(page.html)
    ms = (time.perf_counter() - start) / repeat * 1000
    flat = " ".join(text.split())
    return {
        "page": page.name,
        "kept": sum(sentence in flat for sentence in page.article),
        "article": len(page.article),
        "leaked": sum(piece in flat for piece in page.boilerplate),
        "boilerplate": len(page.boilerplate),
        "ms": round(ms, 2),
    }


def run(args: argparse.Namespace) -> int:
    rows, results = [], {}
    for name, extract in EXTRACTORS.items():
        scores = [score(extract, page, args.repeat) for page in pages()]
        results[name] = scores
        kept = sum(s["kept"] for s in scores)
        leaked = sum(s["leaked"] for s in scores)
        rows.append(
            [
                name,
                f"{kept}/{sum(s['article'] for s in scores)}",
                f"{leaked}/{sum(s['boilerplate'] for s in scores)}",
                ", ".join(f"{s['page']} {s['leaked']}" for s in scores if s["leaked"]) or "-",
                sum(s["ms"] for s in scores) / len(scores),
            ]
        )
    log("\n" + table(["extractor", "kept", "leaked", "leaks by page", "ms/page"], rows))
    save(args.out / "extraction.json", {"extractors": results})
    return 0
