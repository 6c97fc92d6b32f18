"""Summarise: split each text into chunks that fit the summariser, summarise every chunk in
shared batches, join the partial summaries (and summarise them again while too long).

All pieces of a request go to the engine as one submission (`Engine.submit_many`), so a request's
own chunks share batches with each other and with other requests; a request has one deadline for
all its chunks, rounds and its preprocessing (splitting and tokenising check it as they go), and
large inputs are preprocessed one request at a time (`Engine.preprocessing`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from service.core.errors import InvalidRequest
from service.inference.engine import Engine
from service.inference.registry import SUMMARIZE
from service.inference.seq2seq import Seq2SeqModel
from service.tasks.context import PerText, TaskContext, TextsRequest
from service.tasks.generation import GenerationOptions
from service.tasks.limits import check_texts
from service.tasks.steps import ENCODE_SLICE, batch_ids_per_run, encode, split_runs, within
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


@dataclass(frozen=True)
class SummarizeRequest(TextsRequest):
    """Texts to summarise."""

    options: GenerationOptions = GenerationOptions()


class Summaries(PerText[Summary]):
    """One summary per text, in order."""

    @property
    def summaries(self) -> list[Summary]:
        return self.each


def summarize(ctx: TaskContext, request: SummarizeRequest) -> Summaries:
    """The summarise operation: the limits on texts, then a summary of each."""
    check_texts(request.texts, ctx.limits, request.field)
    deadline = ctx.started()
    return Summaries(summarize_texts(ctx.engine, request.texts, request.options, deadline=deadline))


def summarize_texts(
    engine: Engine,
    texts: Sequence[str],
    options: GenerationOptions | None = None,
    *,
    deadline: float | None = None,
) -> list[Summary]:
    """One summary per text, in order.

    A text longer than the model's input is split on sentence boundaries into evenly sized
    chunks that each fit; all chunks are summarised in shared batches and the partial summaries
    joined, each as long as SUMMARY_PARTIALS says (see `service.tasks.summary_partials`). While
    the joined partials are longer than the summary length asked for, they are summarised again
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
        outputs = split_runs(submission.results(), counts)
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
