"""The Hugging Face Inference API's summarization and translation tasks, under /hf, so
`huggingface_hub.InferenceClient(base_url=...)` and plain HF-style HTTP callers work unchanged.

Requests are `{"inputs": str | [str], "parameters": {...}}`; answers are always a list,
`[{"summary_text": ...}]` or `[{"translation_text": ...}]`, one per input; errors are
`{"error": "<message>"}`. The client sends its JSON without a Content-Type header, so a body
without one is read as JSON.
"""

from __future__ import annotations

from dataclasses import astuple
from typing import Any

from flask import Blueprint, Response, jsonify, request

from service import tasks
from service.core.errors import InvalidRequest, UnsupportedMediaType
from service.core.pairs import LanguagePair
from service.http import context
from service.http.bodies import shown
from service.http.errors import FLAT, answer_errors_as

bp = Blueprint("huggingface", __name__, url_prefix="/hf")
GENERATE_PARAMETERS = ("num_beams", "min_length", "max_length")
# Sent by InferenceClient on request, meaningless here: the service never truncates an input
# (long texts are split) and always cleans up tokenisation spaces.
IGNORED_PARAMETERS = ("truncation", "clean_up_tokenization_spaces")


# The service's own statuses: the Inference API also answers 400, 413, 503 (loading) and 500,
# and its client raises on any of them.
answer_errors_as(bp, FLAT)


def _body() -> dict[str, Any]:
    if request.mimetype not in ("", "application/json"):
        raise UnsupportedMediaType("send the body as JSON (application/json or no Content-Type)")
    body = context.json_body()
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be a JSON object")
    return body


def _inputs(body: dict[str, Any]) -> list[str]:
    inputs = body.get("inputs")
    texts = inputs if isinstance(inputs, list) else [inputs]
    if inputs is None or not all(isinstance(text, str) for text in texts):
        raise InvalidRequest("`inputs` must be a string or a list of strings")
    return texts


def _whole(name: str, value: Any) -> int:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequest(f"`generate_parameters.{name}` must be an integer")
    return value


def _parameters(body: dict[str, Any], own: tuple[str, ...]) -> tuple[dict, tasks.GenerationOptions]:
    """The request's `parameters` (own ones returned as given) and its generation options.
    Unknown parameters are refused by name, so a typo does not silently change nothing."""
    parameters = body.get("parameters")
    parameters = {} if parameters is None else parameters
    if not isinstance(parameters, dict):
        raise InvalidRequest("`parameters` must be an object")
    known = (*own, *IGNORED_PARAMETERS, "generate_parameters")
    unknown = [shown(str(name)) for name in sorted(set(parameters) - set(known))[:5]]
    if unknown:
        raise InvalidRequest(f"unsupported parameters {unknown}; supported: {list(known)}")
    generate = parameters.get("generate_parameters")
    generate = {} if generate is None else generate
    if not isinstance(generate, dict):
        raise InvalidRequest("`generate_parameters` must be an object")
    unknown = [shown(str(name)) for name in sorted(set(generate) - set(GENERATE_PARAMETERS))[:5]]
    if unknown:
        raise InvalidRequest(
            f"unsupported generate_parameters {unknown}; supported: {list(GENERATE_PARAMETERS)}"
        )
    values = {name: _whole(name, value) for name, value in generate.items() if value is not None}
    return parameters, tasks.GenerationOptions(**values)


@bp.post("/summarization")
def summarization() -> Response:
    body = _body()
    _, options = _parameters(body, ())
    request_ = tasks.SummarizeRequest(_inputs(body), options, field="inputs")
    result = context.run(tasks.summarize, request_)
    return jsonify([{"summary_text": s.text} for s in result.summaries])


def _translate(body: dict[str, Any], pair: str | None) -> Response:
    """The pair comes from the path, or else from `parameters.src_lang` and `tgt_lang`."""
    parameters, options = _parameters(body, () if pair else ("src_lang", "tgt_lang"))
    if pair is not None:
        try:
            source, target = astuple(LanguagePair.parse(pair))
        except ValueError:
            served = ", ".join(p.key for p in context.engine().pairs())
            raise InvalidRequest(
                f"{shown(pair)!r} is not SRC-TGT; supported pairs: {served}"
            ) from None
    else:
        source, target = parameters.get("src_lang"), parameters.get("tgt_lang")
        if not (isinstance(source, str) and isinstance(target, str)):
            raise InvalidRequest("give `parameters.src_lang` and `parameters.tgt_lang`")
    request_ = tasks.TranslateRequest(
        _inputs(body), target, source, options=options, field="inputs"
    )
    result = context.run(tasks.translate, request_)
    return jsonify([{"translation_text": t.text} for t in result.translations])


@bp.post("/translation")
def translation() -> Response:
    return _translate(_body(), None)


@bp.post("/translation/<pair>")
def translation_pair(pair: str) -> Response:
    return _translate(_body(), pair)
