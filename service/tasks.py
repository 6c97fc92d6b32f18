"""Summarise, translate (text or HTML, source named or detected), article: split text, submit
pieces to the engine, put results together.

All pieces of a request for one model go to the engine as one submission (`Engine.submit_many`),
so a request's own pieces (list items, article chunks, sentences) share batches with each other
and with other requests, and an article's target languages are queued before any is waited on.
If a request is refused (queue full), the pieces already queued are withdrawn, so a refused
request costs the model nothing. A request has one deadline, ITEM_TIMEOUT_S from its start, for
all its pieces, summary rounds and translations, and its preprocessing too: splitting and
tokenising check it as they go (between paragraphs and slices of sentences), so a maximal request
gets its 504 on time instead of holding the GIL long after, and large inputs are preprocessed one
request at a time (`Engine.preprocessing`), so they cannot starve the models' batch workers.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from service.errors import InvalidRequest, ItemTimeout, UnsupportedLanguage
from service.generation import (  # noqa: F401 - the options are part of the tasks' interface
    LENGTH_PRESETS,
    MAX_BEAMS,
    MIN_MAX_LENGTH,
    GenerationOptions,
)
from service.inference.engine import Engine, Submission
from service.inference.registry import SUMMARIZE
from service.inference.seq2seq import Seq2SeqModel
from service.summary_partials import partial_params, shares_fit
from service.text import plan_chunks, split_paragraphs, split_sentences, split_to_budget
from service.text.html import HtmlError, extract_all
from service.text.language import Detection, LanguageDetector

# Rounds of "summarise the partial summaries" before the partials are returned joined.
MAX_SUMMARY_ROUNDS = 3
# What the summariser reads and writes: the service summarises English news.
SUMMARY_LANGUAGE = "en"
# The `source` that asks for the language to be detected.
AUTO = "auto"
# Sentences tokenised per call while preprocessing, between two deadline checks.
ENCODE_SLICE = 256


@dataclass
class Summary:
    text: str
    model: str
    chunks: int
    rounds: int
    batch_ids: list[int] = field(default_factory=list)


@dataclass
class Translation:
    text: str
    model: str
    source: str
    target: str
    sentences: int
    batch_ids: list[int] = field(default_factory=list)
    detected: Detection | None = None  # the language found when the source was AUTO


T = TypeVar("T")


def check_deadline(deadline: float) -> None:
    """Raise ItemTimeout once `deadline` (time.monotonic()) has passed."""
    if time.monotonic() >= deadline:
        raise ItemTimeout("the request did not finish in time; try again later")


def _within(deadline: float, items: Iterable[T]) -> Iterable[T]:
    """`items`, checking the deadline before each."""
    for item in items:
        check_deadline(deadline)
        yield item


def _encode(model: Seq2SeqModel, texts: list[str], deadline: float) -> list[list[int]]:
    """Token ids of `texts`, ENCODE_SLICE at a time, checking the deadline between slices."""
    ids: list[list[int]] = []
    for start in _within(deadline, range(0, len(texts), ENCODE_SLICE)):
        ids += model.encode(texts[start : start + ENCODE_SLICE])
    return ids


def _split(values: Sequence[T], counts: Sequence[int]) -> list[list[T]]:
    """Cut `values` into consecutive runs of the given lengths."""
    runs, start = [], 0
    for n in counts:
        runs.append(list(values[start : start + n]))
        start += n
    return runs


def _flat_batch_ids(submission: Submission, counts: Sequence[int]) -> list[list[int]]:
    """Per run of inputs (as in `_split`), the ids of the batches its inputs ran in."""
    return [[b for b in run if b is not None] for run in _split(submission.batch_ids, counts)]


# ----- summarise -----------------------------------------------------------------------------


def summarize(
    engine: Engine,
    texts: Sequence[str],
    options: GenerationOptions | None = None,
    *,
    deadline: float | None = None,
) -> list[Summary]:
    """One summary per text, in order.

    A text longer than the model's input is split on sentence boundaries into evenly sized
    chunks that each fit; all chunks are summarised in shared batches and the partial summaries
    joined, each as long as SUMMARY_PARTIALS says (see `service.summary_partials`). While the
    joined partials are longer than the summary length asked for, they are summarised again
    (chunked again if needed), at most MAX_SUMMARY_ROUNDS rounds in all.
    """
    deadline = engine.deadline() if deadline is None else deadline
    model = engine.model(SUMMARIZE)
    params = (options or GenerationOptions()).params_for(model)
    target = params.max_length or int(model.generation_defaults()["max_length"] or 142)
    summaries = [Summary("", model.name, 0, 0) for _ in texts]
    todo = dict(enumerate(texts))
    for round_no in range(1, MAX_SUMMARY_ROUNDS + 1):
        with engine.preprocessing(sum(map(len, todo.values())), deadline):
            chunked = {
                i: chunk_for_model(model, text, deadline)
                for i, text in _within(deadline, todo.items())
            }
        counts = [len(chunks) for chunks in chunked.values()]
        mode, defaults = engine.settings.summary_partials, model.generation_defaults()
        submission = engine.submit_many(
            SUMMARIZE,
            [ids for chunks in chunked.values() for ids in chunks],
            [partial_params(params, defaults, n, mode) for n in counts for _ in range(n)],
            deadline=deadline,
        )
        fitted = {i: shares_fit(params, defaults, len(c), mode) for i, c in chunked.items()}
        outputs = _split(submission.results(), counts)
        batch_ids = _flat_batch_ids(submission, counts)
        next_todo = {}
        for i, partials, ran_in in zip(chunked, outputs, batch_ids, strict=True):
            summary = summaries[i]
            summary.batch_ids.extend(ran_in)
            summary.rounds = round_no
            summary.chunks = summary.chunks or len(partials)
            joined = " ".join(partials)
            summary.text = joined
            if len(partials) > 1 and round_no < MAX_SUMMARY_ROUNDS:
                if model.count_tokens([joined])[0] > target and not fitted[i]:
                    next_todo[i] = joined
        todo = next_todo
        if not todo:
            break
    return summaries


def chunk_for_model(
    model: Seq2SeqModel, text: str, deadline: float = float("inf")
) -> list[list[int]]:
    """Token ids of `text` as one input, or of sentence-aligned chunks that each fit the model.

    The common case (text fits) tokenises once. Chunks hold whole sentences; a sentence longer
    than a chunk is cut at clauses or words (see text.split_to_budget). Every sentence of the
    text lands in exactly one chunk, in order.
    """
    ids = model.encode([text])[0]
    if len(ids) <= model.max_input_tokens:
        return [ids]
    budget = model.max_input_tokens - model.overhead_tokens
    sentences = [
        sentence
        for paragraph in _within(deadline, split_paragraphs(text)[::2])
        for piece in split_sentences(paragraph)
        for sentence in split_to_budget(piece, budget, model.count_tokens)
    ]
    counts = [
        count
        for start in _within(deadline, range(0, len(sentences), ENCODE_SLICE))
        for count in model.count_tokens(sentences[start : start + ENCODE_SLICE])
    ]
    # Joining sentences can shift token boundaries a little; shrink the budget until all fit.
    for shrink in (1.0, 0.95, 0.9, 0.8, 0.6):
        limit = int(budget * shrink)
        ranges = plan_chunks([min(c, limit) for c in counts], limit)
        chunks = _encode(model, [" ".join(sentences[a:b]) for a, b in ranges], deadline)
        if all(len(c) <= model.max_input_tokens for c in chunks):
            return chunks
    raise InvalidRequest("the text could not be split into pieces the model accepts", field="text")


# ----- translate -----------------------------------------------------------------------------


def _code(language: str) -> str:
    """A language code as a message repeats it: a client's 2 MB "code" is cut."""
    return language if len(language) <= 16 else language[:16] + "\u2026"


def resolve_pair(engine: Engine, source: str, target: str) -> str:
    """The registry key serving source->target. Raises UnsupportedLanguage listing the pairs."""
    key = f"{source}-{target}"
    pairs = engine.keys("translate")
    if key not in pairs:
        raise UnsupportedLanguage(
            f"no model translates {_code(source)!r} to {_code(target)!r}; "
            f"supported pairs: {', '.join(pairs)}",
            field="target" if any(p.startswith(f"{source}-") for p in pairs) else "source",
        )
    return key


@dataclass
class _Layout:
    """Where a text's translated pieces go: `pieces` is the text split by `split_paragraphs`;
    `paragraphs` gives, per paragraph index in `pieces`, how many inputs it owns, in order."""

    pieces: list[str]
    paragraphs: list[tuple[int, int]]

    @property
    def inputs(self) -> int:
        return sum(n for _, n in self.paragraphs)

    def rebuild(self, translated: list[str]) -> str:
        pieces, outputs = list(self.pieces), iter(translated)
        for index, n in self.paragraphs:
            pieces[index] = " ".join(next(outputs) for _ in range(n))
        return "".join(pieces)


class PendingTranslation:
    """Translations submitted to one model; `results()` waits for them and rebuilds the text."""

    def __init__(
        self, key: str, model: Seq2SeqModel, layouts: list[_Layout], submission: Submission
    ) -> None:
        self._key = key
        self._model = model
        self._layouts = layouts
        self._submission = submission

    def cancel(self) -> None:
        self._submission.cancel()

    def results(self) -> list[Translation]:
        source, _, target = self._key.partition("-")
        counts = [layout.inputs for layout in self._layouts]
        outputs = _split(self._submission.results(), counts)
        batch_ids = _flat_batch_ids(self._submission, counts)
        return [
            Translation(
                text=layout.rebuild(translated),
                model=self._model.name,
                source=source,
                target=target,
                sentences=layout.inputs,
                batch_ids=ran_in,
            )
            for layout, translated, ran_in in zip(self._layouts, outputs, batch_ids, strict=True)
        ]


def translation_input_limit(model: Seq2SeqModel) -> int:
    """Most input tokens (special tokens included) one translated piece may have.

    Half the model's output length, within its input: a translation is often longer than its
    source (French and Arabic run 10-40% over English in opus-mt tokens), and a piece whose
    translation reaches the output limit would be cut off silently.
    """
    return min(model.max_input_tokens, model.max_output_tokens // 2)


def _encode_sentences(
    model: Seq2SeqModel, sentences: list[str], deadline: float = float("inf")
) -> list[list[list[int]]]:
    """Per sentence, the token ids of its pieces: one piece, unless the sentence is over
    `translation_input_limit`, when it is cut at clauses or words. Tokenises each sentence once;
    only over-long ones are tokenised again, piece by piece."""
    limit = translation_input_limit(model)
    out = []
    for sentence, ids in zip(sentences, _encode(model, sentences, deadline), strict=True):
        if len(ids) <= limit:
            out.append([ids])
        else:
            budget = limit - model.overhead_tokens
            out.append(model.encode(split_to_budget(sentence, budget, model.count_tokens)))
    return out


def submit_translation(
    engine: Engine,
    key: str,
    texts: Sequence[str],
    options: GenerationOptions | None = None,
    *,
    deadline: float | None = None,
) -> PendingTranslation:
    """Split each text into paragraphs and sentences and queue every sentence.

    Paragraph separators (any whitespace holding a line break) are kept verbatim. A sentence
    longer than the model's input is cut at clauses or words first; nothing is truncated.
    """
    deadline = engine.deadline() if deadline is None else deadline
    model = engine.model(key)
    params = (options or GenerationOptions()).params_for(model)
    plans: list[tuple[list[str], list[tuple[int, list[str]]]]] = []
    with engine.preprocessing(sum(map(len, texts)), deadline):
        for text in texts:
            pieces = split_paragraphs(text)
            paragraphs = [
                (i, split_sentences(pieces[i])) for i in _within(deadline, range(0, len(pieces), 2))
            ]
            plans.append((pieces, [(i, found) for i, found in paragraphs if found]))
        sentences = [s for _, ps in plans for _, f in ps for s in f]
        encoded = iter(_encode_sentences(model, sentences, deadline))
    layouts: list[_Layout] = []
    inputs: list[list[int]] = []
    for pieces, paragraphs in plans:
        layout = _Layout(pieces, [])
        for index, found in paragraphs:
            parts = [ids for _ in found for ids in next(encoded)]
            layout.paragraphs.append((index, len(parts)))
            inputs.extend(parts)
        layouts.append(layout)
    submission = engine.submit_many(key, inputs, params, deadline=deadline)
    return PendingTranslation(key, model, layouts, submission)


def _pair_for(engine: Engine, detector: LanguageDetector, text: str, target: str):
    """The served pair for the detected language of `text`, and that detection. Raises
    UnsupportedLanguage naming the language found when no model translates it to `target`."""
    best = detector.detect(text, top=1)[0]
    try:
        return resolve_pair(engine, best.language, target), best
    except UnsupportedLanguage as exc:
        found = f"the text looks like {best.language!r} ({best.confidence:.0f}% confident); "
        raise UnsupportedLanguage(found + exc.message, field="source") from None


def translate(
    engine: Engine,
    texts: Sequence[str],
    *,
    target: str,
    source: str = "en",
    options: GenerationOptions | None = None,
    deadline: float | None = None,
    text_format: str = "text",
    detector: LanguageDetector | None = None,
) -> list[Translation]:
    """Translate each text, keeping its paragraph layout and sentence order.

    `source=AUTO` detects each text's language (with `detector`), so one request may mix
    languages. `text_format="html"` translates the text nodes of each document and keeps every
    tag and attribute (see `service.text.html`); any other format is plain text.
    """
    deadline = engine.deadline() if deadline is None else deadline
    try:
        documents = extract_all(list(texts)) if text_format == "html" else None
    except HtmlError as exc:
        where = "text" if len(texts) == 1 else f"texts.{exc.index}"
        raise InvalidRequest(str(exc), field=where) from None
    pieces = [d.texts for d in documents] if documents is not None else [[t] for t in texts]
    if source != AUTO:
        found = [(resolve_pair(engine, source, target), None)] * len(texts)
    elif detector is None:
        raise InvalidRequest("language detection is not available here", field="source")
    else:
        found = [_pair_for(engine, detector, " ".join(p), target) for p in pieces]
    keys = [key for key, _ in found]
    check_deadline(deadline)
    pending: dict[str, PendingTranslation] = {}
    try:
        for key in dict.fromkeys(keys):
            group = [p for k, ps in zip(keys, pieces, strict=True) if k == key for p in ps]
            if group:
                pending[key] = submit_translation(engine, key, group, options, deadline=deadline)
        done = {key: iter(p.results()) for key, p in pending.items()}
    except BaseException:
        for submitted in pending.values():
            submitted.cancel()
        raise
    results = []
    for i, ((key, detected), own) in enumerate(zip(found, pieces, strict=True)):
        parts = [next(done[key]) for _ in own]
        rebuilt = documents[i].rebuild([p.text for p in parts]) if documents else parts[0].text
        results.append(
            Translation(
                rebuilt,
                engine.model(key).name,
                *key.split("-", 1),
                sentences=sum(p.sentences for p in parts),
                batch_ids=[b for p in parts for b in p.batch_ids],
                detected=detected,
            )
        )
    return results


# ----- article -------------------------------------------------------------------------------


def check_summary_language(source: str, detected: Detection | None = None) -> None:
    """Raise UnsupportedLanguage (field `source`) unless the summariser reads `source`."""
    if source != SUMMARY_LANGUAGE:
        found = "" if detected is None else f" ({detected.confidence:.0f}% confident)"
        raise UnsupportedLanguage(
            f"articles are summarised from {SUMMARY_LANGUAGE!r} only, not {source!r}{found}",
            field="source",
        )


@dataclass
class Article:
    summary: Summary
    translations: dict[str, Translation]


def article(
    engine: Engine,
    text: str,
    *,
    translate_to: Sequence[str],
    source: str = "en",
    options: GenerationOptions | None = None,
    deadline: float | None = None,
) -> Article:
    """Summarise one article, then translate the summary into each target at once."""
    check_summary_language(source)
    deadline = engine.deadline() if deadline is None else deadline
    keys = {target: resolve_pair(engine, source, target) for target in translate_to}
    summary = summarize(engine, [text], options, deadline=deadline)[0]
    pending: dict[str, PendingTranslation] = {}
    try:
        for target, key in keys.items():
            pending[target] = submit_translation(engine, key, [summary.text], deadline=deadline)
        return Article(summary, {target: p.results()[0] for target, p in pending.items()})
    except BaseException:
        for submitted in pending.values():
            submitted.cancel()
        raise
