"""The OpenAPI document, built from the request and response models, and its two routes:
`/openapi.json` (the single source) and `/docs` (a page for people).
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, render_template_string

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
from service.tasks import AUTO, MAX_BEAMS, MIN_MAX_LENGTH, SUMMARY_LANGUAGE

bp = Blueprint("openapi", __name__)


_ERRORS = {
    "400": "Malformed JSON, a missing or wrong-typed field, empty text, unsupported language.",
    "413": "Body, a text, or the number of texts is over the configured limit.",
    "415": "The body is not sent as application/json.",
    "500": "Unexpected error; the message carries no internals, the log has the request id.",
    "503": "Overloaded (with Retry-After) or the model is not loaded.",
    "504": "The request did not finish within ITEM_TIMEOUT_S.",
}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _post(summary: str, request: str, response: str, example: dict[str, Any]) -> dict[str, Any]:
    responses = {"200": _json(_ref(response), "Success.")}
    responses |= {code: _json(_ref("ErrorResponse"), text) for code, text in _ERRORS.items()}
    return {
        "post": {
            "summary": summary,
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref(request), "example": example}},
            },
            "responses": responses,
            "x-example": json.dumps(example, ensure_ascii=False),
        }
    }


def _get(
    summary: str, description: str, schema: dict[str, Any], unavailable: str | None = None
) -> dict[str, Any]:
    responses = {"200": _json(schema, description)}
    if unavailable is not None:
        responses["503"] = _json(schema, unavailable)
    return {"get": {"summary": summary, "responses": responses}}


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
            "description": (
                "Summarise English news articles and translate English text into French and "
                f"Arabic. Limits: {settings.max_text_chars} characters per text, "
                f"{settings.max_items} texts per request, {settings.max_body_bytes} bytes per body."
            ),
        },
        "paths": {
            "/v1/summarize": _post(
                "Summarise a text (`text`) or several (`texts`).",
                "SummarizeRequest",
                "SummaryResponse",
                {
                    "text": "Syria's army routed rebels from the town of Qusayr ...",
                    "length": "short",
                },
            ),
            "/v1/translate": _post(
                "Translate a text or several; paragraph breaks are kept.",
                "TranslateRequest",
                "TranslationResponse",
                {"text": "The talks resumed on Monday.", "target": "ar"},
            ),
            "/v1/articles": _post(
                "Summarise one article and translate the summary into each language asked.",
                "ArticleRequest",
                "ArticleResponse",
                {"text": "Syria's army routed rebels ...", "translate_to": ["ar", "fr"]},
            ),
            "/v1/detect": _post(
                "Detect the language of a text (`text`) or several (`texts`).",
                "DetectRequest",
                "DetectResponse",
                {"text": "Le conseil a approuvé le nouveau pont mardi."},
            ),
            "/v1/languages": _get("Translation pairs served.", "The pairs.", anything),
            "/v1/models": _get("Loaded models and their settings.", "The models.", anything),
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
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics.",
                    "responses": {
                        "200": {
                            "description": "Text exposition format.",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
            "/openapi.json": _get("This description.", "The OpenAPI 3.1 document.", anything),
            "/docs": {
                "get": {
                    "summary": "This description as a page for people.",
                    "responses": {
                        "200": {
                            "description": "HTML.",
                            "content": {"text/html": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
        }
        | compat_paths(settings),
        "components": {"schemas": schemas},
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
    summary: str, body: dict[str, Any], answer: dict[str, Any], errors: dict[str, str]
) -> dict[str, Any]:
    responses = {"200": _json(answer, "Success.")}
    responses |= {code: _json(_FLAT_ERROR, text) for code, text in errors.items()}
    return {
        "post": {
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
        ),
        "/detect": _compat_post(
            "LibreTranslate: the likeliest languages of `q`, best first.",
            detect,
            {"type": "array", "items": language},
            _LT_ERRORS,
        ),
        "/languages": _get(
            "LibreTranslate: languages served and their targets.", "The languages.", languages
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


@bp.get("/docs")
def docs() -> str:
    return render_template_string(_DOCS_PAGE, spec=openapi_spec(current_app.config["SETTINGS"]))


_DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ spec.info.title }}</title>
<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em}
code,pre{background:#f4f4f4;padding:.1em .3em}pre{padding:1em;overflow:auto}
h2{border-top:1px solid #ccc;padding-top:1em}</style></head><body>
<h1>{{ spec.info.title }} <small>{{ spec.info.version }}</small></h1>
<p>{{ spec.info.description }}</p>
<p>Machine-readable spec: <a href="openapi.json">openapi.json</a>.</p>
{% for path, ops in spec.paths.items() %}{% for method, op in ops.items() %}
<h2><code>{{ method.upper() }} {{ path }}</code></h2><p>{{ op.summary }}</p>
{% if op.get('description') %}<p>{{ op.description }}</p>{% endif %}
{% if op.get('x-example') %}<pre>{{ op['x-example'] }}</pre>{% endif %}
<ul>{% for status, resp in op.responses.items() %}
<li><b>{{ status }}</b>: {{ resp.description }}</li>{% endfor %}</ul>
{% endfor %}{% endfor %}
<h2>Errors</h2><p>Every error is <code>{"error": {"code", "message", "field"}}</code>.</p>
</body></html>
"""
