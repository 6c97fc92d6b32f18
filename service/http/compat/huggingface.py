"""The Hugging Face Inference API's summarization and translation tasks, under /hf, so
`huggingface_hub.InferenceClient(base_url=...)` and plain HF-style HTTP callers work unchanged.

Requests are `{"inputs": str | [str], "parameters": {...}}`; answers are always a list,
`[{"summary_text": ...}]` or `[{"translation_text": ...}]`, one per input; errors are
`{"error": "<message>"}`. The client sends its JSON without a Content-Type header, so a body
without one is read as JSON.
"""

from __future__ import annotations

from dataclasses import astuple
from typing import Annotated, Any

from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel, ConfigDict, Field, RootModel

from service import tasks
from service.core.errors import InvalidRequest, UnsupportedMediaType
from service.core.pairs import LanguagePair
from service.http import context
from service.http.bodies import shown
from service.http.described import Doc, Source, Target, Text, Texts, route
from service.http.errors import FLAT, answer_errors_as
from service.tasks import MAX_BEAMS, MIN_MAX_LENGTH

bp = Blueprint("huggingface", __name__, url_prefix="/hf")
GENERATE_PARAMETERS = ("num_beams", "min_length", "max_length")
# Sent by InferenceClient on request, meaningless here: the service never truncates an input
# (long texts are split) and always cleans up tokenisation spaces.
IGNORED_PARAMETERS = ("truncation", "clean_up_tokenization_spaces")


# ----- the wire shapes, for the OpenAPI document (the views read the fields themselves) -------
ERRORS = {
    "400": "A missing or invalid field or parameter, an unsupported pair, empty text.",
    "401": "API keys are on and the request has no key or an unknown one.",
    "413": "The body, a text or the number of inputs is over the configured limit.",
    "415": "The body is not JSON (send application/json or no Content-Type).",
    "429": "A rate limit is spent; Retry-After says when to try again.",
    "500": "The model failed, or a bug; the message carries only the request id to quote.",
    "503": "The queue is full or the model is loading: retry after Retry-After.",
    "504": "The request did not finish within ITEM_TIMEOUT_S.",
}
_STRICT = ConfigDict(extra="forbid")


class GenerateParameters(BaseModel):
    model_config = _STRICT
    num_beams: Annotated[int, Field(ge=1, le=MAX_BEAMS)] | None = None
    min_length: Annotated[int, Field(ge=0, le=1024)] | None = None
    max_length: Annotated[int, Field(ge=MIN_MAX_LENGTH, le=1024)] | None = None


class _Parameters(BaseModel):
    model_config = _STRICT
    truncation: Any = Field(None, description="Accepted and ignored: no input is truncated.")
    clean_up_tokenization_spaces: Any = Field(None, description="Accepted and ignored.")
    generate_parameters: GenerateParameters | None = None


class PairParameters(_Parameters):
    src_lang: Source
    tgt_lang: Target


class HuggingFaceInputs(BaseModel):
    inputs: Text | Texts
    parameters: _Parameters | None = None


class HuggingFacePairInputs(BaseModel):
    inputs: Text | Texts
    parameters: PairParameters


class SummaryText(BaseModel):
    summary_text: str


class TranslationText(BaseModel):
    translation_text: str


class Summaries(RootModel[list[SummaryText]]):
    """One per input."""


class Translations(RootModel[list[TranslationText]]):
    """One per input."""


# The service's own statuses: the Inference API also answers 400, 413, 503 (loading) and 500,
# and its client raises on any of them.
answer_errors_as(bp, FLAT)


def _post(
    rule: str,
    summary: str,
    body: type[BaseModel],
    answer: type[BaseModel],
    *,
    pair_in_path: bool = False,
) -> Any:
    """Register a Hugging Face task route, documented with its body and answer models."""
    doc = Doc(
        summary,
        "Hugging Face",
        request=body,
        response=answer,
        errors=ERRORS,
        style="flat",
        path_parameters={"pair": "pair"} if pair_in_path else {},
    )
    return route(bp, rule, "POST", doc)


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


@_post("/summarization", "Hugging Face Inference API summarization.", HuggingFaceInputs, Summaries)
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


@_post(
    "/translation",
    "Hugging Face Inference API translation; `parameters` names the pair.",
    HuggingFacePairInputs,
    Translations,
)
def translation() -> Response:
    return _translate(_body(), None)


@_post(
    "/translation/<pair>",
    "Hugging Face Inference API translation; the path names the pair.",
    HuggingFaceInputs,
    Translations,
    pair_in_path=True,
)
def translation_pair(pair: str) -> Response:
    return _translate(_body(), pair)
