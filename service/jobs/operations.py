"""One job item through its operation: the job's options read into the operation's request, and
the result written as the JSON `/v1` answers for one `text` (`/v1/summarize`, `/v1/translate`,
`/v1/articles`), so a job's results read like the answers a client already parses.

A job's options are those of the matching `/v1` request without `text`, `texts` and `url`
(summarize: `length`, `min_length`, `max_length`, `num_beams`, `format`, `style`; translate:
`source`, `target`, `num_beams`, `format`; article: those of summarize and `translate_to`,
`source`). The HTTP layer validates them when the job is created; here a wrong one is the item's
InvalidRequest, never a crash of the worker.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict
from typing import Any

from service import tasks
from service.core.errors import InvalidRequest

TASKS = ("summarize", "translate", "article")


def run_item(ctx: tasks.TaskContext, task: str, options: Mapping[str, Any], text: str) -> Any:
    """Run `text` through the job's operation; its JSON-ready result. Raises the operation's
    ServiceError (InvalidRequest for an unknown task or a wrong option)."""
    runner = _RUNNERS.get(task)
    if runner is None:
        raise InvalidRequest(f"task must be one of {', '.join(TASKS)}", field="task")
    return runner(ctx, _Options(options), text)


class _Options:
    """The job's options, each read with its expected type (InvalidRequest naming it if not)."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self._values = values

    def get(self, name: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
        value = self._values.get(name, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, kind):  # JSON true is no number
            raise InvalidRequest(f"option {name} has the wrong type", field=name)
        return value

    def generation(self) -> tasks.GenerationOptions:
        return tasks.GenerationOptions(
            length=self.get("length", str),
            min_length=self.get("min_length", int),
            max_length=self.get("max_length", int),
            num_beams=self.get("num_beams", int),
        )

    def page(self) -> tasks.SourceOptions:
        return tasks.SourceOptions(None, self.get("format", str, "text"))


def _summarize(ctx: tasks.TaskContext, options: _Options, text: str) -> dict[str, Any]:
    request = tasks.SummarizeRequest(
        [text], options.generation(), options.page(), options.get("style", str, "paragraph")
    )
    result = tasks.summarize(ctx, request)
    summary, extracted = result.summaries[0], result.extracted[0]
    body: dict[str, Any] = {"model": result.model, "chunks": [summary.chunks]}
    body["summary"] = summary.text
    return body | _summary_extras(summary, extracted)


def _translate(ctx: tasks.TaskContext, options: _Options, text: str) -> dict[str, Any]:
    source, target = options.get("source", str, "en"), options.get("target", str)
    if target is None:
        raise InvalidRequest("option target is required", field="target")
    request = tasks.TranslateRequest(
        [text], target, source, options.get("format", str, "text"), options.generation()
    )
    result = tasks.translate(ctx, request)
    translation = result.translations[0]
    body: dict[str, Any] = {"source": source, "target": target, "model": result.model}
    body["translation"] = translation.text
    if translation.detected is not None:
        body["detected"] = _language(translation.detected)
    return body


def _article(ctx: tasks.TaskContext, options: _Options, text: str) -> dict[str, Any]:
    targets = options.get("translate_to", list, [])
    if not all(isinstance(t, str) for t in targets):
        raise InvalidRequest("option translate_to must be language codes", field="translate_to")
    request = tasks.ArticleRequest(
        text,
        targets,
        options.get("source", str, tasks.SUMMARY_LANGUAGE),
        options.generation(),
        page=options.page(),
        style=options.get("style", str, "paragraph"),
    )
    result = tasks.article(ctx, request)
    translations = result.translations
    body: dict[str, Any] = {
        "summary": result.summary.text,
        "translations": {lang: t.text for lang, t in translations.items()},
        "models": {"summarize": result.summary.model}
        | {lang: t.model for lang, t in translations.items()},
        "chunks": result.summary.chunks,
    }
    if result.detected:
        body["detected"] = _language(result.detected)
    body |= _summary_extras(result.summary, result.extracted)
    if result.summary.bullets is not None:
        body["translated_bullets"] = {t: result.translated_bullets(t) for t in translations}
    return body


def _language(found: Any) -> dict[str, Any]:
    return {"language": found.language, "confidence": found.confidence}


def _summary_extras(summary: tasks.Summary, found: tasks.Extracted | None) -> dict[str, Any]:
    """Bullets (when asked), reading times and what was extracted, as `/v1` answers them."""
    extras: dict[str, Any] = {
        "bullets": summary.bullets,
        "reading_minutes": asdict(summary.reading) if summary.reading else None,
        "extracted": None if found is None else asdict(found),
    }
    return {k: v for k, v in extras.items() if v is not None or k == "reading_minutes"}


_RUNNERS: dict[str, Callable[[tasks.TaskContext, _Options, str], Any]] = {
    "summarize": _summarize,
    "translate": _translate,
    "article": _article,
}
