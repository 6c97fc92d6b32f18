"""`/v1` with `url`, `format: html` and `style`, against the loopback news site (allowed by
FETCH_ALLOW): what is answered, and every attack case refused with its 4xx in time, without a
connection leaving loopback."""

import socket
import time
from collections.abc import Callable

import pytest
from flask.testing import FlaskClient

from harness import pages
from harness.news_site import NewsSite
from service.http.app import create_app
from service.text.extraction import extract_article
from service.text.reading import reading_minutes
from tests.unit.http.test_v1 import QUICK, assert_error

ALLOW_TEST_SITE = ("127.0.0.1/32",)


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    real = socket.create_connection

    def guarded(address, *args, **kwargs):
        assert address[0] == "127.0.0.1", f"a fetch tried to connect to {address}"
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", guarded)


@pytest.fixture
def make_client(engine, demo_settings) -> Callable[..., FlaskClient]:
    """A client of an app on the shared engine with these settings changed."""

    def make(**changes) -> FlaskClient:
        settings = demo_settings.replace(fetch_allow=ALLOW_TEST_SITE, **changes)
        return create_app(settings, engine=engine).test_client()

    return make


@pytest.fixture
def client(make_client) -> FlaskClient:
    return make_client(fetch_timeout_s=1.0, fetch_max_bytes=1_000_000)


def test_summarize_a_url_answers_what_was_extracted(client, news_site: NewsSite) -> None:
    url = news_site.url("/redirect?to=/article")
    response = client.post("/v1/summarize", json={"url": url, **QUICK})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert isinstance(body["summary"], str) and body["chunks"] == [1]
    assert body["extracted"] == {
        "characters": len(extract_article(pages.classic()).text),
        "source_url": news_site.url("/article"),
        "title": pages.TITLE,
        "byline": pages.BYLINE,
        "published": pages.PUBLISHED,
    }
    article = extract_article(pages.classic()).text
    assert body["reading_minutes"]["article"] == reading_minutes(article, 230)


def test_the_summarised_text_is_the_article_without_boilerplate(engine, news_site) -> None:
    from service.sources import AddressPolicy, Fetcher, FetchLimits
    from service.tasks import SourceOptions, TaskContext, TextLimits
    from service.tasks.sources import read_texts

    fetcher = Fetcher(AddressPolicy.from_allow_list(ALLOW_TEST_SITE), FetchLimits(10**6, 2.0))
    ctx = TaskContext(engine, TextLimits(4, 10**5), fetcher=fetcher)
    for path in ("/article", "/fragment", "/plain"):
        [text], _ = read_texts(ctx, (), SourceOptions(news_site.url(path)), "url", 1e12)
        flat = " ".join(text.split())
        assert [s for p in pages.ARTICLE for s in p if s not in flat] == []
        boilerplate = pages.NAVIGATION + pages.ADS + pages.COMMENTS + pages.RELATED + pages.FOOTER
        assert [b for b in boilerplate if b in flat] == []


def test_format_html_on_summaries_and_articles(client) -> None:
    html = pages.classic()
    summary = client.post("/v1/summarize", json={"texts": [html, html], "format": "html", **QUICK})
    assert summary.status_code == 200
    extracted = summary.get_json()["extracted"]
    assert [e["title"] for e in extracted] == [pages.TITLE, pages.TITLE]
    assert extracted[0]["source_url"] is None
    article = client.post("/v1/articles", json={"text": html, "format": "html", **QUICK})
    assert article.get_json()["extracted"]["byline"] == pages.BYLINE


def test_an_html_text_without_an_article_is_400_naming_it(client) -> None:
    body = {"texts": ["<p>A real paragraph about the council.</p>", "<script>x</script>"]}
    response = client.post("/v1/summarize", json={**body, "format": "html"})
    assert_error(response, 400, "invalid_request", "texts.1")


def test_bullets_on_summaries_and_kept_by_the_translations(client) -> None:
    text = " ".join(" ".join(p) for p in pages.ARTICLE)
    summary = client.post("/v1/summarize", json={"text": text, "style": "bullets", **QUICK})
    bullets = summary.get_json()["bullets"]
    assert bullets and all(isinstance(b, str) and b for b in bullets)
    body = {"text": text, "style": "bullets", "translate_to": ["fr", "ar"], **QUICK}
    article = client.post("/v1/articles", json=body).get_json()
    assert article["bullets"] and set(article["translated_bullets"]) == {"fr", "ar"}
    for target, translated in article["translated_bullets"].items():
        assert len(translated) == len(article["bullets"])
        assert "\n".join(translated) == article["translations"][target]


def test_translate_a_url(client, news_site: NewsSite) -> None:
    body = {"url": news_site.url("/plain"), "target": "fr"}
    response = client.post("/v1/translate", json=body)
    assert response.status_code == 200
    answer = response.get_json()
    assert answer["translation"].count("\n\n") == 2  # the page's three paragraphs
    assert answer["extracted"]["source_url"] == news_site.url("/plain")


ATTACKS = {
    "redirect to private": ("/redirect?to=http://10.0.0.1/", 400, "fetch_refused"),
    "redirect to loopback": ("/redirect?to=http://127.0.0.2:{port}/article", 400, "fetch_refused"),
    "redirect to metadata": ("/redirect?to=http://169.254.169.254/", 400, "fetch_refused"),
    "slow page": ("/slow", 422, "fetch_failed"),
    "slow headers": ("/slow-headers", 422, "fetch_failed"),
    "huge page": ("/huge", 413, "payload_too_large"),
    "not html": ("/image", 415, "unsupported_media_type"),
    "error status": ("/status/404", 422, "fetch_failed"),
}


@pytest.mark.parametrize(("path", "status", "code"), ATTACKS.values(), ids=ATTACKS.keys())
def test_every_attack_case_gets_its_4xx_in_time(
    client, news_site: NewsSite, path: str, status: int, code: str
) -> None:
    url = news_site.url(path.format(port=news_site.port))
    start = time.monotonic()
    for route, extra in [
        ("/v1/summarize", {}),
        ("/v1/articles", {}),
        ("/v1/translate", {"target": "fr"}),
    ]:
        assert_error(client.post(route, json={"url": url, **extra}), status, code, "url")
    assert time.monotonic() - start < 3 * 1.0 + 1.5  # FETCH_TIMEOUT_S each, at most


@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd", "http://127.0.0.2/", "http://[::1]/", "http://u:p@127.0.0.1/"],
)
def test_urls_refused_without_a_connection(client, url: str) -> None:
    assert_error(client.post("/v1/summarize", json={"url": url}), 400, "fetch_refused", "url")


def test_fetching_can_be_turned_off(make_client, news_site: NewsSite) -> None:
    off = make_client(fetch_urls=False)
    response = off.post("/v1/summarize", json={"url": news_site.url("/article")})
    assert_error(response, 400, "fetch_refused", "url")


def test_text_and_url_together_are_refused(client, news_site: NewsSite) -> None:
    body = {"text": "The council met.", "url": news_site.url("/article")}
    for route in ("/v1/summarize", "/v1/articles"):
        assert_error(client.post(route, json=body), 400, "invalid_request")


def test_with_keys_on_only_a_keyed_client_may_fetch(make_client, news_site: NewsSite) -> None:
    keyed = make_client(api_keys=(_digest("k" * 20),))
    url = news_site.url("/article")
    before = len(news_site.requests)
    assert keyed.post("/v1/summarize", json={"url": url}).status_code == 401
    assert len(news_site.requests) == before  # nothing fetched
    headers = {"Authorization": "Bearer " + "k" * 20}
    assert (
        keyed.post("/v1/summarize", json={"url": url, **QUICK}, headers=headers).status_code == 200
    )


def test_the_fetched_page_counts_against_the_character_limit(make_client, news_site) -> None:
    limited = make_client(rate_limit_chars=("5000/minute",))
    url = news_site.url("/article")  # about 3,000 characters: two are over
    assert limited.post("/v1/summarize", json={"url": url, **QUICK}).status_code == 200
    response = limited.post("/v1/summarize", json={"url": url, **QUICK})
    assert_error(response, 429, "rate_limited")
    assert "fetched page" in response.get_json()["error"]["message"]


def _digest(key: str) -> str:
    from service.core.setting_values import key_digest

    return key_digest(key)
