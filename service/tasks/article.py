"""Article: summarise one English article, then translate the summary into each language asked,
all targets queued at once."""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass, field

from service.core.errors import InvalidRequest, UnsupportedLanguage
from service.core.pairs import LanguagePair
from service.inference.engine import Engine
from service.tasks.context import TaskContext
from service.tasks.generation import GenerationOptions
from service.tasks.limits import check_texts
from service.tasks.sources import Extracted, SourceOptions, bullets, read_texts
from service.tasks.steps import withdrawn_on_failure
from service.tasks.summarize import Progress, Summary, finish, run_to_end, summary_events
from service.tasks.translate import AUTO, Translation, resolve_pair, submit_translation
from service.text.language import Detection

# What the summariser reads and writes: the service summarises English news.
SUMMARY_LANGUAGE = "en"


@dataclass(frozen=True)
class ArticleRequest:
    """One article (`field` names it in errors; or, with `page.url`, the article of that
    page) in `source` (a code, or AUTO to detect it), the languages to translate its summary
    into (`targets_field` names that list), and the summary's `style` (with `bullets`, each
    translation keeps the bullets)."""

    text: str
    translate_to: Sequence[str] = ()
    source: str = SUMMARY_LANGUAGE
    options: GenerationOptions = GenerationOptions()
    field: str = "text"
    targets_field: str = "translate_to"
    page: SourceOptions = SourceOptions()
    style: str = "paragraph"

    @property
    def items(self) -> int:
        return 1


@dataclass
class Article:
    summary: Summary
    translations: dict[str, Translation]
    detected: Detection | None = None  # the language found when the source was AUTO
    extracted: Extracted | None = None  # what was read, when the article was a page
    items: int = field(default=1, init=False)

    def translated_bullets(self, target: str) -> list[str] | None:
        """With `style: bullets`, the translation into `target` as its bullets."""
        if self.summary.bullets is None:
            return None
        return self.translations[target].text.split("\n")

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
    """The article operation: the article (fetched or extracted when asked), its language
    (detected with `source: auto`), a pair for each target, the limits on the text, then the
    summary and its translations. A named source's pairs are checked before any fetch."""
    return run_to_end(article_progress(ctx, request))


def article_progress(
    ctx: TaskContext, request: ArticleRequest
) -> Generator[Progress, None, Article]:
    """The article operation, reporting the summary's progress (see `summarize_progress`):
    the fetch and every check are done at the first step, before any event."""
    if request.source != AUTO:
        check_summary_language(request.source)
        _pairs(ctx, request, request.source)
    deadline = ctx.started()
    texts, extracted = read_texts(ctx, [request.text], request.page, request.field, deadline)
    text, text_field = texts[0], "url" if request.page.url is not None else request.field
    source, detected = request.source, None
    if source == AUTO:
        check_texts([text], ctx.limits, text_field)
        if ctx.detector is None:
            raise InvalidRequest("language detection is not available here", field="source")
        among = [SUMMARY_LANGUAGE, *ctx.detection_languages()]
        detected = ctx.detector.detect(text, top=1, among=among)[0]
        source = detected.language
    check_summary_language(source, detected)
    pairs = _pairs(ctx, request, source)
    check_texts([text], ctx.limits, text_field)
    result = yield from article_events(
        ctx.engine, text, pairs, request.options, deadline, request.style
    )
    finish(result.summary, text, request.style, ctx.reading_wpm)
    result.detected, result.extracted = detected, extracted[0]
    return result


def _pairs(ctx: TaskContext, request: ArticleRequest, source: str) -> list[LanguagePair]:
    """A served pair from `source` to each target; errors name the target's index."""
    pairs = []
    for index, target in enumerate(request.translate_to):
        try:
            pairs.append(resolve_pair(ctx.engine, source, target))
        except UnsupportedLanguage as exc:
            if exc.field == "target":
                exc.field = f"{request.targets_field}.{index}"
            raise
    return pairs


def summarize_and_translate(
    engine: Engine,
    text: str,
    pairs: Sequence[LanguagePair],
    options: GenerationOptions | None = None,
    *,
    deadline: float | None = None,
    style: str = "paragraph",
) -> Article:
    """Summarise one article, then translate the summary with each pair at once (with
    `style: bullets`, one sentence a line, so that each translation keeps the bullets)."""
    deadline = engine.deadline() if deadline is None else deadline
    return run_to_end(article_events(engine, text, pairs, options, deadline, style))


def article_events(
    engine: Engine,
    text: str,
    pairs: Sequence[LanguagePair],
    options: GenerationOptions | None,
    deadline: float,
    style: str = "paragraph",
) -> Generator[Progress, None, Article]:
    """`summarize_and_translate` as a generator of the summary's Progress events."""
    summary = (yield from summary_events(engine, [text], options, deadline))[0]
    if style == "bullets":
        summary.bullets = bullets(summary.text)
    to_translate = "\n".join(summary.bullets) if summary.bullets else summary.text
    with withdrawn_on_failure() as submitted:
        pending = {}
        for pair in pairs:
            pending[pair.target] = submit_translation(
                engine, pair, [to_translate], deadline=deadline
            )
            submitted.append(pending[pair.target])
        return Article(summary, {target: p.results()[0] for target, p in pending.items()})
