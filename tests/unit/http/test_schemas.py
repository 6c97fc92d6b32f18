"""Request validation and the OpenAPI description, without a model."""

import json

import pytest
from jsonschema import Draft202012Validator
from schemathesis.specs.openapi.definitions import OPENAPI_31_VALIDATOR

from service.core.config import Settings
from service.core.errors import InvalidRequest, PayloadTooLarge
from service.http.bodies import decode_json, parse
from service.http.openapi import openapi_spec
from service.http.v1.job_schemas import JobRequest
from service.http.v1.schemas import (
    ArticleRequest,
    DetectRequest,
    SummarizeRequest,
    TranslateRequest,
)
from service.tasks import GenerationOptions
from service.tasks.limits import check_texts

SETTINGS = Settings.defaults(max_text_chars=10, max_items=2, max_body_bytes=1000)


# ----- parse -------------------------------------------------------------------------------------


def test_parse_gives_the_model_and_its_options() -> None:
    req = parse(SummarizeRequest, {"texts": ["a", "b"], "length": "short", "num_beams": 2})
    assert req.items() == ["a", "b"]
    assert req.options() == GenerationOptions(length="short", num_beams=2)
    req = parse(TranslateRequest, {"text": "a", "target": "ar"})
    assert (req.items(), req.source, req.target) == (["a"], "en", "ar")
    req = parse(ArticleRequest, {"text": "a"})
    assert (req.translate_to, req.source) == ([], "en")


@pytest.mark.parametrize("body", [None, [], "text", 3, True])
def test_parse_wants_an_object(body) -> None:
    with pytest.raises(InvalidRequest, match="JSON object") as caught:
        parse(SummarizeRequest, body)
    assert caught.value.field is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": "a", "max_length": "9"}, "max_length"),
        ({"text": "a", "max_length": True}, "max_length"),
        ({"text": "a", "num_beams": 2.5}, "num_beams"),
        ({"texts": [None]}, "texts.0"),
        ({"text": "a", "colour": "red"}, "colour"),
    ],
)
def test_parse_is_strict_and_names_the_field(body, field) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse(SummarizeRequest, body)
    assert caught.value.field == field
    assert caught.value.message.startswith(f"{field}: ")
    assert caught.value.status == 400


@pytest.mark.parametrize("body", [{}, {"text": "a", "texts": ["a"]}, {"text": None, "texts": None}])
def test_exactly_one_of_text_and_texts(body) -> None:
    with pytest.raises(InvalidRequest, match="exactly one of `text` or `texts`"):
        parse(SummarizeRequest, body)


@pytest.mark.parametrize(
    ("model", "body", "field"),
    [
        (TranslateRequest, {"text": "a", "target": "AR"}, "target"),
        (TranslateRequest, {"text": "a", "target": "ar", "source": "english"}, "source"),
        (ArticleRequest, {"text": "a", "translate_to": ["ar", "f"]}, "translate_to.1"),
        (ArticleRequest, {"text": "a", "translate_to": ["ar"] * 9}, "translate_to"),
    ],
)
def test_language_codes_are_checked(model, body, field) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse(model, body)
    assert caught.value.field == field


# ----- check_texts -------------------------------------------------------------------------------


def test_check_texts_accepts_texts_at_the_limits() -> None:
    check_texts(["a" * 10, " b "], SETTINGS, "texts")


@pytest.mark.parametrize(
    ("texts", "field", "error", "where"),
    [
        (["a", "b", "c"], "texts", PayloadTooLarge, "texts"),
        (["a" * 11], "text", PayloadTooLarge, "text"),
        (["a", "a" * 11], "texts", PayloadTooLarge, "texts.1"),
        ([], "texts", InvalidRequest, "texts"),
        ([""], "text", InvalidRequest, "text"),
        (["a", " \n\u2003"], "texts", InvalidRequest, "texts.1"),
        (["a\ud800"], "text", InvalidRequest, "text"),
    ],
)
def test_check_texts_rejects(texts, field, error, where) -> None:
    with pytest.raises(error) as caught:
        check_texts(texts, SETTINGS, field)
    assert type(caught.value) is error
    assert caught.value.field == where


def test_too_many_items_is_checked_before_their_content() -> None:
    with pytest.raises(PayloadTooLarge, match="3 items .* limit is 2"):
        check_texts(["", "", ""], SETTINGS, "texts")


# ----- decode_json -------------------------------------------------------------------------------


def test_decode_json_keeps_non_ascii_and_surrogate_escapes() -> None:
    assert decode_json('{"text": "قصير"}'.encode()) == {"text": "قصير"}
    assert decode_json(rb'{"text": "\ud800"}') == {"text": "\ud800"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b" \n ", "empty"),
        (b'{"text": "\xff"}', "UTF-8"),
        (b'{"text": ', "not valid JSON"),
        (b"NaN-ish", "not valid JSON"),
        (b"9" * 5000, "a number with too many digits"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ],
)
def test_decode_json_rejects(data: bytes, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        decode_json(data)


def test_a_huge_integer_is_refused_without_cpython_internals() -> None:
    with pytest.raises(InvalidRequest) as raised:
        decode_json(b'{"num_beams": ' + b"9" * 5000 + b"}")
    assert "sys." not in raised.value.message and "4300" not in raised.value.message


def test_an_unknown_field_name_is_echoed_cut_short() -> None:
    name = "x" * 2_000_000
    with pytest.raises(InvalidRequest) as raised:
        parse(TranslateRequest, {"text": "Hi.", "target": "fr", name: 1})
    assert raised.value.field == "x" * 64 + "\u2026"
    assert len(raised.value.message) < 200


# ----- OpenAPI -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spec() -> dict:
    return openapi_spec(Settings.defaults())


def test_spec_is_a_valid_openapi_3_1_document(spec: dict) -> None:
    assert spec["openapi"].startswith("3.1.")
    errors = [str(e) for e in OPENAPI_31_VALIDATOR.iter_errors(spec)]
    assert errors == []
    json.dumps(spec)  # serialisable as served


def test_component_schemas_are_valid_json_schema(spec: dict) -> None:
    for schema in spec["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)


def test_every_reference_resolves(spec: dict) -> None:
    refs: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.append(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(spec)
    assert refs
    names = set(spec["components"]["schemas"])
    for ref in refs:
        assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in names, ref


def test_numeric_bounds_are_json_schema_keywords(spec: dict) -> None:
    """pydantic must translate ge/le into minimum/maximum, or the spec documents no bounds."""
    text = json.dumps(spec)
    assert '"ge":' not in text and '"le":' not in text
    beams = spec["components"]["schemas"]["SummarizeRequest"]["properties"]["num_beams"]
    assert "maximum" in json.dumps(beams)


def test_request_examples_follow_their_schemas_and_parse(spec: dict) -> None:
    models = {
        "SummarizeRequest": SummarizeRequest,
        "TranslateRequest": TranslateRequest,
        "ArticleRequest": ArticleRequest,
        "DetectRequest": DetectRequest,
        "JobRequest": JobRequest,
    }
    for path, ops in spec["paths"].items():
        if "post" not in ops or not path.startswith("/v1/"):
            continue  # the compatibility surfaces have their own tests
        if "application/json" not in ops["post"]["requestBody"]["content"]:
            continue  # an upload (/v1/documents): tests/unit/http/test_documents.py
        content = ops["post"]["requestBody"]["content"]["application/json"]
        name = content["schema"]["$ref"].rsplit("/", 1)[1]
        schema = {**spec["components"]["schemas"][name], "components": spec["components"]}
        Draft202012Validator(schema).validate(content["example"])
        parse(models[name], content["example"])


def test_every_post_documents_the_error_statuses(spec: dict) -> None:
    posts = {
        path: set(ops["post"]["responses"]) for path, ops in spec["paths"].items() if "post" in ops
    }
    for path, statuses in posts.items():
        if path in {"/translate", "/detect", "/translate_file"}:  # LibreTranslate's own statuses
            assert {"200", "400", "403", "429", "500"} <= statuses, path
        elif path == "/translate_file":  # LibreTranslate's, with 413 and 415 kept for files
            assert {"200", "400", "403", "413", "415", "429", "500"} <= statuses, path
        elif path in {"/v2/translate", "/deeplx/translate"}:  # DeepL's (a form is no 415)
            assert {"200", "400", "403", "413", "429", "456", "500", "503", "504"} <= statuses
        elif path == "/v1/jobs":  # accepted to run later: no model runs in the request
            assert {"202", "400", "413", "415", "429", "500", "503"} <= statuses, path
        elif path.startswith("/language/translate/v2"):  # Google's: every client error 400
            assert {"200", "400", "403", "429", "500", "503", "504"} <= statuses, path
        elif path.startswith("/v2/document"):  # DeepL's documents: 404 no such document
            assert {"200", "400", "403", "404", "413", "429", "456", "503"} <= statuses, path
        elif path in {"/v1/jobs", "/v1/documents"}:  # accepted to run later: no model runs now
            assert {"202", "400", "413", "415", "429", "503"} <= statuses, path
        else:
            assert {"200", "400", "413", "415", "500", "503", "504"} <= statuses, path
    assert {
        "/v1/summarize",
        "/v1/translate",
        "/v1/articles",
        "/translate",
        "/hf/translation",
    } <= set(posts)


def test_description_states_the_configured_limits() -> None:
    description = openapi_spec(SETTINGS)["info"]["description"]
    assert "10 characters" in description
    assert "2 texts" in description
    assert "1000 bytes" in description
