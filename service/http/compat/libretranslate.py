"""LibreTranslate's API at its own paths, so its clients (Mastodon, Weblate, Discourse,
libretranslatepy, browser pages) work with this service by changing only the URL.

`POST /translate`, `POST /detect`, `GET /languages`, with LibreTranslate's request forms (JSON,
or form fields and query-string values), its answers and its `{"error": "..."}` errors, and its
CORS headers. `api_key` is read here (`_api_key`) and checked by `service.http.access` before
the view runs. Documents: `POST /translate_file` (a multipart upload) answers the URL of the
translation, which `GET /download_file/<name>` serves once, to the key that uploaded it;
`GET /frontend/settings` tells LibreTranslate's page that files are translated, and which.
"""

from __future__ import annotations

import io
import re
from typing import Annotated, Any, Literal

from flask import Blueprint, Response, g, has_request_context, jsonify, request, send_file
from pydantic import BaseModel, Field, RootModel
from werkzeug.exceptions import NotFound

from service import tasks
from service.core.errors import InvalidRequest, ItemTimeout, ServiceError
from service.documents.registry import supported_extensions
from service.http import context
from service.http.access import open_to_all, read_keys_with
from service.http.bodies import shown
from service.http.described import Doc, SourceOrAuto, Target, Text, Texts, route
from service.http.errors import FLAT, ErrorStyle, answer_errors_as
from service.text.language import Detection, language_name

bp = Blueprint("libretranslate", __name__)
FORMATS = ("text", "html")
# The routes whose size and format refusals keep their own statuses (413, 415): LibreTranslate's
# page shows any error's message, and a client can tell "too big" from "not this format".
_DOCUMENT_ENDPOINTS = frozenset({"libretranslate.translate_file", "libretranslate.download_file"})


# ----- the wire shapes, for the OpenAPI document (the views read the fields themselves, with
# LibreTranslate's own messages, from JSON, a form or the query string) ------------------------
ERRORS = {
    "400": "Missing or invalid parameter, unsupported language or format, text over a limit.",
    "403": "API keys are on and the request has no key or an unknown one (as `api_key`, "
    "`Authorization: Bearer` or `X-API-Key`).",
    "429": "A rate limit is spent; Retry-After says when to try again.",
    "500": "Translation failed, or a retry can cure it: the queue is full, the model is loading "
    "or the request timed out (these three with Retry-After).",
}


class LibreTranslateQuery(BaseModel):
    q: Text | Texts = Field(description="A text, or a list of texts (the answer mirrors it).")
    source: SourceOrAuto = Field(description="Source language code, or `auto`.")
    target: Target
    format: Literal["text", "html", ""] | None = None
    alternatives: Annotated[int, Field(ge=0)] | Annotated[str, Field(pattern="^[0-9]*$")] | None = (
        Field(None, description="Accepted; no alternatives are offered (an empty list each).")
    )
    api_key: str | None = Field(None, description="The API key, when keys are on.")


class LibreTranslateLanguage(BaseModel):
    confidence: float = Field(ge=0, le=100)
    language: str


class LibreTranslated(BaseModel):
    translatedText: str | list[str]  # noqa: N815 - LibreTranslate's names
    detectedLanguage: LibreTranslateLanguage | list[LibreTranslateLanguage] | None = None  # noqa: N815
    alternatives: list[Any] | None = None


class LibreTranslateDetectQuery(BaseModel):
    q: Text
    api_key: str | None = Field(None, description="The API key, when keys are on.")


class LibreTranslateDetected(RootModel[list[LibreTranslateLanguage]]):
    """The likeliest languages, best first."""


class LibreTranslateServed(BaseModel):
    code: str
    name: str
    targets: list[str]


class LibreTranslateLanguages(RootModel[list[LibreTranslateServed]]):
    """Every language served and what it translates to."""


# CORS headers as LibreTranslate sends them; Access-Control-Allow-Origin comes from CORS_ORIGINS.
_CORS = {
    "Access-Control-Allow-Headers": "Authorization, Content-Type",
    "Access-Control-Expose-Headers": "Authorization",
    "Access-Control-Allow-Methods": "GET, POST",
    "Access-Control-Allow-Credentials": "true",
    "Access-Control-Max-Age": str(60 * 60 * 24 * 20),
}


def _post(rule: str, summary: str, query: type[BaseModel], answer: type[BaseModel]) -> Any:
    """Register a LibreTranslate POST route, documented with its query and answer models."""
    doc = Doc(
        summary, "LibreTranslate", request=query, response=answer, errors=ERRORS, style="flat"
    )
    return route(bp, rule, "POST", doc)


def _status(exc: ServiceError) -> int:
    """LibreTranslate answers 400, 403, 429 or 500. Every client error here is 400 (size limits
    too, as LibreTranslate's own character limit is); a missing or unknown API key is 403 and a
    spent rate limit 429, as LibreTranslate answers them. Overload, timeouts and unloaded models
    are 500, not 429 or 503: Weblate switches a backend off for 30 minutes on those, and a full
    queue here clears in about a second. The document routes keep 413 and 415."""
    if exc.status == 401:
        return 403
    if exc.status == 429:
        return 429
    if (
        exc.status in (413, 415)
        and has_request_context()
        and request.endpoint in _DOCUMENT_ENDPOINTS
    ):
        return exc.status
    return 400 if exc.status < 500 else 500


def _retry(exc: ServiceError) -> bool:
    """Retry-After on every error a retry can cure: a full queue, a model loading, a timeout
    (all 500 here, so the header is what tells them apart from a failure)."""
    return exc.retry_after or isinstance(exc, ItemTimeout)


STYLE = ErrorStyle(FLAT.render, _status, _retry)
answer_errors_as(bp, STYLE)


@bp.after_request
def cors(response: Response) -> Response:
    """Let browser pages on the configured origins read the answers (preflight included)."""
    allowed = context.settings().cors_origins
    origin = request.headers.get("Origin", "")
    if "*" in allowed:
        response.headers["Access-Control-Allow-Origin"] = "*"
    elif origin and origin.rstrip("/") in allowed:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.vary.add("Origin")
    else:
        return response
    response.headers.update(_CORS)
    return response


def _params() -> dict[str, Any]:
    """The request's parameters: its JSON object, else its form fields and query string."""
    return context.parameters("Invalid JSON format")


def _string(params: dict[str, Any], name: str) -> str:
    value = params.get(name)
    if value is None or value == "":
        raise InvalidRequest(f"Invalid request: missing {name} parameter")
    if not isinstance(value, str):
        raise InvalidRequest(f"Invalid request: {name} must be a string")
    return value


def _alternatives(value: Any) -> int:
    """A count: an integer (4.0 is 4, as JSON Schema says), or digits in a string (forms)."""
    if value is None or value == "":
        return 0
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and re.fullmatch(r"[0-9]+", value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequest("Invalid request: alternatives parameter is not a number")
    if value < 0:
        raise InvalidRequest("Invalid request: alternatives parameter must be >= 0")
    return value


def _check_api_key(params: dict[str, Any]) -> None:
    """A string or null; whether it is a known key is `service.http.access`'s to check."""
    if not isinstance(params.get("api_key", ""), str | None):
        raise InvalidRequest("Invalid request: api_key must be a string")


def _api_key() -> str | None:
    """LibreTranslate's own key form, `api_key` in the parameters, for access control; a body
    that cannot be read holds no key (the view then says what is wrong with it)."""
    if request.method != "POST":
        return None
    try:
        value = _params().get("api_key")
    except ServiceError:
        return None
    return value.strip() if isinstance(value, str) and value.strip() else None


read_keys_with(bp, _api_key)


def _language(found: Detection) -> dict[str, Any]:
    return {"confidence": found.confidence, "language": found.language}


@_post(
    "/translate",
    "LibreTranslate: translate `q` (a string or a list; the answer mirrors it).",
    LibreTranslateQuery,
    LibreTranslated,
)
def translate() -> Response:
    params = _params()
    q = params.get("q")
    if q is None or q == "" or q == []:
        raise InvalidRequest("Invalid request: missing q parameter")
    batch = isinstance(q, list)
    texts = q if batch else [q]
    if not all(isinstance(text, str) for text in texts):
        raise InvalidRequest("Invalid request: q must be a string or a list of strings")
    source, target = _string(params, "source"), _string(params, "target")
    text_format = params.get("format")
    text_format = "text" if text_format in (None, "") else text_format
    if not isinstance(text_format, str) or text_format not in FORMATS:
        raise InvalidRequest(f"{shown(str(text_format))} format is not supported")
    alternatives = _alternatives(params.get("alternatives"))
    _check_api_key(params)
    request_ = tasks.TranslateRequest(texts, target, source, text_format, field="q")
    results = context.run(tasks.translate, request_).translations
    body: dict[str, Any] = {}
    if source == tasks.AUTO:
        found = [_language(r.detected) for r in results if r.detected]
        body["detectedLanguage"] = found if batch else found[0]
    body["translatedText"] = [r.text for r in results] if batch else results[0].text
    if alternatives > 0:
        # The engine returns one sequence per input: no alternatives to offer (see README).
        body["alternatives"] = [[] for _ in results] if batch else []
    return jsonify(body)


@_post(
    "/detect",
    "LibreTranslate: the likeliest languages of `q`, best first.",
    LibreTranslateDetectQuery,
    LibreTranslateDetected,
)
def detect() -> Response:
    params = _params()
    _check_api_key(params)
    q = params.get("q")
    if q is None or q == "":
        raise InvalidRequest("Invalid request: missing q parameter")
    if not isinstance(q, str):
        raise InvalidRequest("Invalid request: q must be a string")
    result = context.run(tasks.detect, tasks.DetectRequest([q], field="q"))
    return jsonify([_language(found) for found in result.languages[0]])


@route(
    bp,
    "/languages",
    "GET",
    Doc(
        "LibreTranslate: languages served and their targets (open when keys are on).",
        "LibreTranslate",
        response=LibreTranslateLanguages,
    ),
)
@open_to_all
def languages() -> Response:
    """Every language served, sources and target-only ones alike, with what each translates to
    (Mastodon reads `targets`; Discourse checks both codes of a pair are listed)."""
    pairs = context.engine().pairs()
    codes = dict.fromkeys([p.source for p in pairs] + [p.target for p in pairs])
    return jsonify(
        [
            {
                "code": code,
                "name": language_name(code),
                "targets": [p.target for p in pairs if p.source == code],
            }
            for code in codes
        ]
    )


# ----- documents ------------------------------------------------------------------------------
class LibreTranslateFileQuery(BaseModel):
    file: bytes = Field(
        description="The document: its format is decided by its content (see the README's "
        "Documents); at most DOC_MAX_BYTES."
    )
    source: SourceOrAuto = Field(description="Source language code, or `auto` (one detection).")
    target: Target
    api_key: str | None = Field(None, description="The API key, when keys are on.")


class LibreTranslateFileAnswer(BaseModel):
    translatedFileUrl: str = Field(  # noqa: N815 - LibreTranslate's name
        description="Where the translation is downloaded, once, by the same key."
    )


class LibreTranslateFrontendSettings(BaseModel):
    charLimit: int  # noqa: N815 - LibreTranslate's names
    frontendTimeout: int  # noqa: N815
    apiKeys: bool  # noqa: N815
    keyRequired: bool  # noqa: N815
    suggestions: bool
    filesTranslation: bool  # noqa: N815
    supportedFilesFormat: list[str]  # noqa: N815
    language: dict[str, dict[str, str]]


DOCUMENT_ERRORS = {
    **ERRORS,
    "400": "Missing or invalid parameter, unsupported language, a corrupt or truncated file, "
    "or one with XML entity declarations.",
    "413": "The file is over DOC_MAX_BYTES, or its zip over the member, size or ratio limits.",
    "415": "The file's content is not a format served, or it is a macro-enabled Office file.",
}


@bp.url_value_preprocessor
def upload_limit(endpoint: str | None, values: dict[str, Any] | None) -> None:
    """An upload may be DOC_MAX_BYTES (and its form's framing), not MAX_BODY_BYTES: set before
    anything (the API key reader included) reads the body."""
    if endpoint == "libretranslate.translate_file":
        request.max_content_length = context.settings().doc_upload_bytes + 1


@route(
    bp,
    "/translate_file",
    "POST",
    Doc(
        "LibreTranslate: translate a document (multipart `file`); the answer is its URL.",
        "LibreTranslate",
        request=LibreTranslateFileQuery,
        response=LibreTranslateFileAnswer,
        errors=DOCUMENT_ERRORS,
        style="flat",
        request_media_type="multipart/form-data",
    ),
)
def translate_file() -> Response:
    params = _params()
    _check_api_key(params)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise InvalidRequest("Invalid request: missing file parameter")
    source, target = _string(params, "source"), _string(params, "target")
    limits = context.document_limits()
    document = tasks.DocumentRequest(
        upload.read(limits.max_bytes + 1), upload.filename, target, source, limits=limits
    )
    result = context.run(tasks.translate_document, document)
    file_id = context.documents().put(
        g.get("key_name"), result.filename, result.data, result.media_type
    )
    return jsonify(
        {"translatedFileUrl": f"{request.host_url}download_file/{file_id}.{result.filename}"}
    )


@route(
    bp,
    "/download_file/<name>",
    "GET",
    Doc(
        "LibreTranslate: a translated document, once, to the key that uploaded it.",
        "LibreTranslate",
        errors={
            "403": ERRORS["403"],
            "404": "No such file for this key: never was, downloaded already, or expired.",
        },
        style="flat",
        media_type="application/octet-stream",
        path_parameters={"name": "file-name"},
    ),
)
def download_file(name: str) -> Response:
    found = context.documents().take(name.split(".", 1)[0], g.get("key_name"))
    if found is None:
        raise NotFound("no such file: it was downloaded already, has expired or never was")
    return send_file(
        io.BytesIO(found.data),
        mimetype=found.media_type,
        as_attachment=True,
        download_name=found.name,
        max_age=0,
    )


@route(
    bp,
    "/frontend/settings",
    "GET",
    Doc(
        "LibreTranslate: what its web page reads first (limits, keys, file translation).",
        "LibreTranslate",
        response=LibreTranslateFrontendSettings,
    ),
)
@open_to_all
def frontend_settings() -> Response:
    settings = context.settings()
    pairs = context.engine().pairs()
    source = pairs[0].source if pairs else "en"
    target = pairs[0].target if pairs else "en"
    keys = bool(settings.api_keys or settings.api_keys_file)
    return jsonify(
        {
            "charLimit": settings.max_text_chars,
            "frontendTimeout": 500,
            "apiKeys": keys,
            "keyRequired": keys,
            "suggestions": False,
            "filesTranslation": True,
            "supportedFilesFormat": supported_extensions(),
            "language": {
                "source": {"code": source, "name": language_name(source)},
                "target": {"code": target, "name": language_name(target)},
            },
        }
    )
