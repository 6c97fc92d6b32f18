"""Routes that describe themselves: each view is registered with the metadata the OpenAPI
document needs (`route`), and request fields carry markers for the limits that are settings
(`Text`, `Texts`, `Source`, ...), so `service.http.openapi` builds the document from the models
and this registry, and a limit or enum is written once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

from flask import Blueprint
from pydantic import BaseModel, Field

# Markers the OpenAPI builder replaces with this server's settings (see openapi.LIMITS).
MARK = "x-limits"


def _marked(name: str) -> Any:
    return Field(json_schema_extra={MARK: name})


# A text: not blank, at most MAX_TEXT_CHARS characters.
Text = Annotated[str, _marked("text")]
# A list of texts: 1 to MAX_ITEMS of them.
Texts = Annotated[list[Text], _marked("texts")]
# A source language served, or "auto"; a source served (no detection); a target served.
SourceOrAuto = Annotated[str, _marked("source-or-auto")]
Source = Annotated[str, _marked("source")]
Target = Annotated[str, _marked("target")]
# The same, as DeepL writes codes (upper case: EN, FR).
DeepLSource = Annotated[str, _marked("deepl-source")]
DeepLTarget = Annotated[str, _marked("deepl-target")]
# What the summariser reads: "en", or "auto" to check.
SummarySource = Annotated[str, _marked("summary-source")]
# A pair served, as SRC-TGT.
PairKey = Annotated[str, _marked("pair")]
# A job's items: 1 to JOBS_MAX_ITEMS of them, each anything (an unusable one is that item's error).
JobItems = Annotated[list[Any], _marked("job-items")]


@dataclass(frozen=True)
class Doc:
    """What the OpenAPI document says of one route. `request` and `response` are pydantic
    models (or None: no JSON body / a plain JSON value); `errors` maps a status to what it
    means here; `style` is "nested" (the /v1 error shape) or "flat" (`{"error": "..."}`);
    `events` describes the Server-Sent Events the route answers instead, when asked."""

    summary: str
    tag: str
    description: str = ""
    request: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    errors: dict[str, str] = field(default_factory=dict)
    style: str = "nested"
    example: dict[str, Any] | None = None
    media_type: str = "application/json"
    # What the route streams with `Accept: text/event-stream` (see service.http.events); "" none.
    events: str = ""
    path_parameters: dict[str, str] = field(default_factory=dict)  # name -> marker
    # The status of success (202 for work accepted to run later) and the headers it carries.
    success: str = "200"
    success_headers: dict[str, str] = field(default_factory=dict)  # name -> description
    # How `request` is sent: JSON, or `multipart/form-data` (a file upload).
    request_media_type: str = "application/json"


@dataclass(frozen=True)
class Route:
    path: str  # OpenAPI form: /hf/translation/{pair}
    method: str
    doc: Doc


ROUTES: list[Route] = []
V = TypeVar("V", bound=Callable[..., Any])


def route(bp: Blueprint, rule: str, method: str, doc: Doc) -> Callable[[V], V]:
    """Register a view on `bp` at `rule` for `method`, and describe it in the OpenAPI document."""
    path = (bp.url_prefix or "") + rule.replace("<", "{").replace(">", "}")

    def register(view: V) -> V:
        ROUTES.append(Route(path, method.lower(), doc))
        bp.add_url_rule(rule, view_func=view, methods=[method])
        return view

    return register
