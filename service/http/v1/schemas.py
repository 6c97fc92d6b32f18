"""Request and response shapes: validation and the OpenAPI description come from the same models.

Requests are strict (no "5" for 5, no unknown fields) so a typo in a field name is an error the
client sees instead of a silently ignored option. Limits that are settings (text length, item
count) are the operations' to check (`service.tasks.limits`), since they are not known when the
schema is built.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from service.http.described import SourceOrAuto, SummarySource, Target, Text, Texts
from service.tasks import (
    LENGTH_PRESETS,
    MAX_BEAMS,
    MIN_MAX_LENGTH,
    GenerationOptions,
)

_STRICT = ConfigDict(strict=True, extra="forbid")
_LANGUAGE = r"^[a-z]{2,3}$"
# A source language code, or "auto" to detect it.
_SOURCE = r"^([a-z]{2,3}|auto)$"


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
    text: Text | None = Field(None, description="One text. The answer has a single result.")
    texts: Texts | None = Field(
        None, description="Several texts; results come back as a list in the same order."
    )

    @model_validator(mode="after")
    def _one_of(self) -> _Texts:
        if (self.text is None) == (self.texts is None):
            raise ValueError("give exactly one of `text` or `texts`")
        return self

    def items(self) -> list[str]:
        return [self.text] if self.text is not None else list(self.texts or [])

    def field(self) -> str:
        """The field that held the texts, for errors that name one."""
        return "text" if self.text is not None else "texts"


class _Generation(BaseModel):
    model_config = _STRICT
    length: Literal["short", "medium", "long"] | None = Field(
        None,
        description="Summary length preset (min/max tokens): "
        + ", ".join(f"{k} {lo}-{hi}" for k, (lo, hi) in LENGTH_PRESETS.items())
        + ". Default: the model's own.",
    )
    min_length: int | None = Field(
        None,
        ge=0,
        le=1024,
        description="Minimum output tokens; overrides the `length` preset's minimum. Above the "
        "maximum in force: 400.",
    )
    max_length: int | None = Field(
        None,
        ge=MIN_MAX_LENGTH,
        le=1024,
        description="Maximum output tokens (up to the model's limit); overrides the `length` "
        "preset's maximum, and lowers the preset's minimum when below it.",
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

    source: SourceOrAuto = Field(
        "en", pattern=_SOURCE, description="Source language code, or `auto` to detect it."
    )
    target: Target = Field(pattern=_LANGUAGE, description="Target language code, e.g. `ar`.")
    num_beams: int | None = Field(None, ge=1, le=MAX_BEAMS, description="Beam search width.")
    format: Literal["text", "html"] = Field(
        "text",
        description="`html`: translate the text of HTML documents, keeping tags and attributes "
        "(nothing inside script, style, code or pre).",
    )

    _whole_numbers = field_validator("num_beams", mode="before")(_whole_number)

    def options(self) -> GenerationOptions:
        return GenerationOptions(num_beams=self.num_beams)


class ArticleRequest(_Generation):
    """Summarise one article and translate the summary."""

    text: Text = Field(description="The article.")
    source: SummarySource = Field(
        "en", pattern=_SOURCE, description="Language of the article, or `auto` to detect it."
    )
    translate_to: list[Annotated[Target, Field(pattern=_LANGUAGE)]] = Field(
        default_factory=list,
        max_length=8,
        description='Languages to translate the summary into, e.g. `["ar", "fr"]`.',
    )


class DetectRequest(_Texts):
    """Detect the language of one text or a list of texts."""


class Language(BaseModel):
    language: str = Field(description="ISO 639 language code.")
    confidence: float = Field(ge=0, le=100, description="How sure, from 0 to 100.")


class DetectResult(BaseModel):
    languages: list[Language] = Field(description="The likeliest languages, best first.")


class DetectResponse(BaseModel):
    languages: list[Language] | None = Field(
        None, description="Present when the request gave `text`: best first."
    )
    results: list[DetectResult] | None = Field(
        None, description="Present when it gave `texts`: one per text, in order."
    )


class ErrorBody(BaseModel):
    code: str = Field(description="Stable machine-readable error code.")
    message: str = Field(description="What went wrong, for a person.")
    field: str | None = Field(None, description="The request field at fault, if one is.")


class ErrorResponse(BaseModel):
    """The one error shape of the /v1 API."""

    error: ErrorBody


class SummaryResponse(BaseModel):
    summary: str | None = Field(None, description="Present when the request gave `text`.")
    summaries: list[str] | None = Field(None, description="Present when it gave `texts`.")
    model: str = Field(description="The summariser: its Hub id or directory.")
    chunks: list[int] = Field(
        description="How many chunks each text was split into: a list, one count per text, "
        "also for `text` (`/v1/articles` answers one integer)."
    )


class TranslationResponse(BaseModel):
    translation: str | None = Field(None, description="Present when the request gave `text`.")
    translations: list[str] | None = Field(None, description="Present when it gave `texts`.")
    source: str = Field(description="The source language asked for (`auto` included).")
    target: str = Field(description="The target language.")
    model: str = Field(description="The translation model: its Hub id or directory.")
    detected: Language | list[Language] | None = Field(
        None, description="With `source: auto`: the language found (a list for `texts`)."
    )


class ArticleResponse(BaseModel):
    summary: str = Field(description="The article's summary, in English.")
    translations: dict[str, str] = Field(description="Target language -> translated summary.")
    models: dict[str, str] = Field(description="`summarize` and each target -> model used.")
    chunks: int = Field(
        description="How many chunks the article was split into: one integer, as an article "
        "is one text (`/v1/summarize` answers a list, one count per text)."
    )
    detected: Language | None = Field(None, description="With `source: auto`: what was found.")
