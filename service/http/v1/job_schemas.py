"""Request and response shapes of `/v1/jobs`: one request model per task, so the OpenAPI
document says which options each task takes and a typo is refused, as on the other `/v1` routes.

A job's options are those of the task's own route without `text`, `texts` and `url` (a job's
texts are its items): `summarize` as `/v1/summarize`, `translate` as `/v1/translate`, `article`
as `/v1/articles`. The items are read by `service.jobs.items` (ids, duplicates, per-item errors),
not here: an unusable item is that item's error, not a refused job.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, field_validator

from service.http.described import JobItems, SourceOrAuto, SummarySource, Target
from service.http.v1.schemas import MAX_URL_CHARS, _Generation
from service.jobs.store import STATUSES
from service.tasks import MAX_BEAMS

_STRICT = ConfigDict(strict=True, extra="forbid")
_LANGUAGE = r"^[a-z]{2,3}$"
_SOURCE = r"^([a-z]{2,3}|auto)$"
# Fields of a job request that are not the task's options.
NOT_OPTIONS = frozenset({"task", "items", "callback_url"})


class _Job(BaseModel):
    model_config = _STRICT
    items: JobItems = Field(
        description='The texts: objects `{"id", "text"}`. `id` is yours (a string or an '
        "integer; default: the item's index from 0) and names its result; an id given twice "
        "refuses the job. An item without a usable text is kept and answered as that item's "
        "error."
    )
    callback_url: str | None = Field(
        None,
        max_length=MAX_URL_CHARS,
        description="An http(s) URL POSTed the job's summary, signed, when it finishes. Public "
        "addresses only, unless JOBS_WEBHOOK_ALLOW lists the host.",
    )

    def job_options(self) -> dict[str, Any]:
        """The task's options as JSON values, without the ones not given."""
        return self.model_dump(exclude=set(NOT_OPTIONS), exclude_none=True)


_FORMAT = Field("text", description="`html`: each item's text is a web page or a CMS body.")
_STYLE = Field("paragraph", description="`bullets`: each summary's sentences also as a list.")


class SummarizeJob(_Generation, _Job):
    """Summarise every item, as `/v1/summarize` does one `text`."""

    task: Literal["summarize"]
    format: Literal["text", "html"] = _FORMAT
    style: Literal["paragraph", "bullets"] = _STYLE


class TranslateJob(_Job):
    """Translate every item, as `/v1/translate` does one `text`."""

    task: Literal["translate"]
    source: SourceOrAuto = Field(
        "en", pattern=_SOURCE, description="Source language code, or `auto` per item."
    )
    target: Target = Field(pattern=_LANGUAGE, description="Target language code, e.g. `ar`.")
    num_beams: int | None = Field(None, ge=1, le=MAX_BEAMS, description="Beam search width.")
    format: Literal["text", "html"] = _FORMAT

    @field_validator("num_beams", mode="before")
    @classmethod
    def _whole(cls, value: Any) -> Any:
        return int(value) if isinstance(value, float) and value.is_integer() else value


class ArticleJob(_Generation, _Job):
    """Summarise every item and translate each summary, as `/v1/articles` does one article."""

    task: Literal["article"]
    format: Literal["text", "html"] = _FORMAT
    style: Literal["paragraph", "bullets"] = _STYLE
    source: SummarySource = Field(
        "en", pattern=_SOURCE, description="Language of the articles, or `auto` to check."
    )
    translate_to: list[Annotated[Target, Field(pattern=_LANGUAGE)]] = Field(
        default_factory=list,
        max_length=8,
        description='Languages to translate each summary into, e.g. `["ar", "fr"]`.',
    )


# Each task's request model, by the `task` that picks it.
JOB_MODELS: dict[str, type[_Job]] = {
    "summarize": SummarizeJob,
    "translate": TranslateJob,
    "article": ArticleJob,
}


_AnyJob = Annotated[SummarizeJob | TranslateJob | ArticleJob, Field(discriminator="task")]


class JobRequest(RootModel[_AnyJob]):
    """A job: the task, its options and its items (`task` picks which options apply)."""


class JobCreated(BaseModel):
    id: str = Field(description="The job's id; `Location` is its status URL.")
    status: Literal["queued", "failed"] = Field(
        description="`queued`; `failed` at once when no item had a usable text (their errors "
        "are the results)."
    )
    total: int = Field(description="How many items the job holds.")


class JobStatus(BaseModel):
    id: str
    task: Literal["summarize", "translate", "article"]
    status: Literal[STATUSES] = Field(  # type: ignore[valid-type]
        description="`queued`, `running`, `done` (every item has a result or an error), "
        "`failed` (every item failed) or `cancelled`."
    )
    total: int = Field(description="Items in the job.")
    done: int = Field(description="Items with a result.")
    failed: int = Field(description="Items with an error.")
    created_at: str = Field(description="ISO 8601, UTC.")
    started_at: str | None = Field(description="When a worker took its first item; null before.")
    finished_at: str | None = Field(description="When it finished or was cancelled.")
    eta_s: float | None = Field(
        description="Seconds left at the rate measured so far; null until an item finished, 0 "
        "once the job is finished."
    )
