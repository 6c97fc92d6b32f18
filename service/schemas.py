"""Request and response shapes: validation and the OpenAPI description come from the same models.

Requests are strict (no "5" for 5, no unknown fields) so a typo in a field name is an error the
client sees instead of a silently ignored option. Limits that are settings (text length, item
count) are checked by `check_texts`, since they are not known when the schema is built.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from service.config import Settings
from service.errors import InvalidRequest, PayloadTooLarge
from service.tasks import (
    LENGTH_PRESETS,
    MAX_BEAMS,
    MIN_MAX_LENGTH,
    SUMMARY_LANGUAGE,
    GenerationOptions,
)

_STRICT = ConfigDict(strict=True, extra="forbid")
_LANGUAGE = r"^[a-z]{2,3}$"


def _whole_number(value: Any) -> Any:
    """JSON has one number type: 4.0 is the integer 4 (as JSON Schema says); "4" and 4.5 are not."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


class _Texts(BaseModel):
    """Either `text` (one string) or `texts` (a list); answers mirror the choice."""

    model_config = ConfigDict(
        **_STRICT,
        # `_one_of` as JSON Schema, so the spec rejects what the validator rejects.
        json_schema_extra={
            "oneOf": [
                {"properties": {"text": {"type": "string"}}, "required": ["text"]},
                {"properties": {"texts": {"type": "array"}}, "required": ["texts"]},
            ]
        },
    )
    text: str | None = Field(None, description="One text. The answer has a single result.")
    texts: list[str] | None = Field(
        None, description="Several texts; results come back as a list in the same order."
    )

    @model_validator(mode="after")
    def _one_of(self) -> _Texts:
        if (self.text is None) == (self.texts is None):
            raise ValueError("give exactly one of `text` or `texts`")
        return self

    def items(self) -> list[str]:
        return [self.text] if self.text is not None else list(self.texts or [])


class _Generation(BaseModel):
    model_config = _STRICT
    length: Literal["short", "medium", "long"] | None = Field(
        None,
        description="Summary length preset (min/max tokens): "
        + ", ".join(f"{k} {lo}-{hi}" for k, (lo, hi) in LENGTH_PRESETS.items())
        + ". Default: the model's own.",
    )
    min_length: int | None = Field(None, ge=0, le=1024, description="Minimum output tokens.")
    max_length: int | None = Field(
        None, ge=MIN_MAX_LENGTH, le=1024, description="Maximum output tokens."
    )
    num_beams: int | None = Field(None, ge=1, le=MAX_BEAMS, description="Beam search width.")

    _whole_numbers = field_validator("min_length", "max_length", "num_beams", mode="before")(
        _whole_number
    )

    def options(self) -> GenerationOptions:
        return GenerationOptions(
            length=self.length,
            min_length=self.min_length,
            max_length=self.max_length,
            num_beams=self.num_beams,
        )


class SummarizeRequest(_Generation, _Texts):
    """Summarise one text or a list of texts."""


class TranslateRequest(_Texts):
    """Translate one text or a list of texts; paragraph breaks are kept."""

    source: str = Field("en", pattern=_LANGUAGE, description="Source language code.")
    target: str = Field(pattern=_LANGUAGE, description="Target language code, e.g. `ar`.")
    num_beams: int | None = Field(None, ge=1, le=MAX_BEAMS, description="Beam search width.")

    _whole_numbers = field_validator("num_beams", mode="before")(_whole_number)

    def options(self) -> GenerationOptions:
        return GenerationOptions(num_beams=self.num_beams)


class ArticleRequest(_Generation):
    """Summarise one article and translate the summary."""

    text: str = Field(description="The article.")
    source: str = Field("en", pattern=_LANGUAGE, description="Language of the article.")
    translate_to: list[Annotated[str, Field(pattern=_LANGUAGE)]] = Field(
        default_factory=list,
        max_length=8,
        description='Languages to translate the summary into, e.g. `["ar", "fr"]`.',
    )


class ErrorBody(BaseModel):
    code: str = Field(description="Stable machine-readable error code.")
    message: str = Field(description="What went wrong, for a person.")
    field: str | None = Field(None, description="The request field at fault, if one is.")


class ErrorResponse(BaseModel):
    error: ErrorBody


class SummaryResponse(BaseModel):
    summary: str | None = Field(None, description="Present when the request gave `text`.")
    summaries: list[str] | None = Field(None, description="Present when it gave `texts`.")
    model: str
    chunks: list[int] = Field(description="How many chunks each text was split into.")


class TranslationResponse(BaseModel):
    translation: str | None = Field(None, description="Present when the request gave `text`.")
    translations: list[str] | None = Field(None, description="Present when it gave `texts`.")
    source: str
    target: str
    model: str


class ArticleResponse(BaseModel):
    summary: str
    translations: dict[str, str] = Field(description="Target language -> translated summary.")
    models: dict[str, str] = Field(description="`summarize` and each target -> model used.")
    chunks: int


def parse(model: type[BaseModel], body: Any) -> Any:
    """Validate a decoded JSON body. Raises InvalidRequest naming the first bad field."""
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be a JSON object")
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_context=False)[0]
        location = ".".join(str(part) for part in first["loc"]) or None
        message = first["msg"].removeprefix("Value error, ")
        raise InvalidRequest(
            f"{location}: {message}" if location else message, field=location
        ) from None


def check_texts(texts: list[str], settings: Settings, field: str) -> None:
    """Apply the configured limits and reject texts no model can take.

    Empty or whitespace-only texts and strings with lone surrogates (not encodable as UTF-8)
    are 400; too many items or too long a text is 413.
    """
    if len(texts) > settings.max_items:
        raise PayloadTooLarge(
            f"{len(texts)} items in one request; the limit is {settings.max_items}", field=field
        )
    if not texts:
        raise InvalidRequest("the list of texts is empty", field=field)
    for i, text in enumerate(texts):
        where = field if field == "text" else f"{field}.{i}"
        if not text.strip():
            raise InvalidRequest("the text is empty", field=where)
        if len(text) > settings.max_text_chars:
            raise PayloadTooLarge(
                f"text of {len(text)} characters; the limit is {settings.max_text_chars}",
                field=where,
            )
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidRequest(
                "the text holds invalid Unicode (a lone surrogate)", field=where
            ) from None


def decode_json(data: bytes) -> Any:
    """Decode a request body. Raises InvalidRequest for bad UTF-8, bad JSON or absurd nesting."""
    if not data.strip():
        raise InvalidRequest("the body is empty; send a JSON object")
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise InvalidRequest("the body is not valid UTF-8") from None
    except json.JSONDecodeError as exc:
        raise InvalidRequest(f"the body is not valid JSON: {exc.msg} at {exc.pos}") from None
    except ValueError as exc:  # e.g. an integer literal over Python's digit limit
        raise InvalidRequest(f"the body is not acceptable JSON: {exc}") from None
    except RecursionError:
        raise InvalidRequest("the body is nested too deeply") from None


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
    for name in ("SummarizeRequest", "TranslateRequest"):
        props = schemas[name]["properties"]
        props["text"] |= text
        props["texts"]["anyOf"][0] |= {"minItems": 1, "maxItems": settings.max_items}
        props["texts"]["anyOf"][0]["items"] |= text
    article = schemas["ArticleRequest"]["properties"]
    article["text"] |= text
    schemas["TranslateRequest"]["properties"]["source"] |= {"enum": sources}
    article["source"] |= {"enum": [SUMMARY_LANGUAGE]}
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
        },
        "components": {"schemas": schemas},
    }
