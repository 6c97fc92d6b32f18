"""The DeepL-compatible routes: the official `deepl` client (`server_url`) against real gunicorn
with keys and limits on, and the parameter and error cases through Flask's test client. The
tiny models' translations are meaningless; shapes, codes and statuses are not."""

import io
import tempfile
from pathlib import Path

import deepl
import pytest

from harness.server import Server
from service.core.config import Settings
from service.http.app import create_app
from service.jobs.store import ItemError, Outcome

KEY = "deepl-main-key-0001"
BURST_KEY = "deepl-burst-key-0002"
QUOTA_KEY = "deepl-quota-key-0003"
_KEYS = Path(tempfile.mkdtemp(prefix="deepl-keys-")) / "keys"
_KEYS.write_text(f"{KEY} main 1000/minute\n{BURST_KEY} burst 2/minute\n{QUOTA_KEY} quota\n")
CHARACTER_LIMIT = 6000
SERVER_ENV = {"API_KEYS_FILE": str(_KEYS), "RATE_LIMIT_CHARS": f"{CHARACTER_LIMIT}/hour"}


@pytest.fixture
def translator(server: Server) -> deepl.Translator:
    return deepl.Translator(KEY, server_url=server.url)


@pytest.fixture
def no_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The client retries 429 and 5xx with backoff by itself: see the status at once."""
    monkeypatch.setattr(deepl.http_client, "max_network_retries", 0)


# ----- the official client, against gunicorn ----------------------------------------------------


def test_translate_a_string_with_a_detected_source(translator: deepl.Translator) -> None:
    result = translator.translate_text("The council approved the new bridge.", target_lang="FR")
    assert isinstance(result, deepl.TextResult) and result.text
    assert result.detected_source_lang == "EN"
    assert result.billed_characters == len("The council approved the new bridge.")


def test_translate_a_list_with_a_named_source(translator: deepl.Translator) -> None:
    texts = ["Good morning.", "The vote is on Sunday."]
    results = translator.translate_text(texts, source_lang="EN", target_lang="AR")
    assert [r.detected_source_lang for r in results] == ["EN", "EN"]
    assert all(r.text for r in results) and len(results) == 2


def test_translate_html_keeps_tags(translator: deepl.Translator) -> None:
    html = '<p>The talks <b>resumed</b> on Monday. <a href="https://example.org/x">More</a></p>'
    result = translator.translate_text(html, target_lang="FR", tag_handling="html")
    assert result.text.startswith("<p>") and result.text.endswith("</p>")
    assert "<b>" in result.text and '<a href="https://example.org/x">' in result.text


def test_parameters_the_models_cannot_use_are_accepted(translator: deepl.Translator) -> None:
    result = translator.translate_text(
        "Good morning.",
        target_lang="FR",
        formality="prefer_less",
        context="A greeting at the start of a broadcast.",
        split_sentences="nonewlines",
        preserve_formatting=True,
        model_type="quality_optimized",
        non_splitting_tags=["b"],
    )
    assert result.text


def test_languages_in_deepl_codes(translator: deepl.Translator) -> None:
    sources = translator.get_source_languages()
    assert [(s.code, s.name) for s in sources] == [("EN", "English")]
    targets = translator.get_target_languages()
    assert [(t.code, t.name, t.supports_formality) for t in targets] == [
        ("FR", "French", False),
        ("AR", "Arabic", False),
    ]


def test_usage_counts_characters_against_the_limit(translator: deepl.Translator) -> None:
    translator.translate_text("Counted.", target_lang="FR")
    usage = translator.get_usage()
    assert usage.character.valid and usage.character.limit == CHARACTER_LIMIT
    assert 0 < usage.character.count < CHARACTER_LIMIT


def test_a_bad_key_is_an_authorization_error(server: Server) -> None:
    with pytest.raises(deepl.AuthorizationException):
        deepl.Translator("not-a-key-of-this-server", server_url=server.url).get_usage()


def test_too_many_requests(server: Server, no_retries: None) -> None:
    burst = deepl.Translator(BURST_KEY, server_url=server.url)
    burst.get_source_languages()
    burst.get_source_languages()
    with pytest.raises(deepl.TooManyRequestsException):
        burst.get_source_languages()


def test_a_spent_character_limit_is_quota_exceeded(server: Server) -> None:
    quota = deepl.Translator(QUOTA_KEY, server_url=server.url)
    text = "Counted. " * (CHARACTER_LIMIT // 9 // 2 + 10)  # each body is over half the limit
    quota.translate_text(text, source_lang="EN", target_lang="FR")
    with pytest.raises(deepl.QuotaExceededException):
        quota.translate_text(text, source_lang="EN", target_lang="FR")


def test_bad_requests_are_deepl_exceptions(translator: deepl.Translator) -> None:
    with pytest.raises(deepl.DeepLException, match="formality"):
        translator.translate_text("Good morning.", target_lang="FR", formality="more")
    with pytest.raises(deepl.DeepLException, match="glossary_id"):
        translator.translate_text(
            "Good morning.", source_lang="EN", target_lang="FR", glossary="some-glossary"
        )


# ----- request forms and errors, through Flask's test client ------------------------------------


@pytest.fixture
def app_client(engine):
    return create_app(engine=engine).test_client()


def test_form_body_with_repeated_text_and_the_legacy_auth_key(engine) -> None:
    keys = Settings.from_env({"API_KEYS": KEY}).api_keys
    client = create_app(engine.settings.replace(api_keys=keys), engine=engine).test_client()
    form = {"text": ["Good morning.", "Good night."], "target_lang": "fr", "source_lang": "en"}
    assert client.post("/v2/translate", data=form).status_code == 403
    response = client.post("/v2/translate", data=form | {"auth_key": KEY})
    assert response.status_code == 200, response.get_json()
    translations = response.get_json()["translations"]
    assert len(translations) == 2
    assert all(
        set(t) == {"detected_source_language", "text", "billed_characters"} for t in translations
    )


def test_english_variants_name_the_language(app_client) -> None:
    body = {"text": ["Bonjour."], "target_lang": "EN-GB", "source_lang": "FR"}
    response = app_client.post("/v2/translate", json=body)
    assert response.status_code == 400
    assert "'fr'" in response.get_json()["message"]  # read as fr -> en, which is not served


@pytest.mark.parametrize(
    ("body", "word"),
    [
        ({"target_lang": "FR"}, "text"),
        ({"text": ["Hi."]}, "target_lang"),
        ({"text": [1], "target_lang": "FR"}, "text"),
        ({"text": ["Hi."], "target_lang": "DE"}, "de"),
        ({"text": ["<a>Hi.</a>"], "target_lang": "FR", "tag_handling": "xml"}, "tag_handling"),
        ({"text": ["<p>Hi.</p>"], "target_lang": "FR", "ignore_tags": ["p"]}, "ignore_tags"),
    ],
)
def test_client_errors_are_400_with_a_message(app_client, body: dict, word: str) -> None:
    response = app_client.post("/v2/translate", json=body)
    assert response.status_code == 400
    assert list(response.get_json()) == ["message"] and word in response.get_json()["message"]


def test_a_text_over_the_limit_is_413(engine) -> None:
    client = create_app(engine.settings.replace(max_text_chars=10), engine=engine).test_client()
    response = client.post("/v2/translate", json={"text": ["x" * 11], "target_lang": "FR"})
    assert response.status_code == 413 and "message" in response.get_json()


def test_deeplx_body_at_its_own_path(app_client) -> None:
    response = app_client.post(
        "/deeplx/translate",
        json={"text": "Good morning.", "source_lang": "EN", "target_lang": "FR"},
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["code"] == 200 and body["data"] and body["target_lang"] == "FR"
    assert body["source_lang"] == "EN" and body["alternatives"] == []


# ----- documents, through the app (the official client's flow is in
# tests/system/test_documents_async.py, against gunicorn) ----------------------------------------


@pytest.fixture
def idle_app(engine, tmp_path: Path):
    """An app whose jobs' worker does not run: the tests play it through its store."""
    settings = engine.settings.replace(
        jobs_store=f"sqlite:///{tmp_path / 'jobs.db'}", data_dir=str(tmp_path / "data")
    )
    app = create_app(settings, engine=engine)
    yield app
    app.extensions["jobs"].store.close()


def _upload(client, data: bytes = b"The museum reopened.", **fields: str):
    form = {"file": (io.BytesIO(data), "a.txt"), "target_lang": "FR", **fields}
    return client.post("/v2/document", data=form, content_type="multipart/form-data")


def test_a_document_upload_answers_its_handle_and_refuses_what_deepl_refuses(idle_app) -> None:
    client = idle_app.test_client()
    handle = _upload(client).get_json()
    assert set(handle) == {"document_id", "document_key"} and len(handle["document_key"]) == 64
    status = client.post(f"/v2/document/{handle['document_id']}", json=handle)
    assert status.get_json() == {"document_id": handle["document_id"], "status": "queued"}
    no_target = client.post("/v2/document", data={"file": (io.BytesIO(b"Hello."), "a.txt")})
    assert no_target.get_json() == {"message": "Parameter 'target_lang' not specified."}
    assert _upload(client, target_lang="DE").status_code == 400
    assert _upload(client, output_format="pdf").status_code == 400
    assert _upload(client, glossary_id="g1").status_code == 400
    png = _upload(client, b"\x89PNG\r\n\x1a\n" + bytes(256))
    assert png.status_code == 400 and "supported formats" in png.get_json()["message"]
    no_key = client.post(f"/v2/document/{handle['document_id']}", json={})
    assert no_key.status_code == 400 and "document_key" in no_key.get_json()["message"]


def test_a_failed_document_is_an_error_status_and_has_no_result(idle_app) -> None:
    client = idle_app.test_client()
    handle = _upload(client).get_json()
    path = f"/v2/document/{handle['document_id']}"
    early = client.post(f"{path}/result", json={"document_key": handle["document_key"]})
    assert early.status_code == 503 and early.get_json() == {"message": "Document not ready."}
    store = idle_app.extensions["jobs"].store
    (claim,) = store.claim("test-worker", 1, 60)
    running = client.post(path, json={"document_key": handle["document_key"]}).get_json()
    assert running["status"] == "translating" and "seconds_remaining" not in running
    store.finish(claim, Outcome(claim.item_id, error=ItemError("timeout", "too slow")))
    failed = client.post(path, json={"document_key": handle["document_key"]}).get_json()
    assert failed == {
        "document_id": handle["document_id"],
        "status": "error",
        "error_message": "too slow",
    }
    result = client.post(f"{path}/result", json={"document_key": handle["document_key"]})
    assert result.status_code == 400 and result.get_json() == {
        "message": "Document translation failed."
    }
