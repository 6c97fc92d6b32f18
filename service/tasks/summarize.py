"""Summarise: split each text into chunks that fit the summariser, summarise every chunk in
shared batches, join the partial summaries (and summarise them again while too long).

The work reports its progress as it goes (`Progress`: chunks done of chunks, and each partial
summary as it is ready): `summarize_progress` and `summary_events` are generators of those
events that return the result, so a surface can stream them; `summarize` and `summarize_texts`
run them to the end.

All pieces of a request go to the engine as one submission (`Engine.submit_many`), so a request's
own chunks share batches with each other and with other requests; a request has one deadline for
all its chunks, rounds and its preprocessing (splitting and tokenising check it as they go), and
large inputs are preprocessed one request at a time (`Engine.preprocessing`).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from service.core.errors import InvalidRequest
from service.inference.engine import Engine, Submission
from service.inference.registry import SUMMARIZE
from service.inference.seq2seq import Seq2SeqModel
from service.tasks.context import PerText, TaskContext, TextsRequest
from service.tasks.generation import GenerationOptions
from service.tasks.limits import check_texts
from service.tasks.sources import (
    Extracted,
    ReadingTimes,
    SourceOptions,
    bullets,
    read_texts,
    reading_times,
)
from service.tasks.steps import (
    ENCODE_SLICE,
    batch_ids_per_run,
    encode,
    withdrawn_on_failure,
    within,
)
from service.tasks.summary_partials import partial_params, shares_fit
from service.text import plan_chunks, split_paragraphs, split_sentences, split_to_budget

# Rounds of "summarise the partial summaries" before the partials are returned joined.
MAX_SUMMARY_ROUNDS = 3


@dataclass
class Summary:
    text: str
    model: str
    chunks: int
    rounds: int
    batch_ids: list[int] = field(default_factory=list)
    bullets: list[str] | None = None  # with `style: bullets`: the summary's sentences
    reading: ReadingTimes | None = None


@dataclass(frozen=True)
class Progress:
    """Where the summary of the request's text number `text` stands: in summary round `round`,
    `done` of its `chunks` chunks are summarised. The event that opens a round has `done` 0 and
    no chunk; every later one names the chunk just finished (`chunk`, from 0) and its summary
    (`partial`). A text that fits the model is one chunk, and its partial is its summary."""

    text: int
    round: int
    done: int
    chunks: int
    chunk: int | None = None
    partial: str | None = None


R = TypeVar("R")


@dataclass(frozen=True)
class SummarizeRequest(TextsRequest):
    """Texts to summarise (or, with `source.url`, the article of that page); `style` is
    `paragraph` or `bullets`."""

    options: GenerationOptions = GenerationOptions()
    source: SourceOptions = SourceOptions()
    style: str = "paragraph"

    @property
    def items(self) -> int:
        return 1 if self.source.url is not None else len(self.texts)


@dataclass
class Summaries(PerText[Summary]):
    """One summary per text, in order, and what was extracted from each (None: plain text)."""

    extracted: list[Extracted | None] = field(default_factory=list)

    @property
    def summaries(self) -> list[Summary]:
        return self.each


def summarize(ctx: TaskContext, request: SummarizeRequest) -> Summaries:
    """The summarise operation: the texts (fetched or extracted when asked), the limits on
    them, then a summary of each, styled, with its reading times."""
    return run_to_end(summarize_progress(ctx, request))


def summarize_progress(
    ctx: TaskContext, request: SummarizeRequest
) -> Generator[Progress, None, Summaries]:
    """The summarise operation, reporting its progress: reads the texts and checks their limits
    at the first step (so a caller that takes one event before answering still answers a
    refusal as one), then yields Progress events as each round is planned and each chunk is
    summarised, and returns what `summarize` returns. Closing it early withdraws the work still
    queued."""
    deadline = ctx.started()
    texts, extracted = read_texts(ctx, request.texts, request.source, request.field, deadline)
    field_name = "url" if request.source.url is not None else request.field
    check_texts(texts, ctx.limits, field_name)
    summaries = yield from summary_events(ctx.engine, texts, request.options, deadline)
    for summary, text in zip(summaries, texts, strict=True):
        finish(summary, text, request.style, ctx.reading_wpm)
    return Summaries(summaries, extracted)


def finish(summary: Summary, article: str, style: str, words_per_minute: int) -> None:
    """Add what every summary answers besides its text: bullets when asked, reading times."""
    if style == "bullets":
        summary.bullets = bullets(summary.text)
    summary.reading = reading_times(article, summary.text, words_per_minute)


def run_to_end(
    events: Generator[Progress, None, R], progress: Callable[[Progress], object] | None = None
) -> R:
    """Run an operation that reports progress to its end: each event to `progress` (None:
    dropped), then its result."""
    while True:
        try:
            event = next(events)
        except StopIteration as done:
            return done.value
        if progress is not None:
            progress(event)


def summarize_texts(
    engine: Engine,
    texts: Sequence[str],
    options: GenerationOptions | None = None,
    *,
    deadline: float | None = None,
    progress: Callable[[Progress], object] | None = None,
) -> list[Summary]:
    """One summary per text, in order; each Progress event to `progress` as the work goes.

    A text longer than the model's input is split on sentence boundaries into evenly sized
    chunks that each fit; all chunks are summarised in shared batches and the partial summaries
    joined, each as long as SUMMARY_PARTIALS says (see `service.tasks.summary_partials`). While
    the joined partials are longer than the summary length asked for, they are summarised again
    (chunked again if needed), at most MAX_SUMMARY_ROUNDS rounds in all.
    """
    deadline = engine.deadline() if deadline is None else deadline
    return run_to_end(summary_events(engine, texts, options, deadline), progress)


def summary_events(
    engine: Engine, texts: Sequence[str], options: GenerationOptions | None, deadline: float
) -> Generator[Progress, None, list[Summary]]:
    """`summarize_texts` as a generator of its Progress events, returning the summaries."""
    model = engine.model(SUMMARIZE)
    params = (options or GenerationOptions()).params_for(model)
    target = params.max_length or int(model.generation_defaults()["max_length"] or 142)
    summaries = [Summary("", model.name, 0, 0) for _ in texts]
    todo = dict(enumerate(texts))
    for round_no in range(1, MAX_SUMMARY_ROUNDS + 1):
        with engine.preprocessing(sum(map(len, todo.values())), deadline):
            chunked = {
                i: chunk_for_model(model, text, deadline)
                for i, text in within(deadline, todo.items())
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
        outputs = yield from _partials(submission, list(chunked), counts, round_no)
        batch_ids = batch_ids_per_run(submission, counts)
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


def _partials(
    submission: Submission, texts: list[int], counts: list[int], round_no: int
) -> Generator[Progress, None, list[list[str]]]:
    """The round's partial summaries, per text (`texts`: their numbers in the request; `counts`:
    their chunks), yielding a Progress event as the round opens for each text and as each chunk
    is summarised. Closing it early withdraws the round's queued chunks."""
    owner = [(t, k) for t, n in enumerate(counts) for k in range(n)]
    outputs: list[list[str]] = [[""] * n for n in counts]
    done = [0] * len(counts)
    with withdrawn_on_failure() as submitted:
        submitted.append(submission)
        for t, n in enumerate(counts):
            yield Progress(texts[t], round_no, 0, n)
        for index, output in submission.ready():
            t, k = owner[index]
            outputs[t][k] = output
            done[t] += 1
            yield Progress(texts[t], round_no, done[t], counts[t], k, output)
    return outputs


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
        for paragraph in within(deadline, split_paragraphs(text)[::2])
        for piece in split_sentences(paragraph)
        for sentence in split_to_budget(piece, budget, model.count_tokens)
    ]
    counts = [
        count
        for start in within(deadline, range(0, len(sentences), ENCODE_SLICE))
        for count in model.count_tokens(sentences[start : start + ENCODE_SLICE])
    ]
    # Joining sentences can shift token boundaries a little; shrink the budget until all fit.
    for shrink in (1.0, 0.95, 0.9, 0.8, 0.6):
        limit = int(budget * shrink)
        ranges = plan_chunks([min(c, limit) for c in counts], limit)
        chunks = encode(model, [" ".join(sentences[a:b]) for a, b in ranges], deadline)
        if all(len(c) <= model.max_input_tokens for c in chunks):
            return chunks
    raise InvalidRequest("the text could not be split into pieces the model accepts", field="text")
