"""The HTTP API: request -> validated options -> task -> JSON response.

Views raise domain errors; `service.http.app` turns them into the one JSON error shape.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from service import tasks
from service.core.errors import UnsupportedLanguage, UnsupportedMediaType
from service.http import context
from service.http.bodies import parse
from service.http.v1.schemas import (
    ArticleRequest,
    DetectRequest,
    SummarizeRequest,
    TranslateRequest,
)
from service.inference.registry import SUMMARIZE, TRANSLATE
from service.tasks.limits import check_texts
from service.text.language import Detection

bp = Blueprint("api", __name__)


def _language(found: Detection) -> dict[str, Any]:
    return {"language": found.language, "confidence": found.confidence}


def _body() -> Any:
    if not request.is_json:
        raise UnsupportedMediaType("send the body as JSON with Content-Type: application/json")
    return context.json_body()


def _note_items(items: int) -> None:
    """Record how many texts the request holds, for the request log line (failures too)."""
    g.items = items


def _note_batches(batch_ids: list[int]) -> None:
    """Record the batches the request ran in, for the request log line."""
    g.batch_ids = sorted(set(batch_ids))


@bp.post("/v1/summarize")
def summarize() -> Response:
    req: SummarizeRequest = parse(SummarizeRequest, _body())
    field = "text" if req.text is not None else "texts"
    texts = req.items()
    check_texts(texts, context.limits(), field)
    _note_items(len(texts))
    results = tasks.summarize(context.engine(), texts, req.options(), deadline=g.deadline)
    _note_batches([b for r in results for b in r.batch_ids])
    body: dict[str, Any] = {"model": results[0].model, "chunks": [r.chunks for r in results]}
    if req.text is not None:
        body["summary"] = results[0].text
    else:
        body["summaries"] = [r.text for r in results]
    return jsonify(body)


@bp.post("/v1/translate")
def translate() -> Response:
    req: TranslateRequest = parse(TranslateRequest, _body())
    field = "text" if req.text is not None else "texts"
    texts = req.items()
    engine = context.engine()
    if req.source != tasks.AUTO:
        tasks.resolve_pair(engine, req.source, req.target)
    check_texts(texts, context.limits(), field)
    _note_items(len(texts))
    results = tasks.translate(
        engine,
        texts,
        target=req.target,
        source=req.source,
        options=req.options(),
        text_format=req.format,
        detector=context.detector(),
        deadline=g.deadline,
    )
    _note_batches([b for r in results for b in r.batch_ids])
    body: dict[str, Any] = {"source": req.source, "target": req.target, "model": results[0].model}
    detected = [_language(r.detected) for r in results if r.detected]
    if req.text is not None:
        body["translation"] = results[0].text
    else:
        body["translations"] = [r.text for r in results]
    if detected:
        body["detected"] = detected[0] if req.text is not None else detected
    return jsonify(body)


@bp.post("/v1/detect")
def detect() -> Response:
    req: DetectRequest = parse(DetectRequest, _body())
    texts = req.items()
    check_texts(texts, context.limits(), "text" if req.text is not None else "texts")
    _note_items(len(texts))
    found = [[_language(d) for d in context.detector().detect(text)] for text in texts]
    if req.text is not None:
        return jsonify({"languages": found[0]})
    return jsonify({"results": [{"languages": languages} for languages in found]})


@bp.post("/v1/articles")
def articles() -> Response:
    req: ArticleRequest = parse(ArticleRequest, _body())
    engine = context.engine()
    source, detected = req.source, None
    if source == tasks.AUTO:
        check_texts([req.text], context.limits(), "text")
        detected = context.detector().detect(req.text, top=1)[0]
        source = detected.language
    tasks.check_summary_language(source, detected)
    for index, target in enumerate(req.translate_to):
        try:
            tasks.resolve_pair(engine, source, target)
        except UnsupportedLanguage as exc:
            if exc.field == "target":  # this request names targets in `translate_to`
                exc.field = f"translate_to.{index}"
            raise
    check_texts([req.text], context.limits(), "text")
    _note_items(1)
    result = tasks.article(
        engine,
        req.text,
        translate_to=req.translate_to,
        source=source,
        options=req.options(),
        deadline=g.deadline,
    )
    batch_ids = result.summary.batch_ids + [
        b for t in result.translations.values() for b in t.batch_ids
    ]
    _note_batches(batch_ids)
    return jsonify(
        {
            "summary": result.summary.text,
            "translations": {lang: t.text for lang, t in result.translations.items()},
            "models": {SUMMARIZE: result.summary.model}
            | {lang: t.model for lang, t in result.translations.items()},
            "chunks": result.summary.chunks,
        }
        | ({"detected": _language(detected)} if detected else {})
    )


@bp.get("/v1/languages")
def languages() -> Response:
    engine = context.engine()
    pairs = [
        {"source": m["source_lang"], "target": m["target_lang"], "model": m["source"]}
        for m in engine.describe()
        if m["task"] == TRANSLATE
    ]
    return jsonify({"pairs": pairs})


@bp.get("/v1/models")
def models() -> Response:
    return jsonify({"models": context.engine().describe()})
