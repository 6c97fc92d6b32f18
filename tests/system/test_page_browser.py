"""The page at `/` and Swagger UI at `/docs` in a real browser: headless Debian Chromium driven by
Playwright, against gunicorn on 127.0.0.1 serving the tiny demo models.

Every test runs in a browser context that refuses and records any request that would leave the
server under test, and fails on console errors and uncaught page errors. Skipped, with the
reason, only where Chromium is not installed (`.ci/run` installs it, so CI never skips).
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import docx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Route, sync_playwright

from harness import documents, office
from harness.server import Server

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Just above the seed article (5,087 characters), so the over-limit case stays cheap.
MAX_TEXT_CHARS = 6000
SEED = (ROOT / "seeds" / "qusayr-article.txt").read_text(encoding="utf-8")

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason=f"Chromium is not installed ({CHROMIUM}): `apt-get install -y chromium` (.ci/run does)",
)


# The tests' loopback news site is the one non-public host the server may fetch from.
SERVER_ENV = {"MAX_TEXT_CHARS": str(MAX_TEXT_CHARS), "FETCH_ALLOW": "127.0.0.1/32"}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield launched
        launched.close()


@dataclass
class Watched:
    """A page, and what it did that a test must see: requests sent elsewhere, console errors."""

    page: Page
    outside: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@pytest.fixture
def watched(browser: Browser, server: Server) -> Iterator[Watched]:
    context = browser.new_context(base_url=server.url, viewport={"width": 1200, "height": 900})
    page = context.new_page()
    seen = Watched(page)

    def only_this_server(route: Route) -> None:
        url = route.request.url
        if url.startswith(server.url + "/") or url.startswith("data:"):
            route.continue_()
        else:
            seen.outside.append(url)
            route.abort()

    context.route("**/*", only_this_server)
    page.on("console", lambda m: _note_console(seen, m))
    page.on("pageerror", lambda error: seen.errors.append(f"page error: {error}"))
    yield seen
    context.close()
    assert seen.outside == [], f"requests left {server.url}: {seen.outside}"


def _note_console(seen: Watched, message: ConsoleMessage) -> None:
    if message.type == "error":
        seen.errors.append(message.text)


def _open_page(page: Page) -> None:
    page.goto("/")
    page.wait_for_selector("body[data-ready=true]")


def test_an_article_gets_its_summary_and_both_translations(watched: Watched) -> None:
    page = watched.page
    _open_page(page)
    targets = page.locator("[data-testid^=target-]")
    assert sorted(targets.evaluate_all("boxes => boxes.map(b => b.value)")) == ["ar", "fr"]
    page.get_by_test_id("article-input").fill(SEED)
    assert page.locator("#char-count").inner_text() == "5,087 / 6,000 characters"
    page.get_by_test_id("target-ar").check()
    page.get_by_test_id("target-fr").check()
    page.get_by_label("Length").select_option("short")
    # Keyboard only: focus the button and press Enter.
    page.get_by_test_id("run-button").focus()
    page.keyboard.press("Enter")
    arabic = page.get_by_test_id("translation-ar")
    arabic.wait_for(timeout=60_000)
    assert page.get_by_test_id("summary-output").inner_text().strip()
    assert page.get_by_test_id("translation-fr").inner_text().strip()
    assert arabic.inner_text().strip()
    assert arabic.evaluate("e => getComputedStyle(e).direction") == "rtl"
    assert (arabic.get_attribute("lang"), arabic.get_attribute("dir")) == ("ar", "rtl")
    french = page.get_by_test_id("translation-fr")
    assert french.evaluate("e => getComputedStyle(e).direction") == "ltr"
    assert page.get_by_test_id("error-message").is_hidden()
    assert re.fullmatch(r"Done in \d+\.\d s\.", page.locator("#status").inner_text())
    assert page.get_by_test_id("run-button").is_enabled()
    assert watched.errors == []


# Every text the status line is given, in order (each assignment is a record of its own, also
# when several events arrive in one read and are shown within one task).
RECORD_STATUS = """() => {
  window.statusSeen = [];
  const status = document.getElementById("status");
  new MutationObserver((records) => {
    for (const record of records) {
      for (const node of record.addedNodes) window.statusSeen.push(node.textContent);
    }
  }).observe(status, { childList: true });
}"""


@pytest.mark.parametrize("mode", ["Summary, then translate the summary", "Summary only"])
def test_a_long_article_shows_chunk_progress_while_it_is_summarised(
    watched: Watched, mode: str
) -> None:
    """The page asks for the summary's events (text/event-stream) and says "chunk k of n done"
    as each chunk's summary arrives, counting up to n; then the result as before."""
    page = watched.page
    _open_page(page)
    page.evaluate(RECORD_STATUS)
    page.get_by_label(mode).check()
    page.get_by_test_id("article-input").fill(SEED)
    page.get_by_test_id("run-button").click()
    page.get_by_test_id("summary-output").wait_for(timeout=60_000)
    seen = page.evaluate("window.statusSeen")
    counts = [
        (int(m[1]), int(m[2]))
        for m in (re.search(r"^Summarising: chunk (\d+) of (\d+) done", t) for t in seen)
        if m
    ]
    n = counts[-1][1]
    assert n > 1 and {done for done, _ in counts} == set(range(n + 1)), seen
    assert re.fullmatch(r"Done in \d+\.\d s\.", page.locator("#status").inner_text())
    assert page.get_by_test_id("summary-progress").is_hidden()
    assert watched.errors == []


def test_a_link_gets_its_article_summarised_as_bullets(watched: Watched, news_site) -> None:
    from harness import pages

    page = watched.page
    _open_page(page)
    page.get_by_test_id("url-input").fill(news_site.url("/redirect?to=/article"))
    page.get_by_test_id("bullets-checkbox").check()
    page.get_by_label("Length").select_option("short")
    page.get_by_test_id("target-ar").check()
    page.get_by_test_id("target-fr").uncheck()
    page.get_by_test_id("run-button").click()
    arabic = page.get_by_test_id("translation-ar")
    arabic.wait_for(timeout=60_000)
    summary = page.get_by_test_id("summary-output")
    assert summary.evaluate("e => e.tagName") == "UL"
    points = summary.locator("li").all_inner_texts()
    assert points and all(p.strip() for p in points)
    assert arabic.locator("li").count() == len(points)
    info = page.get_by_test_id("source-info").inner_text()
    assert pages.TITLE in info and pages.BYLINE in info, info
    assert f"from {news_site.url('/article')}" in info and "reading time" in info
    assert page.get_by_test_id("error-message").is_hidden()
    assert watched.errors == []


def test_a_link_that_cannot_be_fetched_shows_why(watched: Watched, news_site) -> None:
    page = watched.page
    _open_page(page)
    page.get_by_test_id("url-input").fill(news_site.url("/image"))
    page.get_by_test_id("run-button").click()
    error = page.get_by_test_id("error-message")
    error.wait_for()
    assert "could not be read (415)" in error.inner_text(), error.inner_text()
    assert all("status of 415" in text for text in watched.errors), watched.errors


def test_a_text_over_the_server_limit_shows_the_error(watched: Watched) -> None:
    page = watched.page
    _open_page(page)
    page.get_by_test_id("article-input").fill("Rain. " * 1001)
    assert "over the server's limit" in page.locator("#char-count").inner_text()
    page.get_by_test_id("run-button").click()
    error = page.get_by_test_id("error-message")
    error.wait_for()
    message = error.inner_text()
    assert "Too long (413)" in message and "6,000 characters" in message, message
    assert page.get_by_test_id("summary-output").count() == 0
    # Chromium logs every non-2xx fetch to the console; that one is expected, nothing else.
    assert all("status of 413" in text for text in watched.errors), watched.errors


@pytest.mark.parametrize(
    ("status", "headers", "code", "says"),
    [
        (503, {"Retry-After": "7"}, "overloaded", "busy (503): queue full. Try again in 7 s."),
        (503, {"Retry-After": "1"}, "model_unavailable", "not ready (503)"),
        (504, {}, "timeout", "did not finish in time (504)"),
        (400, {}, "invalid_request", "refused (400): length: bad"),
        (500, {}, "internal_error", "failed (500)"),
    ],
)
def test_every_api_error_is_shown(
    watched: Watched, status: int, headers: dict[str, str], code: str, says: str
) -> None:
    """The API's error statuses, answered by a stand-in for /v1/articles (the real ones are
    covered by the API tests; this is what the page makes of them)."""
    page = watched.page
    _open_page(page)
    message = {"overloaded": "queue full", "invalid_request": "length: bad"}.get(code, "x")
    body = {"error": {"code": code, "message": message, "field": None}}
    page.route(
        "**/v1/articles", lambda route: route.fulfill(status=status, headers=headers, json=body)
    )
    page.get_by_test_id("article-input").fill("The talks resumed on Monday.")
    page.get_by_test_id("run-button").click()
    error = page.get_by_test_id("error-message")
    error.wait_for()
    assert says in error.inner_text()
    assert all(f"status of {status}" in text for text in watched.errors), watched.errors


def test_a_service_that_cannot_be_reached_is_said_so(watched: Watched) -> None:
    page = watched.page
    _open_page(page)
    page.route("**/v1/articles", lambda route: route.abort("connectionrefused"))
    page.get_by_test_id("article-input").fill("The talks resumed on Monday.")
    page.get_by_test_id("run-button").click()
    error = page.get_by_test_id("error-message")
    error.wait_for()
    assert "Could not reach the service" in error.inner_text()


def test_docs_list_every_operation_and_try_it_out_works(watched: Watched, server: Server) -> None:
    page = watched.page
    page.goto("/docs")
    spec = page.request.get("/openapi.json").json()
    expected = sorted((m.upper(), path) for path, ops in spec["paths"].items() for m in ops)
    page.wait_for_selector(".opblock-summary")
    blocks = page.locator(".opblock-summary").evaluate_all(
        """rows => rows.map(r => [
            r.querySelector('.opblock-summary-method').textContent,
            r.querySelector('.opblock-summary-path').getAttribute('data-path')])"""
    )
    assert sorted(tuple(b) for b in blocks) == expected
    languages = page.locator(".opblock-get").filter(has=page.locator("[data-path='/v1/languages']"))
    languages.locator(".opblock-summary").click()
    languages.get_by_role("button", name="Try it out").click()
    languages.get_by_role("button", name="Execute").click()
    answer = languages.locator(".live-responses-table tr.response .response-col_status")
    answer.wait_for()
    assert answer.inner_text().strip() == "200"
    assert '"target": "ar"' in languages.locator(".live-responses-table").inner_text()
    assert watched.errors == []


def test_a_key_entered_on_the_page_is_sent_and_a_refusal_asks_for_one(watched: Watched) -> None:
    """With keys on, the page sends the key typed in its field as X-API-Key; without one, the
    service's 401 is shown as a request for a key. (The server side:
    tests/unit/http/test_access.py.)"""
    page = watched.page
    sent: list[str | None] = []

    def keyed(route: Route) -> None:
        key = route.request.headers.get("x-api-key")
        sent.append(key)
        if key != "k3y-for-the-newsroom-0001":
            body = '{"error": {"code": "unauthorized", "message": "the API key is not valid"}}'
            route.fulfill(status=401, content_type="application/json", body=body)
        else:
            route.continue_()

    page.route("**/v1/articles", keyed)
    _open_page(page)
    page.get_by_test_id("article-input").fill("Heavy rain fell on the town overnight.")
    page.get_by_test_id("run-button").click()
    error = page.get_by_test_id("error-message")
    error.wait_for()
    assert "needs an API key (401)" in error.inner_text()
    page.get_by_test_id("api-key-input").fill("k3y-for-the-newsroom-0001")
    page.get_by_test_id("run-button").click()
    page.get_by_test_id("summary-output").wait_for(timeout=60_000)
    assert sent == [None, "k3y-for-the-newsroom-0001"]
    assert all("status of 401" in text for text in watched.errors), watched.errors


def test_an_archive_runs_as_a_job_with_live_progress_and_its_results_download(
    watched: Watched,
) -> None:
    """A .jsonl file is uploaded as a job; the bar follows the job's events to the end; the
    download holds one line per article, a line without a text as that item's error."""
    page = watched.page
    _open_page(page)
    page.evaluate(RECORD_ARCHIVE_STATUS)
    page.get_by_label("Summary only").check()
    archive = [
        {"id": "brief", "text": "The council approved the new bridge on Tuesday."},
        {"id": "harvest", "text": "Farmers fear the drought will ruin the harvest."},
        {"id": "empty", "title": "no text here"},
    ]
    page.get_by_test_id("archive-input").set_input_files(
        files=[
            {
                "name": "archive.jsonl",
                "mimeType": "application/x-ndjson",
                "buffer": "\n".join(json.dumps(item) for item in archive).encode(),
            }
        ]
    )
    page.get_by_test_id("archive-button").click()
    link = page.get_by_test_id("archive-download")
    link.wait_for(timeout=120_000)
    bar = page.get_by_test_id("archive-progress")
    assert (bar.get_attribute("max"), bar.evaluate("b => b.value")) == ("3", 3)
    status = page.get_by_test_id("archive-status").inner_text()
    assert status == "done: 3 of 3 done (1 failed)"
    seen = page.evaluate("window.archiveStatusSeen")
    # The status as the job was accepted, then as its events came, to the end.
    assert seen[0] == "queued: 0 of 3 done"
    assert seen[-1] == status and len(seen) >= 2
    with page.expect_download() as download:
        link.click()
    lines = [json.loads(line) for line in Path(download.value.path()).read_text().splitlines()]
    results = {line["id"]: line for line in lines}
    assert set(results) == {"brief", "harvest", "empty"}
    assert results["brief"]["result"]["summary"].strip()
    assert results["empty"]["error"]["code"] == "invalid_request"
    assert page.get_by_test_id("error-message").is_hidden()
    assert watched.errors == []


RECORD_ARCHIVE_STATUS = """() => {
  window.archiveStatusSeen = [];
  const status = document.getElementById("archive-status");
  new MutationObserver(() => window.archiveStatusSeen.push(status.textContent))
    .observe(status, { childList: true, characterData: true, subtree: true });
}"""


def test_a_bad_archive_shows_the_line_at_fault(watched: Watched) -> None:
    page = watched.page
    _open_page(page)
    page.get_by_test_id("archive-input").set_input_files(
        files=[
            {
                "name": "bad.jsonl",
                "mimeType": "application/x-ndjson",
                "buffer": b'{"text": "a"}\n{oops\n',
            }
        ]
    )
    page.get_by_test_id("archive-button").click()
    error = page.get_by_test_id("error-message")
    error.wait_for(timeout=30_000)
    assert "line 2" in error.inner_text() and "(400)" in error.inner_text()
    assert page.get_by_test_id("archive-download").is_hidden()


def _open_documents(page: Page) -> None:
    page.goto("/")
    page.wait_for_selector("body[data-ready=true][data-documents-ready=true]")


def test_a_document_is_translated_with_progress_and_downloaded(
    watched: Watched, tmp_path: Path
) -> None:
    page = watched.page
    _open_documents(page)
    assert ".docx" in page.locator("#document-formats").inner_text()
    source = tmp_path / "report.docx"
    source.write_bytes(office.build_docx())
    page.get_by_test_id("document-file").set_input_files(str(source))
    assert page.get_by_test_id("document-name").inner_text().startswith("report.docx (")
    page.get_by_test_id("document-target").select_option("ar")
    page.evaluate(RECORD_DOCUMENT_STATUS)
    page.get_by_test_id("document-run").click()
    link = page.get_by_test_id("document-download")
    link.wait_for(timeout=120_000)
    assert link.inner_text() == "Download report.ar.docx"
    with page.expect_download() as download_info:
        link.click()
    download = download_info.value
    assert download.suggested_filename == "report.ar.docx"
    translated = docx.Document(download.path())
    assert len(translated.paragraphs) == len(docx.Document(str(source)).paragraphs)
    seen = page.evaluate("window.documentStatusSeen")
    assert seen[0] == "Sending the file…" and seen[-1] == "Done."
    assert page.get_by_test_id("document-progress").evaluate("e => e.value") == 1
    assert page.get_by_test_id("document-error").is_hidden()
    assert watched.errors == []


RECORD_DOCUMENT_STATUS = """() => {
  window.documentStatusSeen = [];
  const status = document.getElementById("document-status");
  new MutationObserver((records) => {
    for (const record of records) {
      for (const node of record.addedNodes) window.documentStatusSeen.push(node.textContent);
    }
  }).observe(status, { childList: true });
}"""


def test_a_dropped_file_is_summarised_and_a_bad_file_shows_why(watched: Watched) -> None:
    page = watched.page
    _open_documents(page)
    dropped = page.evaluate_handle(
        """(text) => {
          const data = new DataTransfer();
          data.items.add(new File([text], "news.txt", { type: "text/plain" }));
          return data;
        }""",
        documents.TEXT,
    )
    page.dispatch_event("#drop-zone", "drop", {"dataTransfer": dropped})
    assert page.get_by_test_id("document-name").inner_text().startswith("news.txt (")
    page.get_by_label("Summarise it").check()
    page.get_by_test_id("document-run").click()
    link = page.get_by_test_id("document-download")
    link.wait_for(timeout=120_000)
    assert link.inner_text() == "Download news.summary.md"
    with page.expect_download() as download_info:
        link.click()
    assert Path(download_info.value.path()).read_text().startswith("# Summary of news.txt")

    page.get_by_test_id("document-file").set_input_files(
        {"name": "photo.docx", "mimeType": "application/octet-stream", "buffer": PNG}
    )
    page.get_by_label("Translate it").check()
    page.get_by_test_id("document-run").click()
    error = page.get_by_test_id("document-error")
    error.wait_for()
    assert "415" in error.inner_text() and "supported formats" in error.inner_text()
    assert page.get_by_test_id("document-result").is_hidden()
    # The refusal is logged by the browser as a failed request; nothing else went wrong.
    assert all("415" in e for e in watched.errors), watched.errors


PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
