"""Request and response shapes: validation and the OpenAPI description come from the same models.

Requests are strict (no "5" for 5, no unknown fields) so a typo in a field name is an error the
client sees instead of a silently ignored option. Limits that are settings (text length, item
count) are the operations' to check (`service.tasks.limits`), since they are not known when the
schema is built.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

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
    SourceOptions,
)

_STRICT = ConfigDict(strict=True, extra="forbid")
_LANGUAGE = r"^[a-z]{2,3}$"
# A source language code, or "auto" to detect it.
_SOURCE = r"^([a-z]{2,3}|auto)$"


def _whole_number(value: Any) -> Any:
    """JSON has one number type: 4.0 is the integer 4 (as JSON Schema says); "4" and 4.5 are not."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


_TEXT = {"properties": {"text": {"type": "string"}}, "required": ["text"]}
_TEXTS = {"properties": {"texts": {"type": "array"}}, "required": ["texts"]}
_URL = {"properties": {"url": {"type": "string"}}, "required": ["url"]}
# The longest `url` accepted, in characters (browsers and servers stop near here too).
MAX_URL_CHARS = 2048


def _exactly_one(model: BaseModel, names: tuple[str, ...]) -> None:
    if sum(getattr(model, name) is not None for name in names) != 1:
        raise ValueError("give exactly one of " + " or ".join(f"`{name}`" for name in names))


class _Texts(BaseModel):
    """Either `text` (one string) or `texts` (a list); answers mirror the choice."""

    model_config = ConfigDict(
        **_STRICT,
        # `_one_of` as JSON Schema, so the spec rejects what the validator rejects.
        json_schema_extra={"oneOf": [_TEXT, _TEXTS]},
    )
    _ALTERNATIVES: ClassVar[tuple[str, ...]] = ("text", "texts")
    text: Text | None = Field(None, description="One text. The answer has a single result.")
    texts: Texts | None = Field(
        None, description="Several texts; results come back as a list in the same order."
    )

    @model_validator(mode="after")
    def _one_of(self) -> _Texts:
        _exactly_one(self, self._ALTERNATIVES)
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


def _url_field() -> Any:
    return Field(
        None,
        max_length=MAX_URL_CHARS,
        description="An http(s) link to fetch instead of `text`: the page's article is "
        "extracted (plain-text pages are read as they are). Public addresses only, unless "
        "FETCH_ALLOW lists the host; the answer's `extracted` says what was read.",
    )


class _TextsOrUrl(_Texts):
    """`text`, `texts` or `url` (one page, answered like `text`)."""

    model_config = ConfigDict(**_STRICT, json_schema_extra={"oneOf": [_TEXT, _TEXTS, _URL]})
    _ALTERNATIVES: ClassVar[tuple[str, ...]] = ("text", "texts", "url")
    url: str | None = _url_field()

    def field(self) -> str:
        return "url" if self.url is not None else super().field()


_STYLE = Field(
    "paragraph",
    description="`bullets`: the summary's sentences also as a list, `bullets` in the answer.",
)


class SummarizeRequest(_Generation, _TextsOrUrl):
    """Summarise one text, a list of texts, or the article at a URL."""

    format: Literal["text", "html"] = Field(
        "text",
        description="`html`: each text is a web page or a CMS body; its article (no "
        "navigation, ads, comments or footer) is summarised, and `extracted` says what it was.",
    )
    style: Literal["paragraph", "bullets"] = _STYLE

    def page(self) -> SourceOptions:
        return SourceOptions(self.url, self.format)


class TranslateRequest(_TextsOrUrl):
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
    """Summarise one article (its text, its HTML, or its URL) and translate the summary."""

    model_config = ConfigDict(**_STRICT, json_schema_extra={"oneOf": [_TEXT, _URL]})
    text: Text | None = Field(None, description="The article (its HTML with `format: html`).")
    url: str | None = _url_field()
    format: Literal["text", "html"] = Field(
        "text", description="`html`: `text` is a web page or a CMS body; its article is used."
    )
    style: Literal["paragraph", "bullets"] = _STYLE
    source: SummarySource = Field(
        "en", pattern=_SOURCE, description="Language of the article, or `auto` to detect it."
    )
    translate_to: list[Annotated[Target, Field(pattern=_LANGUAGE)]] = Field(
        default_factory=list,
        max_length=8,
        description='Languages to translate the summary into, e.g. `["ar", "fr"]`.',
    )

    @model_validator(mode="after")
    def _text_or_url(self) -> ArticleRequest:
        _exactly_one(self, ("text", "url"))
        return self

    def page(self) -> SourceOptions:
        return SourceOptions(self.url, self.format)


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


class Extracted(BaseModel):
    """What was read when the text was a page (`url`, or `format: html`)."""

    characters: int = Field(description="Length of the extracted article text.")
    source_url: str | None = Field(None, description="The page's URL after redirects (`url`).")
    title: str | None = Field(None, description="The page's title, when it names one.")
    byline: str | None = Field(None, description="The author, when the page names one.")
    published: str | None = Field(None, description="Publication date (YYYY-MM-DD), if found.")


class ReadingMinutes(BaseModel):
    """Minutes to read, at READING_WPM words a minute."""

    article: float = Field(description="The article (as summarised).")
    summary: float = Field(description="The summary.")


class SummaryResponse(BaseModel):
    summary: str | None = Field(None, description="Present when the request gave `text`.")
    summaries: list[str] | None = Field(None, description="Present when it gave `texts`.")
    model: str = Field(description="The summariser: its Hub id or directory.")
    chunks: list[int] = Field(
        description="How many chunks each text was split into: a list, one count per text, "
        "also for `text` (`/v1/articles` answers one integer)."
    )
    bullets: list[str] | list[list[str]] | None = Field(
        None, description="With `style: bullets`: the summary's sentences (a list per text)."
    )
    reading_minutes: ReadingMinutes | list[ReadingMinutes] = Field(
        description="Reading times (a list for `texts`)."
    )
    extracted: Extracted | list[Extracted | None] | None = Field(
        None, description="With `url` or `format: html`: what was read (a list for `texts`)."
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
    extracted: Extracted | None = Field(None, description="With `url`: what was read.")


class ArticleResponse(BaseModel):
    summary: str = Field(description="The article's summary, in English.")
    translations: dict[str, str] = Field(description="Target language -> translated summary.")
    models: dict[str, str] = Field(description="`summarize` and each target -> model used.")
    chunks: int = Field(
        description="How many chunks the article was split into: one integer, as an article "
        "is one text (`/v1/summarize` answers a list, one count per text)."
    )
    detected: Language | None = Field(None, description="With `source: auto`: what was found.")
    bullets: list[str] | None = Field(
        None, description="With `style: bullets`: the summary's sentences."
    )
    translated_bullets: dict[str, list[str]] | None = Field(
        None, description="With `style: bullets`: each translation as its bullets."
    )
    reading_minutes: ReadingMinutes = Field(description="Reading times.")
    extracted: Extracted | None = Field(
        None, description="With `url` or `format: html`: what was read."
    )
