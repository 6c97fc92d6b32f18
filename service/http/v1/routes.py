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
from service.http.v1.schemas import (
    ArticleRequest,
    DetectRequest,
    SummarizeRequest,
    TranslateRequest,
)
from service.text.language import Detection

bp = Blueprint("api", __name__)


def _language(found: Detection) -> dict[str, Any]:
    return {"language": found.language, "confidence": found.confidence}


def _body() -> Any:
    if not request.is_json:
        raise UnsupportedMediaType("send the body as JSON with Content-Type: application/json")
    return context.json_body()


def _one_or_many(single: bool, one: str, many: str, values: list[Any]) -> dict[str, Any]:
    """`{one: first}` when the request gave `text`, else `{many: values}`."""
    return {one: values[0]} if single else {many: values}


@bp.post("/v1/summarize")
def summarize() -> Response:
    req: SummarizeRequest = parse(SummarizeRequest, _body())
    result = context.run(
        tasks.summarize, tasks.SummarizeRequest(req.items(), req.options(), req.field())
    )
    body = {"model": result.model, "chunks": [s.chunks for s in result.summaries]}
    texts = [s.text for s in result.summaries]
    return jsonify(body | _one_or_many(req.text is not None, "summary", "summaries", texts))


@bp.post("/v1/translate")
def translate() -> Response:
    req: TranslateRequest = parse(TranslateRequest, _body())
    operation = tasks.TranslateRequest(
        req.items(), req.target, req.source, req.format, req.options(), req.field()
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


@bp.post("/v1/detect")
def detect() -> Response:
    req: DetectRequest = parse(DetectRequest, _body())
    result = context.run(tasks.detect, tasks.DetectRequest(req.items(), req.field()))
    found = [[_language(d) for d in languages] for languages in result.languages]
    if req.text is not None:
        return jsonify({"languages": found[0]})
    return jsonify({"results": [{"languages": languages} for languages in found]})


@bp.post("/v1/articles")
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


@bp.get("/v1/languages")
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


@bp.get("/v1/models")
def models() -> Response:
    return jsonify({"models": context.engine().describe()})
