"""The HTTP API on the tiny models, through Flask's test client: answers, options, and every error.

Most tests use the shared engine (`client`). Tests of limits, overload and timeouts build an app
with their own settings (and so their own engine), closed after the test.
"""

import json
import re
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from prometheus_client.parser import text_string_to_metric_families

from service.core.config import Settings
from service.http.app import create_app
from service.inference.seq2seq import GenerationParams

SENTENCES = [
    "The council approved the new bridge on Tuesday.",
    "Farmers fear the drought will ruin the harvest.",
    "The museum reopened after a long renovation.",
    "Talks on the ceasefire resumed in Geneva.",
]
# Summaries capped at 16 tokens keep the tests fast (the tiny model otherwise writes 56 or more).
QUICK = {"max_length": 16}
ONLY_SUMMARIZER = {"TRANSLATE_MODELS": "", "TRANSLATE_PREFIXES": ""}


def assert_error(response, status: int, code: str | None = None, field: object = ...) -> dict:
    """The one error shape: {"error": {"code", "message", "field"}}, as JSON, with a request id."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    assert response.headers.get("X-Request-ID")
    body = response.get_json()
    assert list(body) == ["error"]
    error = body["error"]
    assert set(error) == {"code", "message", "field"}
    assert isinstance(error["code"], str) and re.fullmatch(r"[a-z_]+", error["code"])
    assert isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code
    if field is not ...:
        assert error["field"] == field
    return error


def post_raw(client: FlaskClient, path: str, data: bytes, content_type="application/json"):
    return client.post(path, data=data, content_type=content_type)


@pytest.fixture
def make_app(demo_env: dict[str, str]) -> Iterator[Callable[..., Flask]]:
    """Factory: an app with its own engine on the tiny models and the given env overrides."""
    apps: list[Flask] = []

    def make(**overrides: str) -> Flask:
        app = create_app(Settings.from_env({**demo_env, **overrides}))
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions["engine"].close(timeout=30)


@pytest.fixture(scope="module")
def limited(demo_env: dict[str, str]) -> Iterator[FlaskClient]:
    """A client of an app with small limits: 200 characters, 3 items, 2000 bytes."""
    env = {
        **demo_env,
        "MAX_TEXT_CHARS": "200",
        "MAX_ITEMS": "3",
        "MAX_BODY_BYTES": "2000",
    }
    app = create_app(Settings.from_env(env))
    yield app.test_client()
    app.extensions["engine"].close(timeout=30)


# ----- answers ---------------------------------------------------------------------------------


def test_summarize_one_text(client: FlaskClient) -> None:
    response = client.post("/v1/summarize", json={"text": SENTENCES[0], **QUICK})
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"summary", "model", "chunks", "reading_minutes"}
    assert isinstance(body["summary"], str) and body["summary"].strip()
    assert body["chunks"] == [1]
    assert body["model"] == "summarize"  # the directory's name, not its path


def test_summarize_list_answers_in_order_as_each_alone(client: FlaskClient) -> None:
    alone = [
        client.post("/v1/summarize", json={"text": text, **QUICK}).get_json()["summary"]
        for text in SENTENCES
    ]
    assert len(set(alone)) == len(alone), "the tiny model should tell these inputs apart"
    texts = SENTENCES[::-1] + SENTENCES[:1]
    response = client.post("/v1/summarize", json={"texts": texts, **QUICK})
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"summaries", "model", "chunks", "reading_minutes"}
    by_text = dict(zip(SENTENCES, alone, strict=True))
    assert body["summaries"] == [by_text[text] for text in texts]
    assert body["chunks"] == [1] * len(texts)


def test_long_article_is_summarised_in_chunks(client: FlaskClient, engine) -> None:
    article = " ".join(f"{s} Witnesses counted {i} convoys." for i, s in enumerate(SENTENCES * 40))
    assert engine.model("summarize").count_tokens([article])[0] > 1024
    response = client.post("/v1/summarize", json={"text": article, **QUICK})
    assert response.status_code == 200
    body = response.get_json()
    assert body["chunks"][0] > 1
    assert body["summary"].strip()


@pytest.mark.parametrize("target", ["ar", "fr"])
def test_translate_one_text(client: FlaskClient, target: str) -> None:
    response = client.post("/v1/translate", json={"text": SENTENCES[1], "target": target})
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"translation", "source", "target", "model"}
    assert (body["source"], body["target"]) == ("en", target)
    assert body["model"] == f"en-{target}"  # the directory's name, not its path
    assert body["translation"].strip()


def test_translate_list_in_order_as_each_alone(client: FlaskClient) -> None:
    alone = {
        text: client.post("/v1/translate", json={"text": text, "target": "fr"}).get_json()[
            "translation"
        ]
        for text in SENTENCES
    }
    texts = [SENTENCES[2], SENTENCES[0], SENTENCES[3], SENTENCES[1]]
    response = client.post("/v1/translate", json={"texts": texts, "target": "fr", "source": "en"})
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"translations", "source", "target", "model"}
    assert body["translations"] == [alone[text] for text in texts]


def test_translate_keeps_paragraph_breaks(client: FlaskClient) -> None:
    paragraphs = [SENTENCES[0], SENTENCES[1] + " " + SENTENCES[2], SENTENCES[3]]
    separators = ["\n\n", "\n\n\n"]
    text = paragraphs[0] + separators[0] + paragraphs[1] + separators[1] + paragraphs[2]
    response = client.post("/v1/translate", json={"text": text, "target": "ar"})
    assert response.status_code == 200
    translation = response.get_json()["translation"]
    assert re.findall(r"\s*\n\s*", translation) == separators
    pieces = re.split(r"\s*\n\s*", translation)
    assert len(pieces) == 3 and all(piece.strip() for piece in pieces)
    # Each paragraph is translated as it would be alone (sentence by sentence).
    first = client.post("/v1/translate", json={"text": paragraphs[0], "target": "ar"})
    assert pieces[0] == first.get_json()["translation"]


def test_arabic_is_sent_as_utf8_not_escapes(client: FlaskClient) -> None:
    response = client.post("/v1/translate", json={"text": SENTENCES[2], "target": "ar"})
    assert response.status_code == 200
    raw = response.get_data()
    translation = json.loads(raw)["translation"]
    arabic = [ch for ch in translation if "\u0600" <= ch <= "\u06ff"]
    assert arabic, f"the tiny en-ar model should emit Arabic letters here: {translation!r}"
    assert arabic[0].encode("utf-8") in raw
    assert not re.search(rb"\\u0[6-7][0-9a-fA-F]{2}", raw)
    assert response.headers["Content-Type"] == "application/json"


def test_article_summary_and_translations_match_the_single_endpoints(client: FlaskClient) -> None:
    text = " ".join(SENTENCES)
    response = client.post(
        "/v1/articles", json={"text": text, "translate_to": ["ar", "fr"], **QUICK}
    )
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"summary", "translations", "models", "chunks", "reading_minutes"}
    assert set(body["translations"]) == {"ar", "fr"}
    assert set(body["models"]) == {"summarize", "ar", "fr"}
    assert body["chunks"] == 1
    summary = client.post("/v1/summarize", json={"text": text, **QUICK}).get_json()["summary"]
    assert body["summary"] == summary
    for target in ("ar", "fr"):
        alone = client.post("/v1/translate", json={"text": summary, "target": target})
        assert body["translations"][target] == alone.get_json()["translation"]


def test_article_without_targets_only_summarises(client: FlaskClient) -> None:
    response = client.post("/v1/articles", json={"text": SENTENCES[0], **QUICK})
    assert response.status_code == 200
    body = response.get_json()
    assert body["translations"] == {}
    assert list(body["models"]) == ["summarize"]


# ----- generation options ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"length": "short"}, GenerationParams(min_length=20, max_length=60)),
        ({"length": "medium"}, GenerationParams(min_length=56, max_length=142)),
        ({"length": "long"}, GenerationParams(min_length=100, max_length=300)),
        ({"length": "short", "max_length": 30}, GenerationParams(min_length=20, max_length=30)),
        (
            {"min_length": 3, "max_length": 12, "num_beams": 2},
            GenerationParams(num_beams=2, min_length=3, max_length=12),
        ),
        # Without min_length, the model's own minimum (56) must not exceed the asked maximum.
        ({"max_length": 10}, GenerationParams(min_length=10, max_length=10)),
    ],
)
def test_summary_options_reach_the_model(
    client: FlaskClient, engine, monkeypatch: pytest.MonkeyPatch, options, expected
) -> None:
    seen: list[GenerationParams] = []
    submit = engine.submit

    def spy(key: str, ids: list[int], params: GenerationParams, **kwargs):
        seen.append(params)
        return submit(key, ids, params, **kwargs)

    monkeypatch.setattr(engine, "submit", spy)
    response = client.post("/v1/summarize", json={"text": SENTENCES[0], **options})
    assert response.status_code == 200, response.get_json()
    assert seen == [expected]


def test_max_length_bounds_the_summary(client: FlaskClient, engine) -> None:
    model = engine.model("summarize")
    lengths = {}
    for max_length in (6, 40):
        body = {"text": SENTENCES[3], "max_length": max_length, "num_beams": 1}
        summary = client.post("/v1/summarize", json=body).get_json()["summary"]
        lengths[max_length] = model.count_tokens([summary])[0]
    assert lengths[6] < lengths[40]


def test_translate_num_beams_reaches_the_model(
    client: FlaskClient, engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[GenerationParams] = []
    submit = engine.submit
    monkeypatch.setattr(
        engine,
        "submit",
        lambda key, ids, params, **kw: seen.append(params) or submit(key, ids, params, **kw),
    )
    body = {"text": SENTENCES[0], "target": "fr", "num_beams": 1}
    assert client.post("/v1/translate", json=body).status_code == 200
    assert seen == [GenerationParams(num_beams=1)]


# ----- read-only endpoints ---------------------------------------------------------------------


def test_languages_lists_the_configured_pairs(client: FlaskClient, demo_models) -> None:
    response = client.get("/v1/languages")
    assert response.status_code == 200
    assert response.get_json() == {
        "pairs": [
            {"source": "en", "target": "fr", "model": demo_models["en-fr"].name},
            {"source": "en", "target": "ar", "model": demo_models["en-ar"].name},
        ]
    }


def test_no_answer_names_where_the_models_are_kept(client: FlaskClient, demo_models) -> None:
    folder = str(demo_models["en-fr"].parent)
    answers = [
        client.post("/v1/translate", json={"text": SENTENCES[1], "target": "fr"}),
        client.post("/v1/summarize", json={"text": SENTENCES[0], **QUICK}),
        client.post("/v1/articles", json={"text": SENTENCES[0], "translate_to": ["ar"], **QUICK}),
        client.get("/v1/models"),
        client.get("/v1/languages"),
    ]
    for response in answers:
        assert response.status_code == 200
        assert folder not in response.get_data(as_text=True)


def test_an_unknown_field_with_a_huge_name_is_answered_briefly(client: FlaskClient) -> None:
    body = b'{"text": "Hi.", "target": "fr", "' + b"y" * 2_000_000 + b'": 1}'
    response = client.post("/v1/translate", data=body, content_type="application/json")
    assert response.status_code == 400
    assert len(response.get_data()) < 1000
    assert response.get_json()["error"]["field"] == "y" * 64 + "\u2026"


def test_models_describe_task_source_device_dtype_and_batching(
    client: FlaskClient, demo_models, demo_settings: Settings
) -> None:
    response = client.get("/v1/models")
    assert response.status_code == 200
    models = {m["key"]: m for m in response.get_json()["models"]}
    assert set(models) == {"summarize", "en-fr", "en-ar"}
    for key, model in models.items():
        assert model["task"] == ("summarize" if key == "summarize" else "translate")
        assert model["source"] == demo_models[key].name
        assert model["device"] == "cpu"
        assert model["dtype"] == "float32"
        assert model["state"] == "ready"
        batching = model["batching"]
        assert batching["max_batch_size"] == demo_settings.max_batch_size
        assert batching["max_batch_tokens"] == demo_settings.max_batch_tokens
        assert batching["max_wait_ms"] == demo_settings.max_wait_ms
        assert batching["max_queue"] == demo_settings.max_queue
        assert isinstance(batching["queue_depth"], int)
    assert models["en-ar"]["prefix"] == ">>ara<<"
    assert models["en-fr"]["target_lang"] == "fr"


def test_health_and_readiness(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json() == {"status": "alive"}
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {
        "status": "ready",
        "models": {"summarize": "ready", "en-fr": "ready", "en-ar": "ready"},
    }


def _samples(text: str) -> dict[str, list]:
    found: dict[str, list] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append(sample)
    return found


def _value(samples: dict[str, list], name: str, **labels: str) -> float:
    return sum(
        s.value
        for s in samples.get(name, [])
        if all(s.labels.get(k) == v for k, v in labels.items())
    )


def test_metrics_count_requests_batches_items_and_tokens(client: FlaskClient) -> None:
    before = _samples(client.get("/metrics").get_data(as_text=True))
    client.post("/v1/summarize", json={"texts": SENTENCES[:2], **QUICK})
    client.post("/v1/translate", json={"text": SENTENCES[0], "target": "ar"})
    client.post("/v1/translate", json={"text": " ", "target": "ar"})
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    # Prometheus' exposition type, with one charset (not `charset=utf-8` twice).
    assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    after = _samples(response.get_data(as_text=True))

    def grew(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    requests = "service_requests_total"
    assert grew(requests, endpoint="/v1/summarize", method="POST", status="200") == 1
    assert grew(requests, endpoint="/v1/translate", method="POST", status="200") == 1
    assert grew(requests, endpoint="/v1/translate", method="POST", status="400") == 1
    assert grew("service_request_seconds_count", endpoint="/v1/translate") == 2
    assert {"le", "endpoint"} <= set(after["service_request_seconds_bucket"][0].labels)
    assert grew("service_items_total", model="summarize", outcome="ok") == 2
    assert grew("service_items_total", model="en-ar", outcome="ok") == 1
    assert grew("service_batch_size_sum", model="summarize") == 2
    assert grew("service_batch_size_count", model="summarize") >= 1
    assert "le" in after["service_batch_size_bucket"][0].labels
    assert grew("service_generated_tokens_total", model="en-ar") > 0
    depths = {s.labels["model"]: s.value for s in after["service_queue_depth"]}
    assert depths == {"summarize": 0, "en-fr": 0, "en-ar": 0}


# ----- request ids -----------------------------------------------------------------------------


def test_request_id_is_echoed_or_generated(client: FlaskClient) -> None:
    for sent in ("client-42.a:b", "Root=1-5f84c7a1-0b5c3a1f;Parent=53995c3f", "dGVzdA+/=="):
        assert (
            client.get("/healthz", headers={"X-Request-ID": sent}).headers["X-Request-ID"] == sent
        )
    generated = {client.get("/healthz").headers["X-Request-ID"] for _ in range(2)}
    assert len(generated) == 2 and all(re.fullmatch(r"[0-9a-f]{32}", i) for i in generated)
    # A header that could forge log lines is replaced, not echoed.
    unsafe = client.get("/healthz", headers={"X-Request-ID": "a b\tc<script>"})
    assert re.fullmatch(r"[0-9a-f]{32}", unsafe.headers["X-Request-ID"])


def test_errors_carry_the_request_id_too(client: FlaskClient) -> None:
    response = client.post("/v1/summarize", json={}, headers={"X-Request-ID": "err-1"})
    assert response.status_code == 400
    assert response.headers["X-Request-ID"] == "err-1"
    assert (
        client.get("/nowhere", headers={"X-Request-ID": "err-2"}).headers["X-Request-ID"] == "err-2"
    )


# ----- 400 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/summarize", {}, None),
        ("/v1/summarize", {"text": "a", "texts": ["b"]}, None),
        ("/v1/summarize", {"text": None}, None),
        ("/v1/summarize", {"text": 5}, "text"),
        ("/v1/summarize", {"text": ["a"]}, "text"),
        ("/v1/summarize", {"texts": "a"}, "texts"),
        ("/v1/summarize", {"texts": ["a", 3]}, "texts.1"),
        ("/v1/summarize", {"text": "a", "max_length": "5"}, "max_length"),
        ("/v1/summarize", {"text": "a", "num_beams": True}, "num_beams"),
        ("/v1/summarize", {"text": "a", "num_beams": 0}, "num_beams"),
        ("/v1/summarize", {"text": "a", "num_beams": 99}, "num_beams"),
        ("/v1/summarize", {"text": "a", "length": "tiny"}, "length"),
        ("/v1/summarize", {"text": "a", "min_length": 50, "max_length": 10}, "min_length"),
        ("/v1/summarize", {"text": "a", "max_length": 100000}, "max_length"),
        ("/v1/summarize", {"text": "a", "maxlength": 10}, "maxlength"),
        ("/v1/summarize", {"text": "a", "target": "fr"}, "target"),
        ("/v1/translate", {"text": "a"}, "target"),
        ("/v1/translate", {"text": "a", "target": 7}, "target"),
        ("/v1/translate", {"text": "a", "target": "ar", "length": "short"}, "length"),
        ("/v1/translate", {"texts": [], "target": "ar"}, "texts"),
        ("/v1/articles", {"translate_to": ["ar"]}, None),  # neither text nor url
        ("/v1/articles", {"text": "a", "translate_to": "ar"}, "translate_to"),
        ("/v1/articles", {"texts": ["a"]}, None),
    ],
)
def test_bad_fields_are_400_naming_the_field(client: FlaskClient, path, body, field) -> None:
    error = assert_error(client.post(path, json=body), 400)
    if field is not None:
        assert error["field"] == field
        assert error["code"] == "invalid_request"


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/summarize", {"text": ""}, "text"),
        ("/v1/summarize", {"text": " \n\t "}, "text"),
        ("/v1/summarize", {"texts": ["fine", "\u00a0\u3000"]}, "texts.1"),
        ("/v1/translate", {"text": "\n\n", "target": "fr"}, "text"),
        ("/v1/translate", {"texts": ["", "a"], "target": "ar"}, "texts.0"),
        ("/v1/articles", {"text": "   ", "translate_to": ["ar"]}, "text"),
    ],
)
def test_empty_or_whitespace_text_is_400(client: FlaskClient, path, body, field) -> None:
    assert_error(client.post(path, json=body), 400, "invalid_request", field)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/translate", {"text": "a", "target": "de"}, "target"),
        ("/v1/translate", {"text": "a", "target": "ar", "source": "fr"}, "source"),
        ("/v1/translate", {"texts": ["a"], "target": "zh"}, "target"),
        ("/v1/articles", {"text": "a", "translate_to": ["ar", "de"]}, "translate_to.1"),
    ],
)
def test_unsupported_language_lists_the_supported_pairs(
    client: FlaskClient, path, body, field
) -> None:
    error = assert_error(client.post(path, json=body), 400, "unsupported_language", field)
    assert "en-fr" in error["message"] and "en-ar" in error["message"]


@pytest.mark.parametrize("body", [{"source": "zz"}, {"source": "fr", "translate_to": []}])
def test_an_article_not_in_the_summariser_language_is_400(client: FlaskClient, body) -> None:
    response = client.post("/v1/articles", json={"text": "The talks resumed.", **body})
    error = assert_error(response, 400, "unsupported_language", "source")
    assert "'en'" in error["message"]


@pytest.mark.parametrize(
    "data",
    [
        b'{"text": "a"',
        b"{'text': 'a'}",
        b'{"text": "a"} trailing',
        b"",
        b"   ",
        b"null",
        b'["text"]',
        b'"text"',
        b"1" * 5000,
        b"[" * 100_000 + b"]" * 100_000,
    ],
)
def test_malformed_json_is_400(client: FlaskClient, data: bytes) -> None:
    assert_error(post_raw(client, "/v1/summarize", data), 400, "invalid_request", None)


@pytest.mark.parametrize(
    "data",
    [b'{"text": "caf\xe9"}', b'{"text": "\xff\xfe"}', b'{"text": "\xed\xa0\x80"}'],
)
def test_invalid_utf8_body_is_400(client: FlaskClient, data: bytes) -> None:
    error = assert_error(post_raw(client, "/v1/translate", data), 400, "invalid_request")
    assert "UTF-8" in error["message"]


@pytest.mark.parametrize(
    ("path", "data", "field"),
    [
        ("/v1/summarize", rb'{"text": "abc \ud800 def"}', "text"),
        ("/v1/summarize", rb'{"texts": ["fine", "\udfff"]}', "texts.1"),
        ("/v1/translate", rb'{"text": "x\ud800", "target": "ar"}', "text"),
        ("/v1/articles", rb'{"text": "\ud83d", "translate_to": ["fr"]}', "text"),
    ],
)
def test_lone_surrogate_escape_is_400(client: FlaskClient, path, data, field) -> None:
    error = assert_error(post_raw(client, path, data), 400, "invalid_request", field)
    assert "surrogate" in error["message"]


def test_lone_surrogate_in_a_field_name_is_400(client: FlaskClient) -> None:
    assert_error(post_raw(client, "/v1/summarize", rb'{"\ud800": 1}'), 400, "invalid_request")


def test_escaped_surrogate_pair_is_a_real_character(client: FlaskClient) -> None:
    data = rb'{"text": "Flags \ud83c\uddeb\ud83c\uddf7 flew.", "target": "fr"}'
    assert post_raw(client, "/v1/translate", data).status_code == 200


# ----- 404, 405, 415 ---------------------------------------------------------------------------


def test_unknown_path_is_json_404(client: FlaskClient) -> None:
    assert_error(client.get("/v1/nothing"), 404, "not_found", None)
    assert_error(client.post("/v2/summarize", json={"text": "a"}), 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("get", "/v1/summarize", {"POST", "OPTIONS"}),
        ("put", "/v1/translate", {"POST", "OPTIONS"}),
        ("post", "/healthz", {"GET", "HEAD", "OPTIONS"}),
        ("delete", "/v1/models", {"GET", "HEAD", "OPTIONS"}),
    ],
)
def test_wrong_method_is_json_405_with_allow(client: FlaskClient, method, path, allowed) -> None:
    response = getattr(client, method)(path)
    assert_error(response, 405, "method_not_allowed")
    assert set(response.headers["Allow"].split(", ")) == allowed


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", None],
)
def test_body_not_sent_as_json_is_415(client: FlaskClient, content_type) -> None:
    response = client.post("/v1/summarize", data=b'{"text": "a"}', content_type=content_type)
    assert_error(response, 415, "unsupported_media_type")


def test_json_with_charset_or_suffix_is_accepted(client: FlaskClient) -> None:
    data = json.dumps({"text": SENTENCES[0], "target": "fr"}).encode()
    for content_type in ("application/json; charset=utf-8", "application/vnd.api+json"):
        assert post_raw(client, "/v1/translate", data, content_type).status_code == 200


# ----- 413 --------------------------------------------------------------------------------------


def test_limits_accept_exactly_the_limit(limited: FlaskClient) -> None:
    text = ("Short sentence. " * 20)[:200]
    assert len(text) == 200
    response = limited.post("/v1/summarize", json={"texts": [text, text, "x"], **QUICK})
    assert response.status_code == 200
    assert len(response.get_json()["summaries"]) == 3


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/summarize", {"text": "a" * 201}, "text"),
        ("/v1/summarize", {"texts": ["a", "b" * 201]}, "texts.1"),
        ("/v1/translate", {"text": "é" * 201, "target": "ar"}, "text"),
        ("/v1/articles", {"text": "a" * 201}, "text"),
        ("/v1/summarize", {"texts": ["a", "b", "c", "d"]}, "texts"),
        ("/v1/translate", {"texts": ["a"] * 4, "target": "fr"}, "texts"),
    ],
)
def test_text_or_item_count_over_the_limit_is_413(limited: FlaskClient, path, body, field) -> None:
    error = assert_error(limited.post(path, json=body), 413, "payload_too_large", field)
    assert re.search(r"\b(200|3)\b", error["message"]), "the message names the limit"


def test_body_over_max_body_bytes_is_413(limited: FlaskClient) -> None:
    data = json.dumps({"texts": ["a" * 150] * 3, "note": "x" * 2000}).encode()
    error = assert_error(post_raw(limited, "/v1/summarize", data), 413, "payload_too_large")
    assert "2000" in error["message"]


# ----- 503, 504 ---------------------------------------------------------------------------------


def test_full_queue_is_503_with_retry_after_and_costs_nothing(make_app) -> None:
    # One queued item fills the queue; it waits 500 ms for company before running.
    app = make_app(MAX_QUEUE="1", MAX_WAIT_MS="500", RETRY_AFTER_S="7", **ONLY_SUMMARIZER)
    engine = app.extensions["engine"]
    first: dict = {}

    def send_first() -> None:
        response = app.test_client().post("/v1/summarize", json={"text": SENTENCES[0], **QUICK})
        first["status"] = response.status_code

    thread = threading.Thread(target=send_first)
    thread.start()
    deadline = time.monotonic() + 10
    while engine.describe()[0]["batching"]["queue_depth"] == 0 and time.monotonic() < deadline:
        time.sleep(0.005)
    response = app.test_client().post("/v1/summarize", json={"texts": SENTENCES[:2], **QUICK})
    error = assert_error(response, 503, "overloaded")
    assert response.headers["Retry-After"] == "7"
    assert "summarize" in error["message"]
    # Nothing of the refused request is left queued: only the first request's item.
    assert engine.describe()[0]["batching"]["queue_depth"] == 1
    thread.join(30)
    assert first["status"] == 200


def test_a_request_with_more_items_than_the_queue_holds_is_served(make_app) -> None:
    app = make_app(MAX_QUEUE="1", **ONLY_SUMMARIZER)
    response = app.test_client().post("/v1/summarize", json={"texts": SENTENCES[:3], **QUICK})
    assert response.status_code == 200, response.get_json()
    assert len(response.get_json()["summaries"]) == 3


def test_concurrent_request_over_the_queue_is_503_and_the_first_still_succeeds(make_app) -> None:
    app = make_app(MAX_QUEUE="1", MAX_WAIT_MS="1500", **ONLY_SUMMARIZER)
    engine = app.extensions["engine"]
    first: dict = {}

    def send_first() -> None:
        response = app.test_client().post("/v1/summarize", json={"text": SENTENCES[0], **QUICK})
        first["status"] = response.status_code
        first["body"] = response.get_json()

    thread = threading.Thread(target=send_first)
    thread.start()
    deadline = time.monotonic() + 10
    while engine.describe()[0]["batching"]["queue_depth"] == 0 and time.monotonic() < deadline:
        time.sleep(0.005)
    response = app.test_client().post("/v1/summarize", json={"text": SENTENCES[1], **QUICK})
    thread.join(30)
    assert_error(response, 503, "overloaded")
    assert response.headers["Retry-After"] == "1"
    assert first["status"] == 200 and first["body"]["summary"]


def test_item_past_its_timeout_is_504(make_app) -> None:
    app = make_app(ITEM_TIMEOUT_S="0.001", MAX_WAIT_MS="50", **ONLY_SUMMARIZER)
    response = app.test_client().post("/v1/summarize", json={"text": SENTENCES[0], **QUICK})
    assert_error(response, 504, "timeout", None)
    assert "Retry-After" not in response.headers


# ----- OpenAPI and docs -------------------------------------------------------------------------


def _validator(spec: dict, schema: dict) -> Draft202012Validator:
    """A validator for `schema` whose #/components/... references resolve in `spec`."""
    return Draft202012Validator({**schema, "components": spec["components"]})


def test_openapi_documents_every_route_the_app_serves(engine) -> None:
    app = create_app(engine=engine)
    spec = app.test_client().get("/openapi.json").get_json()
    served: dict[str, list[str]] = {}
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        # A path served by GET and POST through two rules (Google's) lists both.
        methods = {m.lower() for m in rule.methods - {"HEAD", "OPTIONS"}}
        served[path] = sorted(methods | set(served.get(path, [])))
    documented = {path: sorted(ops) for path, ops in spec["paths"].items()}
    # Files for the page and for /docs, not operations of the API.
    files = {"/static/{filename}", "/docs/assets/{name}"}
    assert files <= set(served)
    assert documented == {path: methods for path, methods in served.items() if path not in files}


def test_documented_examples_are_accepted_and_answers_match_the_schemas(
    client: FlaskClient,
) -> None:
    spec = client.get("/openapi.json").get_json()
    posts = {
        path: ops["post"]
        for path, ops in spec["paths"].items()
        if path.startswith("/v1/") and "post" in ops
    }
    multipart = {"/v1/documents"}  # a file upload: its own tests (test_documents)
    assert (
        set(posts)
        == {
            "/v1/summarize",
            "/v1/translate",
            "/v1/articles",
            "/v1/detect",
            "/v1/jobs",
        }
        | multipart
    )
    for path, op in posts.items():
        if path in multipart:
            continue
        content = op["requestBody"]["content"]["application/json"]
        example = content["example"]
        _validator(spec, content["schema"]).validate(example)
        response = client.post(path, json=example)
        success = "202" if path == "/v1/jobs" else "200"
        assert str(response.status_code) == success, (path, response.get_json())
        documented = op["responses"][success]["content"]["application/json"]["schema"]
        _validator(spec, documented).validate(response.get_json())
        # Errors match the documented error body too.
        error = client.post(path, json={})
        assert str(error.status_code) in op["responses"]
        error_schema = op["responses"]["400"]["content"]["application/json"]["schema"]
        _validator(spec, error_schema).validate(error.get_json())


def test_docs_page_is_swagger_ui_on_the_spec_with_local_assets(client: FlaskClient) -> None:
    """/docs loads Swagger UI from this app only; the browser test checks what it renders."""
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    page = response.get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert "/docs/assets/swagger-ui-bundle.js" in assets
    assert all(a.startswith(("/", "data:")) and not a.startswith("//") for a in assets), assets
    for asset in assets:
        if not asset.startswith("data:"):
            with client.get(asset) as served:
                assert served.status_code == 200, asset
    with client.get("/static/docs.js") as served:
        initializer = served.get_data(as_text=True)
    assert 'url: "/openapi.json"' in initializer and "validatorUrl: null" in initializer
    # Only the files /docs uses: not the wheel's editor bundles or source maps.
    assert client.get("/docs/assets/swagger-editor-bundle.js").status_code == 404
    assert client.get("/docs/assets/swagger-ui-bundle.js.map").status_code == 404


def test_a_short_preset_takes_a_lower_max_length(client: FlaskClient) -> None:
    """The preset's minimum yields to the maximum sent: no error about an unsent min_length."""
    body = {"text": "The council approved the new bridge on Tuesday.", "length": "short"}
    response = client.post("/v1/summarize", json=body | {"max_length": 10})
    assert response.status_code == 200, response.get_json()


def test_chunks_is_a_list_per_text_in_summaries_and_one_integer_in_articles(
    client: FlaskClient,
) -> None:
    """Documented in the OpenAPI description: /v1/summarize answers one count per text (a list,
    also for `text`); /v1/articles summarises one article and answers one integer."""
    text = "The council approved the new bridge on Tuesday."
    quick = {"max_length": 8, "num_beams": 1}
    one = client.post("/v1/summarize", json={"text": text, **quick}).get_json()
    several = client.post("/v1/summarize", json={"texts": [text, text], **quick}).get_json()
    article = client.post("/v1/articles", json={"text": text, **quick}).get_json()
    assert one["chunks"] == [1] and several["chunks"] == [1, 1]
    assert article["chunks"] == 1
    spec = client.get("/openapi.json").get_json()["components"]["schemas"]
    assert spec["SummaryResponse"]["properties"]["chunks"]["type"] == "array"
    assert spec["ArticleResponse"]["properties"]["chunks"]["type"] == "integer"
    assert "one integer" in spec["ArticleResponse"]["properties"]["chunks"]["description"]


# ----- detection, source auto, HTML -------------------------------------------------------------

FRENCH = "Le conseil a approuvé le nouveau pont mardi après un long débat."


def test_detect_one_text_and_a_list(client: FlaskClient) -> None:
    one = client.post("/v1/detect", json={"text": FRENCH}).get_json()
    assert one["languages"][0]["language"] == "fr"
    assert 50 < one["languages"][0]["confidence"] <= 100
    many = client.post("/v1/detect", json={"texts": [SENTENCES[0], FRENCH]}).get_json()
    assert [r["languages"][0]["language"] for r in many["results"]] == ["en", "fr"]
    assert_error(client.post("/v1/detect", json={"text": " "}), 400, "invalid_request", "text")


def test_translate_from_a_detected_language(client: FlaskClient) -> None:
    response = client.post(
        "/v1/translate", json={"texts": SENTENCES[:2], "source": "auto", "target": "fr"}
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert [d["language"] for d in body["detected"]] == ["en", "en"]
    assert len(body["translations"]) == 2


def test_a_detected_language_no_model_serves_is_named_in_the_400(client: FlaskClient) -> None:
    response = client.post("/v1/translate", json={"text": FRENCH, "source": "auto", "target": "ar"})
    error = assert_error(response, 400, "unsupported_language", "source")
    assert "'fr'" in error["message"]
    response = client.post("/v1/articles", json={"text": FRENCH, "source": "auto"})
    error = assert_error(response, 400, "unsupported_language", "source")
    assert "'fr'" in error["message"]


def test_article_from_a_detected_language(client: FlaskClient) -> None:
    response = client.post(
        "/v1/articles", json={"text": " ".join(SENTENCES), "source": "auto", **QUICK}
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["detected"]["language"] == "en"


def test_translate_html_keeps_tags_and_refuses_absurd_nesting(client: FlaskClient) -> None:
    html = '<p>Talks <a href="/x">resumed</a> today.</p><pre>keep me</pre>'
    response = client.post("/v1/translate", json={"text": html, "target": "fr", "format": "html"})
    assert response.status_code == 200, response.get_json()
    out = response.get_json()["translation"]
    assert out.startswith("<p>") and '<a href="/x">' in out and "<pre>keep me</pre>" in out
    deep = {"texts": ["<p>fine</p>", "<i>" * 10_000], "target": "fr", "format": "html"}
    assert_error(client.post("/v1/translate", json=deep), 400, "invalid_request", "texts.1")
