"""Google Cloud Translation's v2 (Basic) REST API at its own paths, so its clients
(`google.cloud.translate_v2.Client` with `client_options={"api_endpoint": ...}`) and the tools
that call it work with this service by changing only the URL.

`/language/translate/v2` (translate), `/detect` and `/languages` under it, each by GET (query
string) or POST (JSON, or form fields); `q` is a string, a list, or repeated. Answers are under
`{"data": ...}`; errors are Google's `{"error": {"code", "message", "errors", "status"}}`. A key
is read from the `key` query parameter (`_key`) as well as the service's usual forms, and checked
by `service.http.access` before the view runs.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any, Literal

from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel, Field

from service import tasks
from service.core.errors import InvalidRequest, ServiceError
from service.http import context
from service.http.access import read_keys_with
from service.http.bodies import shown
from service.http.described import Doc, SourceOrAuto, Target, Text, Texts, route
from service.http.errors import ErrorStyle, answer_errors_as
from service.text.language import language_name

bp = Blueprint("google", __name__, url_prefix="/language/translate/v2")
FORMATS = ("html", "text")  # Google's default is html

ERRORS = {
    "400": "A missing or invalid parameter, an unsupported language, a text over a limit.",
    "403": "API keys are on and the request has no key or an unknown one (`key`, Bearer).",
    "429": "A rate limit is spent; Retry-After says when to try again.",
    "500": "The model failed, or a bug; the message carries only the request id to quote.",
    "503": "The queue is full or the model is loading: retry after Retry-After.",
    "504": "The request did not finish within ITEM_TIMEOUT_S.",
}
# Google's status names and error reasons, by HTTP status.
_STATUS = {
    400: ("INVALID_ARGUMENT", "invalid"),
    403: ("PERMISSION_DENIED", "forbidden"),
    404: ("NOT_FOUND", "notFound"),
    405: ("NOT_FOUND", "notFound"),
    429: ("RESOURCE_EXHAUSTED", "rateLimitExceeded"),
    500: ("INTERNAL", "backendError"),
    503: ("UNAVAILABLE", "backendError"),
    504: ("DEADLINE_EXCEEDED", "backendError"),
}


class GoogleTranslateQuery(BaseModel):
    q: Text | Texts = Field(description="A text or a list of texts.")
    target: Target
    source: SourceOrAuto | None = Field(None, description="Source language; absent: detected.")
    format: Literal["html", "text"] | None = Field(None, description="Default `html`.")
    model: str | None = Field(None, description="Accepted; there is one model per pair.")
    cid: str | list[str] | None = Field(None, description="Accepted and ignored.")


class GoogleTranslation(BaseModel):
    translatedText: str  # noqa: N815 - Google's names
    detectedSourceLanguage: str | None = None  # noqa: N815


class GoogleTranslations(BaseModel):
    translations: list[GoogleTranslation]


class GoogleTranslated(BaseModel):
    data: GoogleTranslations


class GoogleDetectQuery(BaseModel):
    q: Text | Texts


class GoogleDetection(BaseModel):
    language: str
    confidence: float = Field(ge=0, le=1)
    isReliable: bool  # noqa: N815


class GoogleDetections(BaseModel):
    detections: list[list[GoogleDetection]]


class GoogleDetected(BaseModel):
    data: GoogleDetections


class GoogleLanguage(BaseModel):
    language: str
    name: str | None = None


class GoogleLanguageList(BaseModel):
    languages: list[GoogleLanguage]


class GoogleLanguages(BaseModel):
    data: GoogleLanguageList


def _render(status: int, code: str, message: str, field: str | None = None) -> Response:
    name, reason = _STATUS.get(status, ("UNKNOWN", "backendError"))
    error = {"message": message, "domain": "global", "reason": reason}
    response = jsonify(
        {"error": {"code": status, "message": message, "errors": [error], "status": name}}
    )
    response.status_code = status
    return response


def _status(exc: ServiceError) -> int:
    """Google's statuses: 403 for a missing or unknown key, 400 for every other client error
    but 429 (a text over a limit too, as Google answers it); 5xx as they are."""
    if exc.status == HTTPStatus.UNAUTHORIZED:
        return HTTPStatus.FORBIDDEN
    if exc.status == HTTPStatus.TOO_MANY_REQUESTS or exc.status >= 500:
        return exc.status
    return HTTPStatus.BAD_REQUEST


answer_errors_as(bp, ErrorStyle(_render, _status))


def _key() -> str | None:
    """Google's key form, the `key` query parameter."""
    value = request.args.get("key", "").strip()
    return value or None


read_keys_with(bp, _key)


def _params() -> dict[str, Any]:
    """The query string (`q` repeated), with the JSON object or the form fields over it."""
    return context.parameters(
        "Invalid JSON payload received. Expected an object.", lists=("q",), query_with_json=True
    )


def _texts(params: dict[str, Any]) -> list[str]:
    q = params.get("q")
    texts = [q] if isinstance(q, str) else q
    if not texts or not isinstance(texts, list):
        raise InvalidRequest("Required Text", field="q")
    if not all(isinstance(text, str) for text in texts):
        raise InvalidRequest("Invalid value at 'q': expected strings", field="q")
    return texts


def _language(params: dict[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"Invalid Value for '{name}'", field=name)
    return value


def _check_ignored(params: dict[str, Any]) -> None:
    """`model` (a string) and `cid` (customisation ids: a string or a list) are accepted and
    ignored: there is one model per pair and nothing to customise."""
    model, cid = params.get("model"), params.get("cid")
    if model is not None and not isinstance(model, str):
        raise InvalidRequest("Invalid Value for 'model'", field="model")
    if not (cid is None or isinstance(cid, str)) and not (
        isinstance(cid, list) and all(isinstance(one, str) for one in cid)
    ):
        raise InvalidRequest("Invalid Value for 'cid'", field="cid")


def _format(params: dict[str, Any]) -> str:
    text_format = params.get("format")
    text_format = "html" if text_format in (None, "") else text_format
    if text_format not in FORMATS:
        raise InvalidRequest(f"Invalid Value for 'format': {shown(str(text_format))}")
    return text_format


def _doc(summary: str, request_model: Any, response: Any) -> Doc:
    return Doc(
        summary, "Google", request=request_model, response=response, errors=ERRORS, style="google"
    )


_TRANSLATE = "Google v2: translate `q` (GET: in the query string)."
_DETECT = "Google v2: the language of each `q` (GET: in the query string)."
_LANGUAGES = _doc("Google v2: languages served (`target`: with names).", None, GoogleLanguages)


@route(bp, "", "POST", _doc(_TRANSLATE, GoogleTranslateQuery, GoogleTranslated))
@route(bp, "", "GET", _doc(_TRANSLATE, None, GoogleTranslated))
def translate() -> Response:
    params = _params()
    texts = _texts(params)
    target = _language(params, "target")
    if target is None:
        raise InvalidRequest("Required Target", field="target")
    source = _language(params, "source")
    _check_ignored(params)
    request_ = tasks.TranslateRequest(
        texts, target, source or tasks.AUTO, _format(params), field="q"
    )
    results = context.run(tasks.translate, request_).translations
    translations = []
    for result in results:
        found: dict[str, Any] = {"translatedText": result.text}
        if source is None and result.detected:
            found["detectedSourceLanguage"] = result.detected.language
        translations.append(found)
    return jsonify({"data": {"translations": translations}})


@route(bp, "/detect", "POST", _doc(_DETECT, GoogleDetectQuery, GoogleDetected))
@route(bp, "/detect", "GET", _doc(_DETECT, None, GoogleDetected))
def detect() -> Response:
    request_ = tasks.DetectRequest(_texts(_params()), field="q")
    result = context.run(tasks.detect, request_)
    detections = [
        [{"language": best.language, "confidence": best.confidence / 100, "isReliable": False}]
        for best, *_ in result.languages
    ]
    return jsonify({"data": {"detections": detections}})


@route(bp, "/languages", "GET", _LANGUAGES)
def languages() -> Response:
    """Every language served (Google lists each as both a source and a target); with `target`,
    each with its English name (names are not localised)."""
    named = _language(_params(), "target") is not None
    listed = [
        {"language": code, "name": language_name(code)} if named else {"language": code}
        for code in tasks.served_languages(context.engine())
    ]
    return jsonify({"data": {"languages": listed}})
