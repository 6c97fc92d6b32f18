"""The operations: summarise, translate, article, detect. All request policy lives here, once:
the limits on texts, the language pair (named, or detected with `source: auto`), the request's
one deadline over its preprocessing and its model work, and withdrawing what was queued when a
request fails. Every surface (the `/v1` API, the compatibility APIs, the command line) maps its
own request shape to one of these calls and the result back.

An operation takes a `TaskContext` (engine, limits, detector, deadline) and a typed request, and
returns a typed result that also carries what the request log needs (`items`, `batch_ids`).
"""

from service.core.pairs import LanguagePair
from service.tasks.article import (
    SUMMARY_LANGUAGE,
    Article,
    ArticleRequest,
    article,
    article_progress,
    check_summary_language,
    summarize_and_translate,
)
from service.tasks.context import Outcome, TaskContext
from service.tasks.detect import Detections, DetectRequest, detect, served_languages
from service.tasks.documents import (
    DocumentInfo,
    DocumentRequest,
    DocumentResult,
    inspect_document,
    summary_name,
    translate_document,
)
from service.tasks.generation import (
    LENGTH_PRESETS,
    MAX_BEAMS,
    MIN_MAX_LENGTH,
    GenerationOptions,
)
from service.tasks.limits import TextLimits, check_texts
from service.tasks.sources import (
    FORMATS,
    STYLES,
    Extracted,
    ReadingTimes,
    SourceOptions,
)
from service.tasks.summarize import (
    MAX_SUMMARY_ROUNDS,
    Progress,
    Summaries,
    SummarizeRequest,
    Summary,
    chunk_for_model,
    run_to_end,
    summarize,
    summarize_progress,
    summarize_texts,
)
from service.tasks.translate import (
    AUTO,
    PendingTranslation,
    TranslateRequest,
    Translation,
    Translations,
    detect_pair,
    resolve_pair,
    submit_translation,
    translate,
    translate_texts,
    translation_input_limit,
)

__all__ = [
    "AUTO",
    "FORMATS",
    "STYLES",
    "LENGTH_PRESETS",
    "MAX_BEAMS",
    "MAX_SUMMARY_ROUNDS",
    "MIN_MAX_LENGTH",
    "SUMMARY_LANGUAGE",
    "Article",
    "ArticleRequest",
    "DetectRequest",
    "DocumentInfo",
    "DocumentRequest",
    "DocumentResult",
    "Detections",
    "Extracted",
    "GenerationOptions",
    "LanguagePair",
    "Outcome",
    "PendingTranslation",
    "Progress",
    "ReadingTimes",
    "SourceOptions",
    "Summaries",
    "SummarizeRequest",
    "Summary",
    "TaskContext",
    "TextLimits",
    "TranslateRequest",
    "Translation",
    "Translations",
    "article",
    "article_progress",
    "check_summary_language",
    "check_texts",
    "chunk_for_model",
    "detect",
    "detect_pair",
    "run_to_end",
    "resolve_pair",
    "served_languages",
    "submit_translation",
    "summarize",
    "summarize_and_translate",
    "summarize_progress",
    "summarize_texts",
    "translate",
    "translate_document",
    "inspect_document",
    "summary_name",
    "translate_texts",
    "translation_input_limit",
]
