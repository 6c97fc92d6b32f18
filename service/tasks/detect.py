"""Detect: the likeliest languages of each text (py3langid; no model queue), among the
languages this service serves, as LibreTranslate detects among its installed languages."""

from __future__ import annotations

from dataclasses import dataclass, field

from service.core.errors import InvalidRequest
from service.tasks.context import TaskContext, TextsRequest, served_languages
from service.tasks.limits import check_texts
from service.text.language import Detection

__all__ = ["DetectRequest", "Detections", "detect", "served_languages"]


class DetectRequest(TextsRequest):
    """Texts to detect the language of."""


@dataclass
class Detections:
    """Per text, in order, its likeliest languages, best first."""

    languages: list[list[Detection]]
    batch_ids: list[int] = field(default_factory=list, init=False)

    @property
    def items(self) -> int:
        return len(self.languages)


def detect(ctx: TaskContext, request: DetectRequest) -> Detections:
    check_texts(request.texts, ctx.limits, request.field)
    if ctx.detector is None:
        raise InvalidRequest("language detection is not available here", field="source")
    among = ctx.detection_languages()
    return Detections([ctx.detector.detect(text, among=among) for text in request.texts])
