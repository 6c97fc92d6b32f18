"""Article: summarise one English article, then translate the summary into each language asked,
all targets queued at once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from service.core.errors import InvalidRequest, UnsupportedLanguage
from service.core.pairs import LanguagePair
from service.inference.engine import Engine
from service.tasks.context import TaskContext
from service.tasks.generation import GenerationOptions
from service.tasks.limits import check_texts
from service.tasks.steps import withdrawn_on_failure
from service.tasks.summarize import Summary, summarize_texts
from service.tasks.translate import AUTO, Translation, resolve_pair, submit_translation
from service.text.language import Detection

# What the summariser reads and writes: the service summarises English news.
SUMMARY_LANGUAGE = "en"


@dataclass(frozen=True)
class ArticleRequest:
    """One article (`field` names it in errors) in `source` (a code, or AUTO to detect it),
    and the languages to translate its summary into (`targets_field` names that list)."""

    text: str
    translate_to: Sequence[str] = ()
    source: str = SUMMARY_LANGUAGE
    options: GenerationOptions = GenerationOptions()
    field: str = "text"
    targets_field: str = "translate_to"

    @property
    def items(self) -> int:
        return 1


@dataclass
class Article:
    summary: Summary
    translations: dict[str, Translation]
    detected: Detection | None = None  # the language found when the source was AUTO
    items: int = field(default=1, init=False)

    @property
    def batch_ids(self) -> list[int]:
        translated = [b for t in self.translations.values() for b in t.batch_ids]
        return self.summary.batch_ids + translated


def check_summary_language(source: str, detected: Detection | None = None) -> None:
    """Raise UnsupportedLanguage (field `source`) unless the summariser reads `source`."""
    if source != SUMMARY_LANGUAGE:
        found = "" if detected is None else f" ({detected.confidence:.0f}% confident)"
        raise UnsupportedLanguage(
            f"articles are summarised from {SUMMARY_LANGUAGE!r} only, not {source!r}{found}",
            field="source",
        )


def article(ctx: TaskContext, request: ArticleRequest) -> Article:
    """The article operation: the article's language (detected with `source: auto`), a pair
    for each target, the limits on the text, then the summary and its translations."""
    source, detected = request.source, None
    if source == AUTO:
        check_texts([request.text], ctx.limits, request.field)
        if ctx.detector is None:
            raise InvalidRequest("language detection is not available here", field="source")
        among = [SUMMARY_LANGUAGE, *ctx.detection_languages()]
        detected = ctx.detector.detect(request.text, top=1, among=among)[0]
        source = detected.language
    check_summary_language(source, detected)
    pairs = []
    for index, target in enumerate(request.translate_to):
        try:
            pairs.append(resolve_pair(ctx.engine, source, target))
        except UnsupportedLanguage as exc:
            if exc.field == "target":
                exc.field = f"{request.targets_field}.{index}"
            raise
    check_texts([request.text], ctx.limits, request.field)
    result = summarize_and_translate(
        ctx.engine, request.text, pairs, request.options, deadline=ctx.started()
    )
    result.detected = detected
    return result


def summarize_and_translate(
    engine: Engine,
    text: str,
    pairs: Sequence[LanguagePair],
    options: GenerationOptions | None = None,
    *,
    deadline: float | None = None,
) -> Article:
    """Summarise one article, then translate the summary with each pair at once."""
    deadline = engine.deadline() if deadline is None else deadline
    summary = summarize_texts(engine, [text], options, deadline=deadline)[0]
    with withdrawn_on_failure() as submitted:
        pending = {}
        for pair in pairs:
            pending[pair.target] = submit_translation(
                engine, pair, [summary.text], deadline=deadline
            )
            submitted.append(pending[pair.target])
        return Article(summary, {target: p.results()[0] for target, p in pending.items()})
