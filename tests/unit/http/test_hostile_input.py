"""Hostile input, from the validators up through HTTP: a 4xx in the one error shape or a correct
answer, never a 5xx, and the service answers the next good request as it did before.

Property tests (hypothesis) drive `service.http.v1.schemas` directly and the Flask test client on
the shared tiny-model engine. Texts that can reach a model stay short, and summaries ask for a few
tokens, so the examples that pass validation cost milliseconds.
"""

import json
import re

import pytest
from hypothesis import HealthCheck, assume, event, example, given, settings
from hypothesis import strategies as st

from service.core.config import Settings
from service.core.errors import InvalidRequest, PayloadTooLarge
from service.http.bodies import decode_json, parse
from service.http.v1.schemas import (
    ArticleRequest,
    SummarizeRequest,
    TranslateRequest,
)
from service.tasks.limits import check_texts

PROPERTY = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
HTTP = settings(PROPERTY, max_examples=50)

ENDPOINTS = ("/v1/summarize", "/v1/translate", "/v1/articles")
MODELS = {
    "/v1/summarize": SummarizeRequest,
    "/v1/translate": TranslateRequest,
    "/v1/articles": ArticleRequest,
}
FIELDS = {
    "/v1/summarize": ("text", "texts", "length", "min_length", "max_length", "num_beams"),
    "/v1/translate": ("text", "texts", "source", "target", "num_beams"),
    "/v1/articles": (
        "text",
        "source",
        "translate_to",
        "length",
        "min_length",
        "max_length",
        "num_beams",
    ),
}
CLIENT_ERRORS = {400, 413, 415}

# Characters that break naive text handling, one of each kind.
SPECIAL = [
    "\x00",  # NUL
    "\x07\x1b[31m\x7f",  # control characters, an ANSI escape
    "\u200b\u200c\u200d\u2060\ufeff",  # zero-width characters, BOM
    "\u202e\u202d\u2066\u2069\u200e\u200f",  # bidi overrides, isolates and marks
    "👩‍👩‍👧‍👦🇫🇷🏳️‍🌈",  # emoji: ZWJ sequence, flag, variation selector
    "مرحبا world سلام",  # mixed Arabic and Latin
    "e\u0301\u0301\u0301\u0301",  # stacked combining marks
    " \t\n\r\u00a0\u2003\u3000\u2028\u2029\x1c\x1f",  # whitespace, including exotic kinds
    "\ud800",  # a lone surrogate: valid as a JSON escape, not encodable as UTF-8
    "\udfff\ud83d",  # lone low and high surrogates
    "..!?;",  # punctuation only: no word to translate
    "A. B. C. D. E.",  # many one-letter sentences
]

hostile_text = st.one_of(
    st.sampled_from(SPECIAL),
    st.text(max_size=40),
    st.text(st.characters(max_codepoint=0x40), max_size=40),  # controls, digits, punctuation
    st.text(st.characters(categories=["Cs", "Cf", "Zs", "Zl", "Zp", "Cc"]), max_size=20),
    st.lists(st.sampled_from(SPECIAL + ["Hello", "world.", "مرحبا"]), max_size=6).map("".join),
)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    hostile_text,
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)

# Values that are valid for a field and cheap to run, mixed in so some bodies get past validation.
CHEAP_VALID = {
    "text": st.sampled_from(["Hello world.", "The talks resumed on Monday.", "مرحبا world."]),
    "texts": st.lists(
        st.sampled_from(["Hi.", "Good night.", "Rain fell."]), min_size=1, max_size=3
    ),
    "length": st.none(),
    "min_length": st.integers(0, 4),
    "max_length": st.integers(2, 6),
    "num_beams": st.integers(1, 2) | st.just(2.0),
    "source": st.just("en"),
    "target": st.sampled_from(["fr", "ar"]),
    "translate_to": st.lists(st.sampled_from(["fr", "ar"]), max_size=2),
}


@st.composite
def request_bodies(draw, endpoint: str) -> dict:
    """A JSON object over the endpoint's fields (and strangers): each field absent, valid and
    cheap, or an arbitrary JSON value. Summaries always carry a max_length, valid or not, so no
    valid body asks for a long generation."""
    body = {}
    for name in FIELDS[endpoint]:
        choice = draw(st.sampled_from(["absent", "valid", "valid", "valid", "hostile"]))
        if choice == "valid":
            body[name] = draw(CHEAP_VALID[name])
        elif choice == "hostile":
            body[name] = draw(json_values)
    if "max_length" in FIELDS[endpoint]:
        if body.get("max_length") is None:
            body["max_length"] = draw(CHEAP_VALID["max_length"])
        for name in ("min_length", "max_length"):
            value = body.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                # A long valid output would cost seconds; the cheap range runs the same code.
                assume(value <= 64)
    if draw(st.booleans()) and draw(st.booleans()):
        body[draw(st.text(min_size=1, max_size=8))] = draw(json_values)
    return body


def assert_error_shape(response) -> dict:
    """The one JSON error shape, with a message free of internals."""
    assert response.is_json, response.data[:200]
    body = response.get_json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "message", "field"}
    assert re.fullmatch(r"[a-z][a-z_]*", error["code"])
    assert isinstance(error["message"], str) and error["message"]
    assert error["field"] is None or isinstance(error["field"], str)
    for leak in ("Traceback", 'File "', "site-packages", "Error:"):
        assert leak not in error["message"]
    return error


def assert_answer(endpoint: str, request: dict, body: dict) -> None:
    """A 200 answers the request it was given: one result per text, of the right kind."""
    if endpoint == "/v1/summarize":
        if "text" in request and request["text"] is not None:
            assert isinstance(body["summary"], str)
        else:
            assert len(body["summaries"]) == len(request["texts"])
            assert all(isinstance(s, str) for s in body["summaries"])
    elif endpoint == "/v1/translate":
        assert body["target"] == request["target"]
        if "text" in request and request["text"] is not None:
            assert isinstance(body["translation"], str)
        else:
            assert len(body["translations"]) == len(request["texts"])
    else:
        assert set(body["translations"]) == set(request.get("translate_to", []))
        assert isinstance(body["summary"], str)


def post(client, endpoint: str, data: bytes, content_type: str = "application/json"):
    return client.post(endpoint, data=data, content_type=content_type)


def check_response(endpoint: str, request: object, response) -> None:
    event(f"HTTP {response.status_code}")
    assert response.status_code < 500, response.data[:500]
    if response.status_code == 200:
        assert isinstance(request, dict)
        assert_answer(endpoint, request, response.get_json())
    else:
        assert response.status_code in CLIENT_ERRORS, response.status_code
        assert_error_shape(response)


@pytest.fixture(scope="module")
def good_answers(engine):
    """What a few good requests get before the hostile ones: they must get it after, too."""
    from service.http.app import create_app

    client = create_app(engine=engine).test_client()
    requests = [
        ("/v1/translate", {"text": "The talks resumed on Monday.", "target": "ar"}),
        ("/v1/summarize", {"text": "Heavy rain caused flooding.", "max_length": 6}),
    ]
    before = [client.post(path, json=body) for path, body in requests]
    assert all(r.status_code == 200 for r in before)
    yield requests, [r.get_json() for r in before]


def assert_still_serves(client, good_answers) -> None:
    requests, expected = good_answers
    for (path, body), answer in zip(requests, expected, strict=True):
        response = client.post(path, json=body)
        assert response.status_code == 200
        assert response.get_json() == answer
    assert client.get("/readyz").status_code == 200
    assert client.get("/healthz").status_code == 200


# ----- the validators, directly ----------------------------------------------------------------


@PROPERTY
@given(
    st.one_of(
        st.binary(max_size=200),
        json_values.map(lambda v: json.dumps(v).encode()),
        json_values.map(
            lambda v: json.dumps(v, ensure_ascii=False).encode("utf-8", "surrogatepass")
        ),
        st.integers(1, 200_000).map(lambda n: b"[" * n),
        st.integers(1, 50_000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
        st.integers(4300, 10_000).map(lambda n: b"1" * n),
        st.sampled_from([b"", b"   ", b"\xef\xbb\xbf{}", b"NaN", b"-Infinity", b'"\\ud800"']),
    )
)
@example(b"[" * 1_000_000)
@example(b"\xff\xfe\x00{")
def test_decode_json_returns_a_value_or_invalid_request(data: bytes) -> None:
    try:
        decode_json(data)
    except InvalidRequest as exc:
        assert exc.message and exc.field is None


@PROPERTY
@given(
    st.sampled_from(list(MODELS)).flatmap(
        lambda e: st.tuples(st.just(e), request_bodies(e) | json_values)
    )
)
def test_parse_returns_a_request_or_invalid_request(endpoint_and_body) -> None:
    endpoint, body = endpoint_and_body
    model = MODELS[endpoint]
    try:
        parsed = parse(model, body)
    except InvalidRequest as exc:
        assert exc.message
        assert exc.field is None or isinstance(exc.field, str)
        return
    assert isinstance(parsed, model)
    assert isinstance(body, dict) and set(body) <= set(FIELDS[endpoint])


@PROPERTY
@given(
    st.lists(hostile_text, max_size=8)
    | st.lists(st.just("a"), min_size=60, max_size=70)
    | st.integers(0, 3).map(lambda n: ["x" * (200 + n)]),
)
def test_check_texts_passes_only_what_a_model_can_take(texts: list[str]) -> None:
    limits = Settings.defaults(max_items=64, max_text_chars=201)
    try:
        check_texts(texts, limits, "texts")
    except (InvalidRequest, PayloadTooLarge) as exc:
        assert exc.field == "texts" or exc.field.startswith("texts.")
        return
    assert 1 <= len(texts) <= limits.max_items
    for text in texts:
        assert text.strip() and len(text) <= limits.max_text_chars
        text.encode("utf-8")


# ----- through HTTP ----------------------------------------------------------------------------


@HTTP
@given(st.sampled_from(ENDPOINTS).flatmap(lambda e: st.tuples(st.just(e), request_bodies(e))))
def test_http_arbitrary_fields(client, good_answers, endpoint_and_body) -> None:
    endpoint, body = endpoint_and_body
    data = json.dumps(body).encode()  # ASCII escapes, so lone surrogates arrive as "\ud800"
    check_response(endpoint, body, post(client, endpoint, data))


@HTTP
@given(
    st.sampled_from(["/v1/translate", "/v1/summarize"]),
    st.lists(hostile_text, min_size=1, max_size=4),
    st.booleans(),
)
def test_http_hostile_texts(client, good_answers, endpoint, texts, as_list) -> None:
    body: dict = {"texts": texts} if as_list else {"text": texts[0]}
    body |= {"target": "fr"} if endpoint == "/v1/translate" else {"max_length": 4}
    response = post(client, endpoint, json.dumps(body).encode())
    check_response(endpoint, body, response)
    # Exactly the texts check_texts refuses are refused: the texts as the server decodes them,
    # where two lone surrogates that form a pair ("\ud83d\ude00") arrive as one character.
    items = json.loads(json.dumps(texts if as_list else texts[:1]))
    try:
        check_texts(items, Settings.defaults(), "texts")
    except InvalidRequest:
        assert response.status_code == 400
    else:
        assert response.status_code == 200


@HTTP
@given(st.sampled_from(ENDPOINTS), st.binary(max_size=300))
def test_http_arbitrary_bytes(client, good_answers, endpoint, data) -> None:
    check_response(endpoint, None, post(client, endpoint, data))


RAW_BODIES = {
    "empty": (b"", "application/json"),
    "whitespace": (b" \n\t ", "application/json"),
    "invalid utf-8": (b'{"text": "\xc3\x28\xff"}', "application/json"),
    "utf-16": ('{"text": "hi", "target": "fr"}'.encode("utf-16"), "application/json"),
    "nested 100k": (b"[" * 100_000 + b"]" * 100_000, "application/json"),
    "nested objects": (b'{"text":' * 5_000 + b'"x"' + b"}" * 5_000, "application/json"),
    "lone surrogate": (b'{"text": "\\ud800", "target": "fr"}', "application/json"),
    "NUL in JSON": (b'{"text": "a\x00b", "target": "fr"}', "application/json"),
    "raw NUL": (b"\x00" * 64, "application/json"),
    "NaN": (b'{"text": "hi", "target": "fr", "num_beams": NaN}', "application/json"),
    "huge int": (
        b'{"text": "hi", "target": "fr", "num_beams": ' + b"9" * 5000 + b"}",
        "application/json",
    ),
    "duplicate keys": (b'{"text": "hi", "text": 5, "target": "fr"}', "application/json"),
    "top-level list": (b'[{"text": "hi", "target": "fr"}]', "application/json"),
    "text/plain": (b'{"text": "hi", "target": "fr"}', "text/plain"),
    "form": (b"text=hi&target=fr", "application/x-www-form-urlencoded"),
    "no content type": (b'{"text": "hi", "target": "fr"}', ""),
    "multipart": (b"--x\r\n\r\nhi\r\n--x--", "multipart/form-data; boundary=x"),
    "huge string": (
        json.dumps({"text": "a" * 100_001, "target": "fr"}).encode(),
        "application/json",
    ),
    "thousands of items": (
        json.dumps({"texts": ["a"] * 5000, "target": "fr"}).encode(),
        "application/json",
    ),
    "body over the limit": (b'{"text": "' + b"a" * 2_200_000 + b'"}', "application/json"),
}


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("name", list(RAW_BODIES))
def test_http_raw_bodies(client, good_answers, endpoint, name) -> None:
    data, content_type = RAW_BODIES[name]
    response = post(client, endpoint, data, content_type)
    assert response.status_code in CLIENT_ERRORS, (response.status_code, response.data[:300])
    assert_error_shape(response)


@pytest.mark.parametrize(
    ("name", "status", "code"),
    [
        ("empty", 400, "invalid_request"),
        ("invalid utf-8", 400, "invalid_request"),
        ("nested 100k", 400, "invalid_request"),
        ("lone surrogate", 400, "invalid_request"),
        ("text/plain", 415, "unsupported_media_type"),
        ("huge string", 413, "payload_too_large"),
        ("thousands of items", 413, "payload_too_large"),
        ("body over the limit", 413, "payload_too_large"),
    ],
)
def test_http_raw_body_outcomes(client, name, status, code) -> None:
    data, content_type = RAW_BODIES[name]
    response = post(client, "/v1/translate", data, content_type)
    assert response.status_code == status
    assert assert_error_shape(response)["code"] == code


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        # max_length counts the decoder start token: 1 made generate raise (a 500).
        ({"text": "Rain fell.", "max_length": 1}, 400, "max_length"),
        # A minimum above the model's default maximum made transformers warn and ignore it.
        ({"text": "Rain fell.", "min_length": 150, "num_beams": 1}, 200, None),
        # JSON has one number type: 2.0 is the integer 2; "2", true and 2.5 are not integers.
        ({"text": "Rain fell.", "num_beams": 2.0, "max_length": 4.0}, 200, None),
        ({"text": "Rain fell.", "num_beams": "2"}, 400, "num_beams"),
        ({"text": "Rain fell.", "num_beams": True}, 400, "num_beams"),
        ({"text": "Rain fell.", "num_beams": 2.5}, 400, "num_beams"),
        ({"text": None, "texts": None}, 400, None),
    ],
)
def test_generation_option_edges(client, body, status, field) -> None:
    response = client.post("/v1/summarize", json=body)
    assert response.status_code == status, response.get_json()
    if status != 200:
        assert assert_error_shape(response)["field"] == field


def test_good_requests_after_hostile_ones(client, good_answers) -> None:
    """Runs after the hostile tests of this module: the same answers as before them."""
    assert_still_serves(client, good_answers)
