"""The Google Cloud Translation v2 routes: Google's own `translate_v2.Client` (anonymous
credentials, `api_endpoint` set to the server) against real gunicorn with keys on, and the
request forms and errors through Flask's test client. The tiny models' translations are
meaningless; shapes, codes and statuses are not."""

import google.api_core.exceptions
import pytest
from google.auth.credentials import AnonymousCredentials, Credentials
from google.cloud import translate_v2
from google.oauth2.credentials import Credentials as OAuthCredentials

from harness.server import Server
from service.core.config import Settings
from service.http.app import create_app

KEY = "google-test-key-0001"
SERVER_ENV = {"API_KEYS": KEY}


def _client(server: Server, credentials: Credentials) -> translate_v2.Client:
    return translate_v2.Client(credentials=credentials, client_options={"api_endpoint": server.url})


@pytest.fixture
def client(server: Server) -> translate_v2.Client:
    """The key as an OAuth access token (`Authorization: Bearer`), as the client sends one."""
    return _client(server, OAuthCredentials(token=KEY))


# ----- Google's client, against gunicorn ---------------------------------------------------------


def test_translate_one_text_detecting_its_language(client: translate_v2.Client) -> None:
    result = client.translate("The council approved the new bridge.", target_language="fr")
    assert result["translatedText"] and result["detectedSourceLanguage"] == "en"
    assert result["input"] == "The council approved the new bridge."


def test_translate_a_list_of_html_with_a_named_source(client: translate_v2.Client) -> None:
    posts = ["<p>Good <b>morning</b>.</p>", "<p>The vote is on Sunday.</p>"]
    results = client.translate(posts, target_language="ar", source_language="en", format_="html")
    assert len(results) == 2 and all(r["translatedText"].startswith("<p>") for r in results)
    assert "<b>" in results[0]["translatedText"]
    assert all("detectedSourceLanguage" not in r for r in results)


def test_detect_language(client: translate_v2.Client) -> None:
    found = client.detect_language("Le conseil a approuvé le nouveau pont mardi.")
    assert found["language"] == "fr" and 0.5 < found["confidence"] <= 1
    both = client.detect_language(["Civilians fled.", "اعتقلت الشرطة رجلين."])
    assert [d["language"] for d in both] == ["en", "ar"]


def test_languages(client: translate_v2.Client) -> None:
    assert client.get_languages() == [
        {"language": "en", "name": "English"},
        {"language": "fr", "name": "French"},
        {"language": "ar", "name": "Arabic"},
    ]


def test_no_key_is_forbidden(server: Server) -> None:
    with pytest.raises(google.api_core.exceptions.Forbidden):
        _client(server, AnonymousCredentials()).get_languages()


def test_an_unsupported_target_is_bad_request(client: translate_v2.Client) -> None:
    with pytest.raises(google.api_core.exceptions.BadRequest, match="'de'"):
        client.translate("Good morning.", target_language="de")


# ----- request forms and errors, through Flask's test client ------------------------------------


@pytest.fixture
def app_client(engine):
    return create_app(engine=engine).test_client()


def test_get_with_repeated_q_and_text_format(app_client) -> None:
    response = app_client.get(
        "/language/translate/v2?q=Good+morning.&q=a+%3C+b&target=fr&source=en&format=text"
    )
    assert response.status_code == 200, response.get_json()
    translations = response.get_json()["data"]["translations"]
    assert len(translations) == 2 and all(set(t) == {"translatedText"} for t in translations)


def test_form_post_and_the_key_parameter(engine) -> None:
    keys = Settings.from_env({"API_KEYS": KEY}).api_keys
    client = create_app(engine.settings.replace(api_keys=keys), engine=engine).test_client()
    form = {"q": "Good morning.", "target": "fr"}
    assert client.post("/language/translate/v2", data=form).status_code == 403
    response = client.post(f"/language/translate/v2?key={KEY}", data=form)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["data"]["translations"][0]["detectedSourceLanguage"] == "en"


@pytest.mark.parametrize(
    ("body", "word"),
    [
        ({"target": "fr"}, "Text"),
        ({"q": "Hi."}, "Target"),
        ({"q": [1], "target": "fr"}, "q"),
        ({"q": "Hi.", "target": "fr", "format": "xml"}, "format"),
    ],
)
def test_errors_in_google_shape(app_client, body: dict, word: str) -> None:
    response = app_client.post("/language/translate/v2", json=body)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert (
        error["code"] == 400 and error["status"] == "INVALID_ARGUMENT" and word in error["message"]
    )
    assert error["errors"] == [
        {"message": error["message"], "domain": "global", "reason": "invalid"}
    ]
