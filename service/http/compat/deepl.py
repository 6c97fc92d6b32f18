"""DeepL's API v2 at its own paths, so the official `deepl` clients (`server_url`) and the tools
that take a DeepL or DeepLX URL work with this service by changing only the URL.

`POST /v2/translate`, `GET|POST /v2/languages`, `GET|POST /v2/usage`, DeepL's document flow
(`POST /v2/document` uploads and queues, `POST /v2/document/<id>` its status, `POST
/v2/document/<id>/result` the file, once; each with the `document_key` the upload answered: a
background job, as `/v1/documents` runs them), and DeepLX's body at `POST /deeplx/translate`
(not at `/translate`, which is LibreTranslate's). Bodies are JSON or form
fields, as DeepL reads both; codes are DeepL's (`EN`, `FR`, `EN-GB`: a variant is read as its
language); errors are `{"message": "..."}` with DeepL's statuses. A key is read from
`Authorization: DeepL-Auth-Key <key>` or the legacy `auth_key` field (`_auth_key`), and checked
by `service.http.access` before the view runs. What each parameter does here is in `_IGNORED`,
`_REFUSED` and the README.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from typing import Any, Literal

from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel, Field, RootModel

from service import tasks
from service.core.errors import InvalidRequest, NotFound, NotReady, QuotaExceeded, ServiceError
from service.http import context
from service.http import document_jobs as documents
from service.http.access import characters_used, read_keys_with
from service.http.bodies import shown
from service.http.described import DeepLSource, DeepLTarget, Doc, Text, Texts, route
from service.http.errors import ErrorStyle, answer_errors_as
from service.text.language import language_name

bp = Blueprint("deepl", __name__)


def _boolean(value: Any) -> bool:
    return isinstance(value, bool) or (
        isinstance(value, str) and value in ("0", "1", "true", "false")
    )


def _tags(value: Any) -> bool:
    return isinstance(value, str) or (
        isinstance(value, list) and all(isinstance(tag, str) for tag in value)
    )


def _one_of(*values: str) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, str) and value in values


# Accepted and ignored, once valid as DeepL checks them: what the models have no use for, or
# cannot do and DeepL itself ignores for such languages.
_IGNORED: dict[str, Callable[[Any], bool]] = {
    "context": lambda value: isinstance(value, str),  # never translated, only a hint
    "split_sentences": _one_of("0", "1", "nonewlines"),  # always split, line breaks kept
    "preserve_formatting": _boolean,  # the service changes no formatting of its own
    "outline_detection": _boolean,
    "show_billed_characters": _boolean,  # billed_characters is always answered
    "non_splitting_tags": _tags,  # every tag splits: text nodes are translated one by one
    "splitting_tags": _tags,
    "tag_handling_version": _one_of("v1", "v2"),
    "model_type": _one_of("quality_optimized", "prefer_quality_optimized", "latency_optimized"),
}
# Refused with 400 when set: ignoring them would hand back a translation that silently is not
# what was asked (no glossary terms applied, ignored tags translated).
_REFUSED = ("glossary_id", "ignore_tags")
_FORMALITIES = ("default", "prefer_more", "prefer_less")  # "more" / "less": no language has it
_VARIANTS = {"en": ("EN-GB", "EN-US"), "pt": ("PT-BR", "PT-PT")}  # DeepL's targets for these
# Reported by /v2/usage when no character limit is set.
_NO_LIMIT = 10**12

ERRORS = {
    "400": "A missing or invalid parameter, an unsupported language or parameter.",
    "403": "API keys are on and the request has no key or an unknown one.",
    "404": "No such document for this key (or a wrong `document_key`), or its result was "
    "downloaded already.",
    "413": "The body, a text or the number of texts is over the configured limit; a document "
    "over DOC_MAX_BYTES or the zip limits.",
    "429": "The request rate limit is spent; Retry-After says when to try again.",
    "456": "The character limit (RATE_LIMIT_CHARS) is spent.",
    "500": "The model failed, or a bug; the message carries only the request id to quote.",
    "503": "The queue is full or the model is loading: retry after Retry-After.",
    "504": "The request did not finish within ITEM_TIMEOUT_S.",
}


_FLAG = bool | Literal["0", "1", "true", "false"] | None
_TAG_NAMES = str | list[str] | None


class DeepLTranslateQuery(BaseModel):
    text: Texts | Text = Field(description="The texts to translate (a string: one).")
    target_lang: DeepLTarget = Field(description="Target language (a variant, EN-GB: its own).")
    source_lang: DeepLSource | None = Field(None, description="Source language; absent: detected.")
    tag_handling: Literal["html"] | None = Field(None, description="`html` keeps tags.")
    formality: Literal["default", "prefer_more", "prefer_less"] | None = Field(
        None, description="Accepted; no language served has formality (`more`, `less`: 400)."
    )
    context: str | None = Field(None, description="Accepted; not used.")
    split_sentences: Literal["0", "1", "nonewlines"] | None = Field(
        None, description="Accepted; sentences are always split and line breaks kept."
    )
    preserve_formatting: _FLAG = Field(None, description="Accepted; nothing is reformatted.")
    outline_detection: _FLAG = None
    show_billed_characters: _FLAG = Field(None, description="Always answered.")
    non_splitting_tags: _TAG_NAMES = Field(None, description="Accepted; every tag splits.")
    splitting_tags: _TAG_NAMES = None
    tag_handling_version: Literal["v1", "v2"] | None = None
    model_type: (
        Literal["quality_optimized", "prefer_quality_optimized", "latency_optimized"] | None
    ) = Field(None, description="Accepted; there is one model per pair.")


class DeepLTranslation(BaseModel):
    detected_source_language: str
    text: str
    billed_characters: int


class DeepLTranslated(BaseModel):
    translations: list[DeepLTranslation]


class DeepLLanguage(BaseModel):
    language: str
    name: str
    supports_formality: bool | None = None


class DeepLLanguages(RootModel[list[DeepLLanguage]]):
    """Source languages, or target languages with `supports_formality`."""


class DeepLUsage(BaseModel):
    character_count: int
    character_limit: int


class DeepLXQuery(BaseModel):
    text: Text
    target_lang: DeepLTarget
    source_lang: DeepLSource | None = None


class DeepLXTranslated(BaseModel):
    code: int
    data: str
    source_lang: str
    target_lang: str
    alternatives: list[str]


def _render(status: int, code: str, message: str, field: str | None = None) -> Response:
    response = jsonify({"message": message})
    response.status_code = status
    return response


def _status(exc: ServiceError) -> int:
    """DeepL's statuses: 403 for a missing or unknown key, 456 for a spent character quota, 429
    for too many requests, 413 for too large, 404 for no such document, 503 for a document not
    translated yet, 400 for every other client error (a file not served too); 5xx as they are
    (the official client retries 429 and 5xx by itself)."""
    if isinstance(exc, QuotaExceeded):
        return 456
    if exc.status == 401:
        return 403
    if isinstance(exc, NotReady):
        return 503  # the official client's "document not ready"
    if exc.status in (404, 413, 429) or exc.status >= 500:
        return exc.status
    return 400


answer_errors_as(bp, ErrorStyle(_render, _status))


def _params() -> dict[str, Any]:
    """The parameters: the JSON object, or the form fields and query string (`text` repeated;
    the official client sends `type` as a GET's form body)."""
    return context.parameters("Invalid request: expected a JSON object.", lists=("text",))


def _auth_key() -> str | None:
    """DeepL's key forms: `Authorization: DeepL-Auth-Key <key>`, else an `auth_key` field."""
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "deepl-auth-key" and key.strip():
        return key.strip()
    try:
        value = _params().get("auth_key")
    except ServiceError:
        return None  # the view says what is wrong with the body
    return value.strip() if isinstance(value, str) and value.strip() else None


read_keys_with(bp, _auth_key)


def _language(params: dict[str, Any], name: str) -> str | None:
    """A DeepL code as the service's: `EN-GB` -> `en`. None when absent."""
    value = params.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"Value for '{name}' not supported.")
    return value.strip().split("-")[0].lower()


def _texts(params: dict[str, Any]) -> list[str]:
    texts = params.get("text")
    texts = [texts] if isinstance(texts, str) else texts
    if not texts or not isinstance(texts, list):
        raise InvalidRequest("Parameter 'text' not specified.")
    if not all(isinstance(text, str) for text in texts):
        raise InvalidRequest("Parameter 'text' must be a list of strings.")
    return texts


def _format(params: dict[str, Any]) -> str:
    """`tag_handling`: none is text, `html` keeps tags; `xml` is refused: the markup parser is
    HTML's and would lower-case XML's tag names."""
    handling = params.get("tag_handling")
    if handling in (None, ""):
        return "text"
    if handling != "html":
        raise InvalidRequest(f"Value for 'tag_handling' not supported: {shown(str(handling))}.")
    return "html"


def _check_parameters(params: dict[str, Any]) -> None:
    """Refuse an invalid value of a parameter that is ignored (as DeepL would), and what
    ignoring would misrepresent (see _REFUSED, _FORMALITIES)."""
    for name, valid in _IGNORED.items():
        if params.get(name) is not None and not valid(params[name]):
            raise InvalidRequest(f"Value for '{name}' not supported.")
    for name in _REFUSED:
        if params.get(name) not in (None, "", []):
            raise InvalidRequest(f"'{name}' is not supported by this server.")
    formality = params.get("formality")
    if formality not in (None, "", *_FORMALITIES):
        raise InvalidRequest("'formality' is not supported for the given 'target_lang'.")


def _translate(params: dict[str, Any]) -> list[dict[str, Any]]:
    """Translate DeepL's parameters; per text, DeepL's fields of a translation."""
    texts = _texts(params)
    target = _language(params, "target_lang")
    if target is None:
        raise InvalidRequest("Parameter 'target_lang' not specified.")
    source = _language(params, "source_lang") or tasks.AUTO
    text_format = _format(params)
    _check_parameters(params)
    request_ = tasks.TranslateRequest(texts, target, source, text_format, field="text")
    results = context.run(tasks.translate, request_).translations
    return [
        {
            "detected_source_language": (r.detected.language if r.detected else r.source).upper(),
            "text": r.text,
            "billed_characters": len(text),
        }
        for r, text in zip(results, texts, strict=True)
    ]


def _doc(summary: str, request_model: Any = None, response: Any = None) -> Doc:
    return Doc(
        summary, "DeepL", request=request_model, response=response, errors=ERRORS, style="deepl"
    )


_TRANSLATE = _doc("DeepL: translate texts.", DeepLTranslateQuery, DeepLTranslated)
_LANGUAGES = _doc("DeepL: languages served (`type`: source or target).", None, DeepLLanguages)
_USAGE = _doc("DeepL: characters counted and the limit.", None, DeepLUsage)
_DEEPLX = _doc("DeepLX: translate one text.", DeepLXQuery, DeepLXTranslated)


@route(bp, "/v2/translate", "POST", _TRANSLATE)
def translate() -> Response:
    return jsonify({"translations": _translate(_params())})


def _codes(languages: list[str], targets: bool) -> list[dict[str, Any]]:
    listed = []
    for code in languages:
        for shown_as in _VARIANTS.get(code, (code.upper(),)) if targets else (code.upper(),):
            entry: dict[str, Any] = {"language": shown_as, "name": language_name(code)}
            if targets:
                entry["supports_formality"] = False
            listed.append(entry)
    return listed


@route(bp, "/v2/languages", "GET", _LANGUAGES)
def languages() -> Response:
    kind = _params().get("type") or "source"
    if kind not in ("source", "target"):
        raise InvalidRequest("Value for 'type' not supported.")
    pairs = context.engine().pairs()
    side = [p.target if kind == "target" else p.source for p in pairs]
    return jsonify(_codes(list(dict.fromkeys(side)), kind == "target"))


@route(bp, "/v2/usage", "GET", _USAGE)
def usage() -> Response:
    """The caller's characters against the tightest character limit, as access control counts
    them (the body's characters); without a limit, 0 of 10^12."""
    used, limit = characters_used() or (0, _NO_LIMIT)
    return jsonify({"character_count": used, "character_limit": limit})


@route(bp, "/deeplx/translate", "POST", _DEEPLX)
def deeplx() -> Response:
    params = _params()
    if not isinstance(params.get("text"), str):
        raise InvalidRequest("Parameter 'text' must be a string.")
    found = _translate(params)[0]
    target = params.get("target_lang")
    return jsonify(
        {
            "code": 200,
            "data": found["text"],
            "source_lang": found["detected_source_language"],
            "target_lang": target.upper() if isinstance(target, str) else target,
            "alternatives": [],
        }
    )


# ----- documents ------------------------------------------------------------------------------
# Document statuses: the job's, in DeepL's words.
_DOCUMENT_STATUSES = {"queued": "queued", "running": "translating", "done": "done"}


class DeepLDocumentUpload(BaseModel):
    file: bytes = Field(description="The document (its format is decided by its content).")
    target_lang: DeepLTarget
    source_lang: DeepLSource | None = Field(None, description="Absent: detected once.")
    filename: str | None = Field(None, description="The file's name, when `file` has none.")


class DeepLDocumentHandle(BaseModel):
    document_id: str
    document_key: str = Field(description="Sent with every later call for this document.")


class DeepLDocumentKey(BaseModel):
    document_key: str = Field(min_length=1, description="What the upload answered.")


class DeepLDocumentStatus(BaseModel):
    document_id: str
    status: Literal["queued", "translating", "done", "error"]
    seconds_remaining: int | None = Field(None, description="While translating, when known.")
    billed_characters: int | None = Field(None, description="When done: the text's characters.")
    error_message: str | None = Field(None, description="When the status is `error`.")


@bp.url_value_preprocessor
def upload_limit(endpoint: str | None, values: dict[str, Any] | None) -> None:
    documents.allow_upload(endpoint)


def _key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@route(
    bp,
    "/v2/document",
    "POST",
    Doc(
        "DeepL: upload a document to translate (multipart `file`).",
        "DeepL",
        request=DeepLDocumentUpload,
        response=DeepLDocumentHandle,
        errors=ERRORS,
        style="deepl",
        request_media_type="multipart/form-data",
    ),
)
def document_upload() -> Response:
    params = _params()
    target = _language(params, "target_lang")
    if target is None:
        raise InvalidRequest("Parameter 'target_lang' not specified.")
    source = _language(params, "source_lang") or tasks.AUTO
    _check_parameters(params)
    if params.get("output_format") not in (None, ""):
        raise InvalidRequest("'output_format' is not supported by this server.")
    filename = params.get("filename")
    name, data = documents.upload(filename if isinstance(filename, str) else None)
    documents.check_pair(source, target, "target_lang")
    info = documents.inspect(name, data)
    key = secrets.token_hex(32)
    options = {"task": "translate", "target": target, "source": source}
    job = documents.create(options | {"key": _key_digest(key)}, name, data, info)
    return jsonify({"document_id": job.id, "document_key": key})


def _document(document_id: str) -> Any:
    """The caller's document job, when `document_key` is its key; else 404 (never told apart)."""
    key = _params().get("document_key")
    if not isinstance(key, str) or not key:
        raise InvalidRequest("Parameter 'document_key' not specified.")
    try:
        job = documents.find(document_id)
    except NotFound:
        raise NotFound("Document not found.") from None
    if not hmac.compare_digest(str(job.spec.options.get("key", "")), _key_digest(key)):
        raise NotFound("Document not found.")
    return job


@route(
    bp,
    "/v2/document/<document_id>",
    "POST",
    Doc(
        "DeepL: a document's status.",
        "DeepL",
        request=DeepLDocumentKey,
        response=DeepLDocumentStatus,
        errors=ERRORS,
        style="deepl",
        path_parameters={"document_id": "job-id"},
    ),
)
def document_status(document_id: str) -> Response:
    job = _document(document_id)
    found = documents.outcome(job)
    body: dict[str, Any] = {"document_id": job.id}
    status = _DOCUMENT_STATUSES.get(job.status, "error")
    if found is not None and found.error is not None:
        status = "error"
        body["error_message"] = found.error.message
    elif status == "error":
        body["error_message"] = f"the document was {job.status}"
    body["status"] = status
    if status == "translating":
        eta = documents.status(job, None)["eta_s"]
        if eta is not None:
            body["seconds_remaining"] = round(eta)
    if status == "done":
        body["billed_characters"] = job.spec.options.get("characters", 0)
    return jsonify(body)


@route(
    bp,
    "/v2/document/<document_id>/result",
    "POST",
    Doc(
        "DeepL: download a translated document, once.",
        "DeepL",
        request=DeepLDocumentKey,
        errors=ERRORS,
        style="deepl",
        media_type="application/octet-stream",
        path_parameters={"document_id": "job-id"},
    ),
)
def document_result(document_id: str) -> Response:
    job = _document(document_id)
    found = documents.outcome(job)
    if found is None and job.status in ("queued", "running"):
        raise NotReady("Document not ready.")
    if found is None or found.error is not None:
        raise InvalidRequest("Document translation failed.")
    try:
        return documents.download(job)
    except NotFound:
        raise NotFound("Document already downloaded.") from None
