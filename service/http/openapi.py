"""The OpenAPI document, served at `/openapi.json`, built from the routes' own metadata
(`service.http.described.ROUTES`) and their pydantic request and response models: a limit or an
enum is written once, in the model or the settings, and `/docs` (service/http/docs.py) renders it.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

import service.http.surfaces  # noqa: F401 - importing the surfaces registers their routes
from service.core.config import Settings
from service.core.pairs import LanguagePair
from service.http import context
from service.http.access import open_blueprint
from service.http.described import MARK, ROUTES, Doc, Route, route
from service.http.events import EVENT_STREAM
from service.http.v1.schemas import ErrorResponse
from service.tasks import AUTO, LENGTH_PRESETS, SUMMARY_LANGUAGE

# Open with keys on: what orchestrators, monitoring and people reading the docs need.
bp = open_blueprint(Blueprint("openapi", __name__))

_TAGS = [
    {"name": "v1", "description": "The service's own JSON API."},
    {"name": "operations", "description": "Probes, metrics and this description."},
    {"name": "LibreTranslate", "description": "LibreTranslate's API at its own paths."},
    {"name": "Hugging Face", "description": "Hugging Face Inference API tasks, under /hf."},
    {"name": "DeepL", "description": "DeepL's API v2 (and DeepLX's body) at their own paths."},
    {"name": "Google", "description": "Google Cloud Translation v2 (Basic) at its own paths."},
]
_FLAT_ERROR = {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}
_DEEPL_ERROR = {
    "type": "object",
    "required": ["message"],
    "properties": {"message": {"type": "string"}},
}
_GOOGLE_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "errors"],
            "properties": {
                "code": {"type": "integer"},
                "message": {"type": "string"},
                "errors": {"type": "array", "items": {"type": "object"}},
                "status": {"type": "string"},
            },
        }
    },
}
_ERROR_SCHEMAS = {
    "nested": {"$ref": "#/components/schemas/ErrorResponse"},
    "flat": _FLAT_ERROR,
    "deepl": _DEEPL_ERROR,
    "google": _GOOGLE_ERROR,
    "plain": {"type": "object"},
}
# The statuses that come with Retry-After (on LibreTranslate's routes, 500 may: see there).
_RETRY_STATUSES = ("429", "500", "503")
_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying, when a retry can cure the error.",
        "schema": {"type": "integer", "minimum": 1},
    }
}


def _limits(settings: Settings) -> dict[str, dict[str, Any]]:
    """What each marker (service.http.described) stands for on this server."""
    pairs = [LanguagePair.parse(key) for key, _ in settings.translate_models]
    sources = sorted({p.source for p in pairs})
    targets = sorted({p.target for p in pairs})
    return {
        "text": {"pattern": r"\S", "maxLength": settings.max_text_chars},
        "texts": {"minItems": 1, "maxItems": settings.max_items},
        "source-or-auto": {"enum": [*sources, AUTO]},
        "source": {"enum": sources},
        "target": {"enum": targets},
        "deepl-source": {"enum": [code.upper() for code in sources]},
        "deepl-target": {"enum": [code.upper() for code in targets]},
        "summary-source": {"enum": [SUMMARY_LANGUAGE, AUTO]},
        "pair": {"enum": [p.key for p in pairs]},
        "job-items": {"minItems": 1, "maxItems": settings.jobs_max_items},
        "job-id": {"type": "string"},
        "file-name": {"type": "string", "minLength": 1},
    }


def _apply(node: Any, limits: dict[str, dict[str, Any]]) -> None:
    """Replace every marker in a JSON schema, at any depth, with what it stands for."""
    if isinstance(node, dict):
        if MARK in node:
            node |= limits[node.pop(MARK)]
        for value in node.values():
            _apply(value, limits)
    elif isinstance(node, list):
        for value in node:
            _apply(value, limits)


def _schemas(routes: list[Route]) -> dict[str, Any]:
    """The components: every request and response model of the routes, and what they use."""
    schemas: dict[str, Any] = {}
    models = [ErrorResponse] + [m for r in routes for m in (r.doc.request, r.doc.response) if m]
    for model in dict.fromkeys(models):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas |= schema.pop("$defs", {})
        schemas[model.__name__] = schema
    return schemas


def _ref(model: type) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _operation(doc: Doc) -> dict[str, Any]:
    body = _ref(doc.response) if doc.response else {"type": "object"}
    if doc.media_type != "application/json":
        body = {"type": "string"}
    success = {"description": "Success.", "content": {doc.media_type: {"schema": body}}}
    responses: dict[str, Any] = {doc.success: success}
    if doc.success_headers:
        success["headers"] = {
            name: {"description": meaning, "schema": {"type": "string"}}
            for name, meaning in doc.success_headers.items()
        }
    if doc.events:
        success["description"] = f"Success. With `Accept: {EVENT_STREAM}`: {doc.events}"
        success["content"][EVENT_STREAM] = {"schema": {"type": "string"}}
    for status, meaning in doc.errors.items():
        schema = _ERROR_SCHEMAS[doc.style]
        responses[status] = {
            "description": meaning,
            "content": {"application/json": {"schema": schema}},
        }
        if status in _RETRY_STATUSES and doc.style != "plain":
            responses[status]["headers"] = _RETRY_AFTER
    operation: dict[str, Any] = {"tags": [doc.tag], "summary": doc.summary}
    if doc.description:
        operation["description"] = doc.description
    if doc.request:
        content: dict[str, Any] = {"schema": _ref(doc.request)}
        if doc.example:
            content["example"] = doc.example
        operation["requestBody"] = {"required": True, "content": {doc.request_media_type: content}}
    if doc.path_parameters:
        operation["parameters"] = [
            {"name": name, "in": "path", "required": True, "schema": {MARK: marker}}
            for name, marker in doc.path_parameters.items()
        ]
    operation["responses"] = responses
    return operation


def _description(settings: Settings) -> str:
    presets = ", ".join(f"`{name}` {lo}-{hi}" for name, (lo, hi) in LENGTH_PRESETS.items())
    return f"""Summarise English news articles and translate English text into French and Arabic.

**Limits** (this server's settings): {settings.max_text_chars} characters per text
(`MAX_TEXT_CHARS`), {settings.max_items} texts per request (`MAX_ITEMS`),
{settings.max_body_bytes} bytes per body (`MAX_BODY_BYTES`); over any of them: 413. A request
that has not finished after {settings.item_timeout_s:g} s (`ITEM_TIMEOUT_S`) gets 504.

**Errors**: every `/v1` error is `{{"error": {{"code", "message", "field"}}}}` with the status
listed under each operation; 503 `overloaded`, `model_unavailable` and `rate_limit_unavailable`
and 429 carry `Retry-After`. The LibreTranslate and Hugging Face routes answer
`{{"error": "<message>"}}`, as their clients expect (LibreTranslate's statuses: 400, 403, 429, 500);
the DeepL routes `{{"message": "..."}}` with DeepL's statuses (403, 456 for a spent character
limit, 429, 413, 400), the Google routes Google's `{{"error": {{"code", "message", "errors"}}}}`.

**Keys and limits** (off unless configured): with API keys on, every route but the probes,
`/metrics`, the documentation, the page and the languages served needs a key
(`Authorization: Bearer <key>`, `X-API-Key`, LibreTranslate's `api_key`, DeepL's
`DeepL-Auth-Key` or `auth_key`, Google's `key`): none or an unknown one is 401 (403 on the
LibreTranslate, DeepL and Google routes). A spent rate limit is 429 with `Retry-After`.

**Summary length**: `length` picks a preset of minimum and maximum output tokens ({presets});
`min_length` and `max_length` override the preset's bounds one by one, and an explicit
`max_length` below the preset's minimum lowers that minimum to it. A `min_length` above the
`max_length` in force is refused with 400. Without any of them, the model's own defaults apply.

**Chunks**: a text longer than the summariser's input is split into chunks on sentence
boundaries. `/v1/summarize` answers `chunks` as a list (one count per text, also for `text`);
`/v1/articles` summarises one article and answers one integer.
"""


def openapi_spec(settings: Settings) -> dict[str, Any]:
    """The OpenAPI 3.1 description of every registered route, with this server's limits."""
    order = [tag["name"] for tag in _TAGS]
    paths: dict[str, Any] = {}
    for described in sorted(ROUTES, key=lambda r: order.index(r.doc.tag)):
        paths.setdefault(described.path, {})[described.method] = _operation(described.doc)
    spec = {
        "openapi": "3.1.0",
        "info": {
            "title": "News summarisation and translation service",
            "version": "1.0.0",
            "description": _description(settings),
        },
        "tags": _TAGS,
        "paths": paths,
        "components": {
            "schemas": _schemas(ROUTES),
            "securitySchemes": {
                "bearerKey": {"type": "http", "scheme": "bearer"},
                "headerKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
        # Keys are optional (API_KEYS); when the service has them, either scheme carries one.
        "security": [{}, {"bearerKey": []}, {"headerKey": []}],
    }
    _apply(spec, _limits(settings))
    return spec


@route(bp, "/openapi.json", "GET", Doc("This description.", "operations"))
def openapi() -> Response:
    return jsonify(openapi_spec(context.settings()))
