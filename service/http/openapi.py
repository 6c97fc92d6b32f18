"""The OpenAPI document, built from the request and response models, served at `/openapi.json`:
the single source that `/docs` (service/http/docs.py) renders for people.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify

from service.config import Settings
from service.http.schemas import (
    ArticleRequest,
    ArticleResponse,
    DetectRequest,
    DetectResponse,
    ErrorResponse,
    SummarizeRequest,
    SummaryResponse,
    TranslateRequest,
    TranslationResponse,
)
from service.tasks import AUTO, LENGTH_PRESETS, MAX_BEAMS, MIN_MAX_LENGTH, SUMMARY_LANGUAGE

bp = Blueprint("openapi", __name__)


_ERRORS = {
    "400": "Malformed JSON, a missing, unknown or wrong-typed field, empty text, an unsupported "
    "language (the message lists the pairs served), or a `min_length` above `max_length`. "
    "`field` names the field at fault.",
    "413": "The body, a text or the number of texts is over the configured limit (see the "
    "limits above); the message names the limit.",
    "415": "The body is not sent as application/json.",
    "500": "The model failed (`generation_failed`) or a bug (`internal_error`); the message "
    "carries no internals, only the request id to quote.",
    "503": "The queue is full (`overloaded`) or the model is not loaded (`model_unavailable`): "
    "both with Retry-After, retry then. One input too big for device memory "
    "(`out_of_memory`) has no Retry-After: the same input will not fit again.",
    "504": "The request did not finish within ITEM_TIMEOUT_S (`timeout`).",
}
_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying (with `overloaded` and "
        "`model_unavailable`).",
        "schema": {"type": "integer", "minimum": 1},
    }
}
_TAGS = [
    {"name": "v1", "description": "The service's own JSON API."},
    {"name": "operations", "description": "Probes, metrics and this description."},
    {"name": "LibreTranslate", "description": "LibreTranslate's API at its own paths."},
    {"name": "Hugging Face", "description": "Hugging Face Inference API tasks, under /hf."},
]


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _post(
    summary: str, description: str, request: str, response: str, example: dict[str, Any]
) -> dict[str, Any]:
    responses = {"200": _json(_ref(response), "Success.")}
    responses |= {code: _json(_ref("ErrorResponse"), text) for code, text in _ERRORS.items()}
    responses["503"]["headers"] = _RETRY_AFTER
    return {
        "post": {
            "tags": ["v1"],
            "summary": summary,
            "description": description,
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref(request), "example": example}},
            },
            "responses": responses,
        }
    }


def _get(
    summary: str,
    description: str,
    schema: dict[str, Any],
    unavailable: str | None = None,
    *,
    tag: str = "operations",
) -> dict[str, Any]:
    responses = {"200": _json(schema, description)}
    if unavailable is not None:
        responses["503"] = _json(schema, unavailable)
    return {"get": {"tags": [tag], "summary": summary, "responses": responses}}


def _not_json(summary: str, media_type: str = "text/html", what: str = "HTML.") -> dict[str, Any]:
    content = {media_type: {"schema": {"type": "string"}}}
    responses = {"200": {"description": what, "content": content}}
    return {"get": {"tags": ["operations"], "summary": summary, "responses": responses}}


def _description(settings: Settings) -> str:
    presets = ", ".join(f"`{name}` {lo}-{hi}" for name, (lo, hi) in LENGTH_PRESETS.items())
    return f"""Summarise English news articles and translate English text into French and Arabic.

**Limits** (this server's settings): {settings.max_text_chars} characters per text
(`MAX_TEXT_CHARS`), {settings.max_items} texts per request (`MAX_ITEMS`),
{settings.max_body_bytes} bytes per body (`MAX_BODY_BYTES`); over any of them: 413. A request
that has not finished after {settings.item_timeout_s:g} s (`ITEM_TIMEOUT_S`) gets 504.

**Errors**: every `/v1` error is `{{"error": {{"code", "message", "field"}}}}` with the status
listed under each operation; 503 `overloaded` and `model_unavailable` carry `Retry-After`. The
LibreTranslate and Hugging Face routes answer `{{"error": "<message>"}}`, as their clients expect.

**Summary length**: `length` picks a preset of minimum and maximum output tokens ({presets});
`min_length` and `max_length` override the preset's bounds one by one, and an explicit
`max_length` below the preset's minimum lowers that minimum to it. A `min_length` above the
`max_length` in force is refused with 400. Without any of them, the model's own defaults apply.

**Chunks**: a text longer than the summariser's input is split into chunks on sentence
boundaries. `/v1/summarize` answers `chunks` as a list (one count per text, also for `text`);
`/v1/articles` summarises one article and answers one integer.
"""


def _document_request_checks(schemas: dict[str, Any], settings: Settings) -> None:
    """Add to the request schemas the checks made after validation (`check_texts`, the
    served language pairs), so a request the spec calls valid is one the service accepts."""
    text = {"pattern": r"\S", "maxLength": settings.max_text_chars}
    pairs = [pair.split("-") for pair, _ in settings.translate_models]
    sources = sorted({source for source, _ in pairs})
    targets = sorted({target for _, target in pairs})
    for name in ("SummarizeRequest", "TranslateRequest", "DetectRequest"):
        props = schemas[name]["properties"]
        props["text"] |= text
        props["texts"]["anyOf"][0] |= {"minItems": 1, "maxItems": settings.max_items}
        props["texts"]["anyOf"][0]["items"] |= text
    article = schemas["ArticleRequest"]["properties"]
    article["text"] |= text
    schemas["TranslateRequest"]["properties"]["source"] |= {"enum": [*sources, AUTO]}
    article["source"] |= {"enum": [SUMMARY_LANGUAGE, AUTO]}
    schemas["TranslateRequest"]["properties"]["target"] |= {"enum": targets}
    article["translate_to"]["items"] |= {"enum": targets}


def openapi_spec(settings: Settings) -> dict[str, Any]:
    """The OpenAPI 3.1 description of the API, built from the request and response models."""
    models = (
        SummarizeRequest,
        TranslateRequest,
        ArticleRequest,
        SummaryResponse,
        TranslationResponse,
        ArticleResponse,
        DetectRequest,
        DetectResponse,
        ErrorResponse,
    )
    schemas: dict[str, Any] = {}
    for model in models:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas |= schema.pop("$defs", {})
        schemas[model.__name__] = schema
    _document_request_checks(schemas, settings)
    anything = {"type": "object"}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "News summarisation and translation service",
            "version": "1.0.0",
            "description": _description(settings),
        },
        "tags": _TAGS,
        "paths": {
            "/v1/summarize": _post(
                "Summarise a text (`text`) or several (`texts`).",
                "Long texts are split into chunks on sentence boundaries; the chunk summaries are "
                "combined (and summarised again while too long). `length`, `min_length` and "
                "`max_length` bound the summary in tokens (see the introduction), `num_beams` "
                "sets beam search. The answer has `summary` for `text`, `summaries` (in order) "
                "for `texts`, and `chunks`: a list, one count per text.",
                "SummarizeRequest",
                "SummaryResponse",
                {
                    "text": "Syria's army routed rebels from the town of Qusayr ...",
                    "length": "short",
                },
            ),
            "/v1/translate": _post(
                "Translate a text or several; paragraph breaks are kept.",
                "Each text is split into sentences, translated sentence by sentence (none is "
                "truncated) and put back with its paragraph breaks. `source: auto` detects each "
                "text's language first and answers `detected`; `format: html` translates the "
                "text between tags and keeps every tag and attribute.",
                "TranslateRequest",
                "TranslationResponse",
                {"text": "The talks resumed on Monday.", "target": "ar"},
            ),
            "/v1/articles": _post(
                "Summarise one article and translate the summary into each language asked.",
                "One call for the summary and its translations (`translate_to`, none for the "
                "summary alone). The summary options are those of `/v1/summarize`; `chunks` is "
                "one integer here, as an article is one text. `source: auto` checks that the "
                "article is English and answers `detected`.",
                "ArticleRequest",
                "ArticleResponse",
                {"text": "Syria's army routed rebels ...", "translate_to": ["ar", "fr"]},
            ),
            "/v1/detect": _post(
                "Detect the language of a text (`text`) or several (`texts`).",
                "The likeliest languages, best first, with a confidence from 0 to 100 "
                "(py3langid, no model queue: never 503 or 504). Texts of one to three words "
                "are often misread.",
                "DetectRequest",
                "DetectResponse",
                {"text": "Le conseil a approuvé le nouveau pont mardi."},
            ),
            "/v1/languages": _get(
                "Translation pairs served.",
                'The pairs: `{"pairs": [{"source", "target", "model"}]}`.',
                anything,
                tag="v1",
            ),
            "/v1/models": _get(
                "Loaded models and their settings.",
                "Each model: task, source (Hub id or path), device, dtype, state, generation "
                "defaults, batching settings, output cache state.",
                anything,
                tag="v1",
            ),
            "/healthz": _get(
                "Liveness: the process can serve.",
                "Alive.",
                anything,
                "A model's batch worker died: restart the process.",
            ),
            "/readyz": _get(
                "Readiness: every model loaded.",
                "Ready.",
                anything,
                "Not ready: a model is loading or its worker stopped.",
            ),
            "/metrics": _not_json(
                "Prometheus metrics.", "text/plain", "Prometheus' text exposition format."
            ),
            "/openapi.json": _get("This description.", "The OpenAPI 3.1 document.", anything),
            "/docs": _not_json("This description as an interactive page (Swagger UI)."),
            "/": _not_json(
                "The page for people: paste an article, get its summary and translations."
            ),
        }
        | compat_paths(settings),
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerKey": {"type": "http", "scheme": "bearer"},
                "headerKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
        # Keys are optional (API_KEYS); when the service has them, either scheme carries one.
        "security": [{}, {"bearerKey": []}, {"headerKey": []}],
    }


_FLAT_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}},
}
_LT_ERRORS = {
    "400": "Missing or invalid parameter, unsupported language or format, text over a limit.",
    "403": "Refused by access control (reserved: none is configured yet).",
    "429": "Refused by a rate limit (reserved: none is configured yet).",
    "500": "Translation failed, timed out or the server is overloaded (then with Retry-After).",
}
_HF_ERRORS = {code: _ERRORS[code] for code in ("400", "413", "415", "500", "503", "504")}


def _compat_post(
    summary: str,
    body: dict[str, Any],
    answer: dict[str, Any],
    errors: dict[str, str],
    tag: str = "Hugging Face",
) -> dict[str, Any]:
    responses = {"200": _json(answer, "Success.")}
    responses |= {code: _json(_FLAT_ERROR, text) for code, text in errors.items()}
    return {
        "post": {
            "tags": [tag],
            "summary": summary,
            "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
            "responses": responses,
        }
    }


def compat_paths(settings: Settings) -> dict[str, Any]:
    """The LibreTranslate and Hugging Face compatible routes (JSON bodies; LibreTranslate's
    routes also take the same fields as a form or query string)."""
    pairs = [pair.split("-") for pair, _ in settings.translate_models]
    sources = sorted({s for s, _ in pairs})
    targets = sorted({t for _, t in pairs})
    text = {"type": "string", "pattern": r"\S", "maxLength": settings.max_text_chars}
    texts = {"type": "array", "items": text, "minItems": 1, "maxItems": settings.max_items}
    language = {
        "type": "object",
        "required": ["language", "confidence"],
        "properties": {
            "language": {"type": "string"},
            "confidence": {"type": "number", "minimum": 0, "maximum": 100},
        },
    }
    api_key = {"type": ["string", "null"], "description": "Accepted and ignored."}
    translate = {
        "type": "object",
        "required": ["q", "source", "target"],
        "properties": {
            "q": {"anyOf": [text, texts]},
            "source": {"enum": [*sources, AUTO]},
            "target": {"enum": targets},
            "format": {"enum": ["text", "html", "", None]},
            "alternatives": {
                "anyOf": [
                    {"type": "integer", "minimum": 0},
                    {"type": "string", "pattern": "^[0-9]*$"},
                    {"type": "null"},
                ]
            },
            "api_key": api_key,
        },
    }
    translated = {
        "type": "object",
        "required": ["translatedText"],
        "properties": {
            "translatedText": {"anyOf": [{"type": "string"}, {"type": "array"}]},
            "detectedLanguage": {"anyOf": [language, {"type": "array", "items": language}]},
            "alternatives": {"type": "array"},
        },
    }
    detect = {
        "type": "object",
        "required": ["q"],
        "properties": {"q": text, "api_key": api_key},
    }
    languages = {
        "type": "array",
        "items": {
            "type": "object",
            "required": ["code", "name", "targets"],
            "properties": {
                "code": {"type": "string"},
                "name": {"type": "string"},
                "targets": {"type": "array", "items": {"type": "string"}},
            },
        },
    }

    def whole(low: int, high: int) -> dict[str, Any]:
        return {"anyOf": [{"type": "integer", "minimum": low, "maximum": high}, {"type": "null"}]}

    generate = {
        "type": ["object", "null"],
        "additionalProperties": False,
        "properties": {
            "num_beams": whole(1, MAX_BEAMS),
            "min_length": whole(0, 1024),
            "max_length": whole(MIN_MAX_LENGTH, 1024),
        },
    }
    ignored = {"truncation": {}, "clean_up_tokenization_spaces": {}}

    def hf_body(own: dict[str, Any], required: list[str]) -> dict[str, Any]:
        parameters = {
            "type": "object" if required else ["object", "null"],
            "additionalProperties": False,
            "required": required,
            "properties": own | ignored | {"generate_parameters": generate},
        }
        return {
            "type": "object",
            "required": ["inputs", *(["parameters"] if required else [])],
            "properties": {"inputs": {"anyOf": [text, texts]}, "parameters": parameters},
        }

    def hf_answer(field: str) -> dict[str, Any]:
        item = {"type": "object", "required": [field], "properties": {field: {"type": "string"}}}
        return {"type": "array", "items": item}

    by_path = _compat_post(
        "Hugging Face Inference API translation; the path names the pair.",
        hf_body({}, []),
        hf_answer("translation_text"),
        _HF_ERRORS,
    )
    by_path["post"]["parameters"] = [
        {
            "name": "pair",
            "in": "path",
            "required": True,
            "schema": {"enum": [f"{s}-{t}" for s, t in pairs]},
        }
    ]
    return {
        "/translate": _compat_post(
            "LibreTranslate: translate `q` (a string or a list; the answer mirrors it).",
            translate,
            translated,
            _LT_ERRORS,
            "LibreTranslate",
        ),
        "/detect": _compat_post(
            "LibreTranslate: the likeliest languages of `q`, best first.",
            detect,
            {"type": "array", "items": language},
            _LT_ERRORS,
            "LibreTranslate",
        ),
        "/languages": _get(
            "LibreTranslate: languages served and their targets.",
            "The languages.",
            languages,
            tag="LibreTranslate",
        ),
        "/hf/summarization": _compat_post(
            "Hugging Face Inference API summarization.",
            hf_body({}, []),
            hf_answer("summary_text"),
            _HF_ERRORS,
        ),
        "/hf/translation": _compat_post(
            "Hugging Face Inference API translation; `parameters` names the pair.",
            hf_body(
                {"src_lang": {"enum": sources}, "tgt_lang": {"enum": targets}},
                ["src_lang", "tgt_lang"],
            ),
            hf_answer("translation_text"),
            _HF_ERRORS,
        ),
        "/hf/translation/{pair}": by_path,
    }


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(openapi_spec(current_app.config["SETTINGS"]))
