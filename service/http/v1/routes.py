"""The `/v1` API: its JSON request -> an operation -> its JSON answer. No policy here: the
operations (`service.tasks`) check limits, pairs and languages; `service.http.errors` renders
what they raise."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from service import tasks
from service.core.errors import UnsupportedMediaType
from service.http import context
from service.http.access import open_to_all
from service.http.bodies import parse
from service.http.described import Doc, route
from service.http.v1.schemas import (
    ArticleRequest,
    ArticleResponse,
    DetectRequest,
    DetectResponse,
    SummarizeRequest,
    SummaryResponse,
    TranslateRequest,
    TranslationResponse,
)
from service.text.language import Detection

bp = Blueprint("api", __name__)

# What each status means on the /v1 routes that use a model (the error shape is ErrorResponse).
ERRORS = {
    "400": "Malformed JSON, a missing, unknown or wrong-typed field, empty text, an unsupported "
    "language (the message lists the pairs served), or a `min_length` above `max_length`. "
    "`field` names the field at fault.",
    "401": "API keys are on (API_KEYS, API_KEYS_FILE) and the request has no key or an unknown "
    "one; `WWW-Authenticate` says how to send one.",
    "413": "The body, a text or the number of texts is over the configured limit (see the "
    "limits above); the message names the limit.",
    "415": "The body is not sent as application/json.",
    "429": "A rate limit (RATE_LIMIT, RATE_LIMIT_CHARS or the key's own) is spent; Retry-After "
    "says when to try again.",
    "500": "The model failed (`generation_failed`) or a bug (`internal_error`); the message "
    "carries no internals, only the request id to quote.",
    "503": "The queue is full (`overloaded`), the model is not loaded (`model_unavailable`) or "
    "the shared rate-limit store is down (`rate_limit_unavailable`): all with Retry-After, retry "
    "then. One input too big for device memory (`out_of_memory`) has no Retry-After: the same "
    "input will not fit again.",
    "504": "The request did not finish within ITEM_TIMEOUT_S (`timeout`).",
}


def _language(found: Detection) -> dict[str, Any]:
    return {"language": found.language, "confidence": found.confidence}


def _body() -> Any:
    if not request.is_json:
        raise UnsupportedMediaType("send the body as JSON with Content-Type: application/json")
    return context.json_body()


def _one_or_many(single: bool, one: str, many: str, values: list[Any]) -> dict[str, Any]:
    """`{one: first}` when the request gave `text`, else `{many: values}`."""
    return {one: values[0]} if single else {many: values}


@route(
    bp,
    "/v1/summarize",
    "POST",
    Doc(
        "Summarise a text (`text`) or several (`texts`).",
        "v1",
        "Long texts are split into chunks on sentence boundaries; the chunk summaries are "
        "combined (and summarised again while too long). `length`, `min_length` and "
        "`max_length` bound the summary in tokens (see the introduction), `num_beams` sets beam "
        "search. The answer has `summary` for `text`, `summaries` (in order) for `texts`, and "
        "`chunks`: a list, one count per text.",
        SummarizeRequest,
        SummaryResponse,
        ERRORS,
        example={
            "text": "Syria's army routed rebels from the town of Qusayr ...",
            "length": "short",
        },
    ),
)
def summarize() -> Response:
    req: SummarizeRequest = parse(SummarizeRequest, _body())
    result = context.run(
        tasks.summarize, tasks.SummarizeRequest(req.items(), req.options(), field=req.field())
    )
    body = {"model": result.model, "chunks": [s.chunks for s in result.summaries]}
    texts = [s.text for s in result.summaries]
    return jsonify(body | _one_or_many(req.text is not None, "summary", "summaries", texts))


@route(
    bp,
    "/v1/translate",
    "POST",
    Doc(
        "Translate a text or several; paragraph breaks are kept.",
        "v1",
        "Each text is split into sentences, translated sentence by sentence (none is truncated) "
        "and put back with its paragraph breaks. `source: auto` detects each text's language "
        "first and answers `detected`; `format: html` translates the text between tags and "
        "keeps every tag and attribute.",
        TranslateRequest,
        TranslationResponse,
        ERRORS,
        example={"text": "The talks resumed on Monday.", "target": "ar"},
    ),
)
def translate() -> Response:
    req: TranslateRequest = parse(TranslateRequest, _body())
    operation = tasks.TranslateRequest(
        req.items(), req.target, req.source, req.format, req.options(), field=req.field()
    )
    result = context.run(tasks.translate, operation)
    single = req.text is not None
    texts = [t.text for t in result.translations]
    body = {"source": req.source, "target": req.target, "model": result.model}
    body |= _one_or_many(single, "translation", "translations", texts)
    detected = [_language(d) for d in result.detected]
    if detected:
        body["detected"] = detected[0] if single else detected
    return jsonify(body)


@route(
    bp,
    "/v1/detect",
    "POST",
    Doc(
        "Detect the language of a text (`text`) or several (`texts`).",
        "v1",
        "The likeliest languages, best first, with a confidence from 0 to 100 (py3langid, no "
        "model queue). Texts of one to three words are often misread.",
        DetectRequest,
        DetectResponse,
        ERRORS,
        example={"text": "Le conseil a approuvé le nouveau pont mardi."},
    ),
)
def detect() -> Response:
    req: DetectRequest = parse(DetectRequest, _body())
    result = context.run(tasks.detect, tasks.DetectRequest(req.items(), field=req.field()))
    found = [[_language(d) for d in languages] for languages in result.languages]
    if req.text is not None:
        return jsonify({"languages": found[0]})
    return jsonify({"results": [{"languages": languages} for languages in found]})


@route(
    bp,
    "/v1/articles",
    "POST",
    Doc(
        "Summarise one article and translate the summary into each language asked.",
        "v1",
        "One call for the summary and its translations (`translate_to`, none for the summary "
        "alone). The summary options are those of `/v1/summarize`; `chunks` is one integer "
        "here, as an article is one text. `source: auto` checks that the article is English and "
        "answers `detected`.",
        ArticleRequest,
        ArticleResponse,
        ERRORS,
        example={"text": "Syria's army routed rebels ...", "translate_to": ["ar", "fr"]},
    ),
)
def articles() -> Response:
    req: ArticleRequest = parse(ArticleRequest, _body())
    operation = tasks.ArticleRequest(req.text, req.translate_to, req.source, req.options())
    result = context.run(tasks.article, operation)
    translations = result.translations
    return jsonify(
        {
            "summary": result.summary.text,
            "translations": {lang: t.text for lang, t in translations.items()},
            "models": {"summarize": result.summary.model}
            | {lang: t.model for lang, t in translations.items()},
            "chunks": result.summary.chunks,
        }
        | ({"detected": _language(result.detected)} if result.detected else {})
    )


@route(
    bp,
    "/v1/languages",
    "GET",
    Doc(
        "Translation pairs served.",
        "v1",
        'The pairs: `{"pairs": [{"source", "target", "model"}]}`. Open when keys are on.',
    ),
)
@open_to_all
def languages() -> Response:
    """Open with keys on: the page and clients read it before they have a key."""
    engine = context.engine()
    names = {spec.key: spec.name for spec in engine.specs}
    pairs = [
        {"source": pair.source, "target": pair.target, "model": names[pair.key]}
        for pair in engine.pairs()
    ]
    return jsonify({"pairs": pairs})


@route(
    bp,
    "/v1/models",
    "GET",
    Doc(
        "Loaded models and their settings.",
        "v1",
        "Each model: task, source (Hub id or path), device, dtype, state, generation defaults, "
        "batching settings, output cache state.",
        errors={"401": ERRORS["401"], "429": ERRORS["429"]},
    ),
)
def models() -> Response:
    return jsonify({"models": context.engine().describe()})
