"""The LibreTranslate-compatible routes: the real client (libretranslatepy) and the request
shapes of Mastodon, Weblate and Discourse against real gunicorn; errors, CORS and form bodies
through Flask's test client. The tiny models' translations are meaningless; shapes are not."""

import json
import urllib.parse
import urllib.request

import pytest
from conftest import post_json
from libretranslatepy import LibreTranslateAPI

from harness.server import Server
from service.http.app import create_app

ENGLISH = "The council approved the new bridge on Tuesday."
FRENCH = "Le conseil a approuvé le nouveau pont mardi après un long débat."


def post_form(url: str, fields: dict[str, str]) -> tuple[int, object]:
    request = urllib.request.Request(url, data=urllib.parse.urlencode(fields).encode())
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


# ----- the real client and real callers, against gunicorn ---------------------------------------


def test_libretranslatepy_translate_detect_languages(server: Server) -> None:
    lt = LibreTranslateAPI(server.url)
    translated = lt.translate("Good morning.", "en", "fr")
    assert isinstance(translated, str) and translated
    found = lt.detect(FRENCH)
    assert found[0]["language"] == "fr" and 50 < found[0]["confidence"] <= 100
    confidences = [d["confidence"] for d in found]
    assert confidences == sorted(confidences, reverse=True)
    assert lt.languages() == [
        {"code": "en", "name": "English", "targets": ["fr", "ar"]},
        {"code": "fr", "name": "French", "targets": []},
        {"code": "ar", "name": "Arabic", "targets": []},
    ]


def test_mastodon_html_list_with_auto_source_and_null_key(server: Server) -> None:
    posts = [
        f'<p>{ENGLISH} <a href="https://example.org/x" rel="nofollow">Read more</a></p>',
        "<p>Farmers fear the drought will ruin the harvest this year.</p><p>#news</p>",
    ]
    status, body, headers = post_json(
        server.url + "/translate",
        {"q": posts, "source": "auto", "target": "fr", "format": "html", "api_key": None},
    )
    assert status == 200, body
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert isinstance(body["translatedText"], list) and len(body["translatedText"]) == 2
    assert body["translatedText"][0].startswith("<p>")
    assert '<a href="https://example.org/x" rel="nofollow">' in body["translatedText"][0]
    assert body["translatedText"][1].count("<p>") == 2
    assert [d["language"] for d in body["detectedLanguage"]] == ["en", "en"]
    assert all(0 < d["confidence"] <= 100 for d in body["detectedLanguage"])
    assert "alternatives" not in body


def test_mastodon_short_english_posts_are_each_translated(server: Server) -> None:
    """Two-word posts once read as Latin (a 400 for the whole list): detection is among the
    languages served now, and each post keeps its markup and gets its own detectedLanguage."""
    posts = ["<p>Civilians fled.</p>", "<p>Talks <b>resume</b> today</p>"]
    status, body, _ = post_json(
        server.url + "/translate",
        {"q": posts, "source": "auto", "target": "fr", "format": "html", "api_key": None},
    )
    assert status == 200, body
    assert all(text.startswith("<p>") for text in body["translatedText"])
    assert "<b>" in body["translatedText"][1]
    assert [d["language"] for d in body["detectedLanguage"]] == ["en", "en"]


def test_a_post_already_in_the_target_comes_back_as_it_is(server: Server) -> None:
    posts = ["<p>Good morning.</p>", f"<p>{FRENCH}</p>"]
    status, body, _ = post_json(
        server.url + "/translate", {"q": posts, "source": "auto", "target": "fr", "format": "html"}
    )
    assert status == 200, body
    assert body["translatedText"][1] == posts[1]
    assert [d["language"] for d in body["detectedLanguage"]] == ["en", "fr"]


def test_a_post_no_model_translates_fails_the_list_as_libretranslate_does(server: Server) -> None:
    """LibreTranslate answers one translatedText list or a 400: it has no per-item error."""
    posts = ["<p>Good morning.</p>", "<p>اعتقلت الشرطة رجلين بعد السرقة.</p>"]
    status, body, _ = post_json(
        server.url + "/translate", {"q": posts, "source": "auto", "target": "fr", "format": "html"}
    )
    assert status == 400 and "'ar'" in body["error"]


def test_weblate_json_list_with_empty_key(server: Server) -> None:
    status, body, _ = post_json(
        server.url + "/translate",
        {"q": ["Save changes", "Delete this item?"], "source": "en", "target": "ar", "api_key": ""},
    )
    assert status == 200, body
    assert list(body) == ["translatedText"] and len(body["translatedText"]) == 2


def test_weblate_settings_check_into_german_is_a_clear_400(server: Server) -> None:
    status, body, _ = post_json(
        server.url + "/translate",
        {"q": "Hello, world!", "source": "en", "target": "de", "api_key": ""},
    )
    assert status == 400 and "'de'" in body["error"] and "en-fr" in body["error"]


def test_discourse_form_detect_then_html_translate(server: Server) -> None:
    codes = {
        language["code"]
        for language in json.loads(
            urllib.request.urlopen(server.url + "/languages", timeout=30).read()
        )
    }
    status, found = post_form(server.url + "/detect", {"q": ENGLISH, "api_key": "k"})
    assert status == 200 and found[0]["language"] == "en"
    assert {found[0]["language"], "ar"} <= codes
    status, body = post_form(
        server.url + "/translate",
        {
            "q": "<p>Topic <strong>closed</strong> by moderators.</p>",
            "source": found[0]["language"],
            "target": "ar",
            "format": "html",
            "api_key": "k",
        },
    )
    assert status == 200, body
    assert body["translatedText"].startswith("<p>") and "<strong>" in body["translatedText"]


# ----- errors, forms, CORS through the test client ----------------------------------------------


def assert_lt_error(response, status: int = 400) -> str:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert list(body) == ["error"] and isinstance(body["error"], str) and body["error"]
    return body["error"]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"q": "Hi there.", "source": "en", "target": "fr", "format": "pdf"}, "pdf format"),
        ({"source": "en", "target": "fr"}, "missing q"),
        ({"q": "", "source": "en", "target": "fr"}, "missing q"),
        ({"q": "Hi there.", "target": "fr"}, "missing source"),
        ({"q": "Hi there.", "source": "en"}, "missing target"),
        ({"q": "Hi there.", "source": "en", "target": "xx"}, "'xx'"),
        ({"q": "Hi there.", "source": "zz", "target": "fr"}, "'zz'"),
        ({"q": 5, "source": "en", "target": "fr"}, "q must be"),
        ({"q": ["a", 3], "source": "en", "target": "fr"}, "q must be"),
        ({"q": ["ok", " "], "source": "en", "target": "fr"}, "empty"),
        ({"q": "Hi there.", "source": "en", "target": "fr", "alternatives": "two"}, "number"),
        ({"q": "Hi there.", "source": "en", "target": "fr", "alternatives": -1}, ">= 0"),
        ({"q": "Hi there.", "source": "en", "target": "fr", "api_key": 7}, "api_key"),
        ({"q": FRENCH, "source": "auto", "target": "ar"}, "looks like 'fr'"),
        (
            {"q": "<b>" * 10_000 + "x", "source": "en", "target": "fr", "format": "html"},
            "deeper than",
        ),
    ],
)
def test_client_errors_are_400_with_a_message(client, body: dict, says: str) -> None:
    assert says in assert_lt_error(client.post("/translate", json=body))


def test_malformed_json_and_non_object_bodies_are_400(client) -> None:
    for data in (b"{", b"[1, 2]", b'"text"'):
        response = client.post("/translate", data=data, content_type="application/json")
        assert_lt_error(response)


def test_detect_needs_q_as_a_string(client) -> None:
    assert "missing q" in assert_lt_error(client.post("/detect", data={}))
    assert "string" in assert_lt_error(client.post("/detect", json={"q": ["a", "b"]}))


def test_form_and_query_string_values_and_alternatives(client) -> None:
    response = client.post(
        "/translate?target=fr",
        data={"q": "Good morning.", "source": "en", "alternatives": "2"},
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert isinstance(body["translatedText"], str) and body["alternatives"] == []
    response = client.post(
        "/translate", json={"q": ["a b", "c d"], "source": "en", "target": "fr", "alternatives": 1}
    )
    assert response.get_json()["alternatives"] == [[], []]


def test_hostile_html_is_answered(client) -> None:
    for html in ("<p>Unclosed <b>bold <i>x", "<!-- c --><![CDATA[x]]>&amp; &bogus; <p>Hi</p>"):
        response = client.post(
            "/translate", json={"q": html, "source": "en", "target": "fr", "format": "html"}
        )
        assert response.status_code == 200, response.get_json()


def test_timeouts_are_500_never_429_or_503(make_engine) -> None:
    client = create_app(engine=make_engine(item_timeout_s=0.001, max_wait_ms=50)).test_client()
    response = client.post("/translate", json={"q": ENGLISH, "source": "en", "target": "fr"})
    assert "request id" in assert_lt_error(response, 500)


def test_a_timeout_is_500_with_retry_after_so_weblate_keeps_the_backend(engine) -> None:
    """LibreTranslate's clients know 400, 403, 429 and 500: a timeout (504 on /v1) is 500 here,
    with the Retry-After that tells it from a failure."""
    from service.http.app import create_app

    hurried = engine.settings.replace(item_timeout_s=1e-9)
    client = create_app(hurried, engine=engine).test_client()
    response = client.post("/translate", json={"q": "Heavy rain.", "source": "en", "target": "fr"})
    assert response.status_code == 500
    assert response.headers["Retry-After"] == str(hurried.retry_after_s)
    assert "did not finish in time" in response.get_json()["error"]
    v1 = client.post("/v1/translate", json={"text": "Heavy rain.", "target": "fr"})
    assert v1.status_code == 504 and "Retry-After" not in v1.headers


def test_overload_and_size_limits_map_to_libretranslate_statuses() -> None:
    from service.core.errors import ModelUnavailable, Overloaded, PayloadTooLarge, Unauthorized
    from service.http.compat.libretranslate import STYLE

    assert STYLE.status_of(Overloaded("full")) == STYLE.status_of(ModelUnavailable("x")) == 500
    assert STYLE.retry(Overloaded("full")) and STYLE.retry(ModelUnavailable("loading"))
    assert STYLE.status_of(PayloadTooLarge("big")) == 400
    assert STYLE.status_of(Unauthorized("no key")) == 403


def test_v1_keeps_its_own_error_shape(client) -> None:
    response = client.post("/v1/translate", json={"text": "Hi.", "target": "de"})
    assert response.status_code == 400 and set(response.get_json()["error"]) == {
        "code",
        "message",
        "field",
    }


def test_cors_preflight_and_headers(client) -> None:
    response = client.options(
        "/translate",
        headers={"Origin": "https://social.example", "Access-Control-Request-Method": "POST"},
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "Content-Type" in response.headers["Access-Control-Allow-Headers"]
    assert "Access-Control-Allow-Origin" not in client.get("/v1/languages").headers


def test_cors_origins_setting_allows_only_the_listed_pages(make_engine) -> None:
    engine = make_engine(cors_origins=("https://social.example",))
    client = create_app(engine=engine).test_client()
    allowed = client.get("/languages", headers={"Origin": "https://social.example"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://social.example"
    assert "Origin" in allowed.headers["Vary"]
    other = client.get("/languages", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
