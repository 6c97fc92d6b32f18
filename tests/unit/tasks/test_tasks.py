"""Summarise, translate and article on the tiny real models: splitting, chunking, parameters."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from service import tasks
from service.core.config import Settings
from service.core.errors import InvalidRequest, ItemTimeout, Overloaded, UnsupportedLanguage
from service.inference.batching import Ticket
from service.inference.engine import Engine, Submission
from service.inference.registry import SUMMARIZE, ModelSpec, load_model
from service.inference.seq2seq import Generated, GenerationParams, Placement, Seq2SeqModel
from service.ops.demo_models import TRAINING_TEXT
from service.tasks import (
    LENGTH_PRESETS,
    MAX_SUMMARY_ROUNDS,
    ArticleRequest,
    GenerationOptions,
    LanguagePair,
    TaskContext,
    TextLimits,
    chunk_for_model,
    summarize_texts,
    translate_texts,
)
from service.tasks.summary_partials import PARTIAL_MODES, partial_params
from service.text import split_paragraphs, split_sentences
from service.text.language import LanguageDetector

EN_FR = LanguagePair("en", "fr")


def article(engine: Engine, text: str, *, translate_to, source="en", options=None):  # noqa: ANN001
    """The article operation, as a surface calls it, without request limits."""
    ctx = TaskContext(engine, TextLimits(max_items=1, max_text_chars=10**9))
    request = ArticleRequest(text, translate_to, source, options or GenerationOptions())
    return tasks.article(ctx, request)


GREEDY = GenerationOptions(num_beams=1)
# Short greedy summaries: the summariser's defaults (4 beams, 56..142 tokens) are slow on 2 cores.
QUICK_SUMMARY = GenerationOptions(num_beams=1, max_length=40)

ABBREVIATIONS = (
    "Dr. Miriam Castellano of the U.S. Department of Energy spoke in Washington, D.C. on "
    "Monday. Demand rose 4.3 percent, she said."
)
# About 2,500 tokens for the tiny summariser (limit 1,024): three chunks.
LONG_ARTICLE = "\n\n".join([*TRAINING_TEXT["en"], ABBREVIATIONS] * 4)


@pytest.fixture(scope="module", params=("transformers", "ctranslate2"))
def demo_settings(request: pytest.FixtureRequest, demo_env: dict[str, str]) -> Settings:
    """The tiny models' settings, once with each backend: the tasks behave the same on both."""
    return Settings.from_env({**demo_env, "BACKEND": request.param})


@pytest.fixture(scope="module")
def engine(demo_settings: Settings) -> Iterator[Engine]:
    """One started engine per backend for the tests that only read from it."""
    started = Engine(demo_settings).start()
    yield started
    started.close(timeout=30)


@pytest.fixture
def submitted(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[int]]]:
    """Every (model key, token ids) the tasks submit to the shared engine, in order."""
    calls: list[tuple[str, list[int]]] = []
    real_submit = engine.submit

    def submit(key: str, ids: list[int], params: GenerationParams, **kwargs: Any) -> Ticket[str]:
        calls.append((key, list(ids)))
        return real_submit(key, ids, params, **kwargs)

    monkeypatch.setattr(engine, "submit", submit)
    return calls


def decode(model: Seq2SeqModel, ids: list[int]) -> str:
    return model.tokenizer.decode(ids, skip_special_tokens=True)


# ----- summarise: chunking -------------------------------------------------------------------


def test_a_short_text_is_one_chunk(engine: Engine) -> None:
    model = engine.model("summarize")
    text = TRAINING_TEXT["en"][0]
    assert chunk_for_model(model, text) == model.encode([text])


def test_a_long_article_is_cut_into_even_chunks_that_fit(engine: Engine) -> None:
    model = engine.model("summarize")
    assert len(model.encode([LONG_ARTICLE])[0]) > model.max_input_tokens
    chunks = chunk_for_model(model, LONG_ARTICLE)
    lengths = [len(chunk) for chunk in chunks]
    assert len(chunks) > 1
    assert max(lengths) <= model.max_input_tokens
    assert min(lengths) > 0.6 * max(lengths), lengths
    # Every word reaches one chunk, once and in order; chunks start and end on sentences.
    decoded = [decode(model, chunk) for chunk in chunks]
    assert " ".join(decoded).split() == LONG_ARTICLE.split()
    sentences = [s for p in split_paragraphs(LONG_ARTICLE)[::2] for s in split_sentences(p)]
    assert all(sum(s in chunk for chunk in decoded) >= 1 for s in sentences)
    assert all(any(chunk.startswith(s) for s in sentences) for chunk in decoded)
    assert all(any(chunk.endswith(s) for s in sentences) for chunk in decoded)


def test_a_long_article_summary_submits_only_inputs_that_fit(
    engine: Engine, submitted: list[tuple[str, list[int]]]
) -> None:
    model = engine.model("summarize")
    n_chunks = len(chunk_for_model(model, LONG_ARTICLE))
    summary = summarize_texts(engine, [LONG_ARTICLE], QUICK_SUMMARY)[0]
    assert summary.chunks == n_chunks > 1
    assert 1 <= summary.rounds <= MAX_SUMMARY_ROUNDS
    assert summary.text
    assert len(submitted) >= n_chunks
    assert all(key == "summarize" for key, _ in submitted)
    assert all(len(ids) <= model.max_input_tokens for _, ids in submitted)
    # First round: the chunks themselves.
    assert [ids for _, ids in submitted[:n_chunks]] == chunk_for_model(model, LONG_ARTICLE)
    assert summary.batch_ids


class _Done:
    def __init__(self, text: str) -> None:
        self.text = text
        self.batch_id = 1

    def result(self) -> str:
        return self.text

    def cancel(self) -> None:
        pass


class _ScriptedEngine:
    """An engine whose summariser answers `answer(round, index)` for the index-th input of each
    round (a round is one `submit_many`), and records every round's inputs."""

    window = 1000

    def __init__(self, engine: Engine, answer: Callable[[int, int], str]) -> None:
        self._model = engine.model("summarize")
        self._answer = answer
        self.rounds: list[list[list[int]]] = []
        self.params: list[list[GenerationParams]] = []
        self.deadlines: list[float | None] = []
        self.preprocessing = engine.preprocessing
        self.settings = engine.settings

    def model(self, key: str) -> Seq2SeqModel:
        return self._model

    def deadline(self) -> float:
        return time.monotonic() + 60

    def submit_many(
        self,
        key: str,
        inputs: list[list[int]],
        params: GenerationParams | list[GenerationParams],
        *,
        deadline: float,
    ) -> Submission:
        self.rounds.append([])
        self.params.append([])
        self.deadlines.append(deadline)
        return Submission(self, key, inputs, params, deadline)  # type: ignore[arg-type]

    def submit(self, key: str, ids: list[int], params: GenerationParams, **kwargs: Any) -> _Done:
        assert len(ids) <= self._model.max_input_tokens
        inputs = self.rounds[-1]
        inputs.append(list(ids))
        self.params[-1].append(params)
        return _Done(self._answer(len(self.rounds), len(inputs) - 1))


def test_summary_rounds_stop_at_the_limit(engine: Engine) -> None:
    # Every answer is longer than the summary asked for: only the round limit stops it.
    verbose = _ScriptedEngine(engine, lambda round_no, i: " ".join(TRAINING_TEXT["en"]))
    verbose.settings = engine.settings.replace(summary_partials="resummarize")
    summary = summarize_texts(verbose, [LONG_ARTICLE])[0]  # type: ignore[arg-type]
    assert summary.rounds == MAX_SUMMARY_ROUNDS
    assert len(verbose.rounds) == MAX_SUMMARY_ROUNDS
    # One deadline for the whole request, set before the first round, not one per round.
    assert verbose.deadlines[0] is not None and len(set(verbose.deadlines)) == 1
    assert summary.text == " ".join([" ".join(TRAINING_TEXT["en"])] * len(verbose.rounds[-1]))


def test_every_chunk_s_partial_summary_reaches_the_summary(engine: Engine) -> None:
    tagged = _ScriptedEngine(engine, lambda round_no, i: f"part{round_no}x{i}")
    summary = summarize_texts(tagged, [LONG_ARTICLE], QUICK_SUMMARY)[0]  # type: ignore[arg-type]
    chunks = len(tagged.rounds[0])
    assert chunks == summary.chunks > 1
    assert summary.rounds == 1  # the joined tags are shorter than the summary asked for
    assert summary.text == " ".join(f"part1x{i}" for i in range(chunks))


@pytest.mark.parametrize("mode", PARTIAL_MODES)
def test_a_second_round_summarises_every_partial_summary(engine: Engine, mode: str) -> None:
    """A join longer than the summary is summarised again: always with `resummarize`, and with
    `share` when the shares are at their floor (three chunks of a 40-token summary)."""
    filler = " ".join(TRAINING_TEXT["en"][0].split()[:30])

    def answer(round_no: int, i: int) -> str:
        return f"part{i} {filler}" if round_no == 1 else f"final{i}"

    tagged = _ScriptedEngine(engine, answer)
    tagged.settings = engine.settings.replace(summary_partials=mode)
    summary = summarize_texts(tagged, [LONG_ARTICLE], QUICK_SUMMARY)[0]  # type: ignore[arg-type]
    chunks = len(tagged.rounds[0])
    assert summary.rounds == 2
    (second,) = tagged.rounds[1]  # the joined partials fit the model: one input
    assert (
        decode(tagged.model("summarize"), second).split()
        == " ".join(f"part{i} {filler}" for i in range(chunks)).split()
    )
    assert summary.text == "final0"
    assert summary.chunks == chunks


@pytest.mark.parametrize("mode", PARTIAL_MODES)
def test_each_partial_gets_the_length_summary_partials_gives_it(engine: Engine, mode: str) -> None:
    tagged = _ScriptedEngine(engine, lambda round_no, i: f"part{round_no}x{i}")
    tagged.settings = engine.settings.replace(summary_partials=mode)
    asked = GenerationOptions(num_beams=2, min_length=30, max_length=100)
    summary = summarize_texts(tagged, [LONG_ARTICLE], asked)[0]  # type: ignore[arg-type]
    model = tagged.model("summarize")
    chunks = summary.chunks
    assert chunks > 1 and summary.rounds == 1
    expected = partial_params(asked.params_for(model), model.generation_defaults(), chunks, mode)
    assert tagged.params == [[expected] * chunks]
    assert expected.num_beams == 2
    if mode == "share":
        assert (expected.min_length, expected.max_length) == (30 // chunks, 100 // chunks)
    else:
        assert (expected.min_length, expected.max_length) == (30, 100)


def test_shares_that_fit_by_their_limits_are_the_summary_in_one_round(engine: Engine) -> None:
    """With `share`, each partial is decoded within its share of the summary length; its text
    may tokenise again to a little more, which starts no second round."""
    filler = " ".join(TRAINING_TEXT["en"][0].split()[:60])
    tagged = _ScriptedEngine(engine, lambda round_no, i: f"part{i} {filler}")
    tagged.settings = engine.settings.replace(summary_partials="share")
    summary = summarize_texts(tagged, [LONG_ARTICLE], GREEDY)[0]  # type: ignore[arg-type]
    chunks = len(tagged.rounds[0])
    assert chunks > 1 and summary.rounds == 1 and len(tagged.rounds) == 1
    assert summary.text == " ".join(f"part{i} {filler}" for i in range(chunks))


def test_a_text_of_exactly_the_model_s_input_is_one_chunk(engine: Engine) -> None:
    """Sent whole, as tokenised: its paragraph break is kept (chunks join sentences by spaces)."""
    model = engine.model("summarize")
    head = "The talks resumed.\n\nBoth sides"
    words = model.max_input_tokens - len(model.encode([head])[0])
    text = head + " the" * words
    ids = model.encode([text])[0]
    assert len(ids) == model.max_input_tokens
    assert chunk_for_model(model, text) == [ids]


def test_one_token_over_the_model_s_input_is_two_chunks_that_fit(engine: Engine) -> None:
    model = engine.model("summarize")
    words = model.max_input_tokens - model.overhead_tokens + 1
    text = " ".join(["the"] * words)
    assert len(model.encode([text])[0]) == model.max_input_tokens + 1
    chunks = chunk_for_model(model, text)
    assert len(chunks) == 2
    assert all(len(chunk) <= model.max_input_tokens for chunk in chunks)
    assert sum(len(chunk) - model.overhead_tokens for chunk in chunks) == words


class _JoinCostModel:
    """A model whose tokenizer spends one token on every join between sentences, which
    `count_tokens` (sentence by sentence) cannot see: chunks planned on the counts overflow."""

    max_input_tokens = 20
    overhead_tokens = 2

    def __init__(self) -> None:
        self.vocabulary: list[str] = []

    def _ids(self, text: str) -> list[int]:
        ids = [0]
        for sentence in split_sentences(text):
            if len(ids) > 1:
                ids.append(-1)  # the join
            for word in sentence.split():
                self.vocabulary.append(word)
                ids.append(len(self.vocabulary))
        return ids + [0]

    def encode(self, texts: list[str]) -> list[list[int]]:
        return [self._ids(text) for text in texts]

    def count_tokens(self, texts: list[str]) -> list[int]:
        return [len(text.split()) for text in texts]

    def words(self, ids: list[int]) -> list[str]:
        return [self.vocabulary[i - 1] for i in ids if i > 0]


def test_chunks_that_overflow_once_joined_are_planned_again_smaller() -> None:
    model = _JoinCostModel()
    things = "tanks ships planes trucks boats drones guns tents maps radios flags jeeps".split()
    text = " ".join(f"Reporters saw {thing}." for thing in things)
    assert len(split_sentences(text)) == 12
    chunks = chunk_for_model(model, text)  # type: ignore[arg-type]
    # Planned on counts, six 3-word sentences fill the 18-token budget but encode to 25 tokens.
    assert all(len(chunk) <= model.max_input_tokens for chunk in chunks)
    assert len(chunks) >= 3
    assert [w for chunk in chunks for w in model.words(chunk)] == text.split()


def test_short_texts_take_one_round(engine: Engine) -> None:
    texts = [TRAINING_TEXT["en"][0], TRAINING_TEXT["en"][1]]
    summaries = summarize_texts(engine, texts, QUICK_SUMMARY)
    assert [(s.chunks, s.rounds) for s in summaries] == [(1, 1), (1, 1)]
    assert summaries[0].text != summaries[1].text


# ----- translate -----------------------------------------------------------------------------


LAYOUT_TEXT = (
    "Heavy rain caused flooding. Dr. Smith met U.S. officials in Washington, D.C. today.\n\n"
    "Prices rose 2.5 percent.\n"
    "Shares fell sharply on Monday.\r\n\r\n"
    "The vote is on Friday."
)


@pytest.mark.parametrize("target", ["fr", "ar"])
def test_translation_keeps_paragraph_breaks_and_sentences(
    engine: Engine, submitted: list[tuple[str, list[int]]], target: str
) -> None:
    result = translate_texts(engine, [LAYOUT_TEXT], target=target)[0]
    assert result.sentences == 5
    assert len(submitted) == 5
    pieces = split_paragraphs(result.text)
    assert pieces[1::2] == ["\n\n", "\n", "\r\n\r\n"]
    # Each paragraph is its sentences translated one by one (batching changes nothing).
    paragraphs = split_paragraphs(LAYOUT_TEXT)[::2]
    assert len(pieces[::2]) == len(paragraphs) == 4
    for paragraph, translated in zip(paragraphs, pieces[::2], strict=True):
        expected = [
            translate_texts(engine, [s], target=target)[0].text for s in split_sentences(paragraph)
        ]
        assert translated == " ".join(expected)


def test_a_request_s_pieces_run_in_shared_batches(make_engine: Callable[..., Engine]) -> None:
    engine = make_engine(max_wait_ms=50)

    def batches(key: str) -> tuple[float, float]:
        """(generate calls, items in them) so far."""
        sample = engine.metrics.registry.get_sample_value
        labels = {"model": key}
        return sample("service_batch_size_count", labels), sample("service_batch_size_sum", labels)

    sentences = [s for p in TRAINING_TEXT["en"][:2] for s in split_sentences(p)]
    result = translate_texts(engine, [" ".join(sentences)], target="fr", options=GREEDY)[0]
    assert result.sentences == len(sentences) > 3
    # Every sentence in one generate call per padded length (BATCH_BUCKET_TOKENS).
    model = engine.model("en-fr")
    lengths = {model.padded_length(len(ids)) for ids in model.encode(sentences)}
    assert batches("en-fr") == (len(lengths), len(sentences))
    assert len(lengths) < len(sentences)
    summarizer = engine.model("summarize")
    first_round = [
        *chunk_for_model(summarizer, LONG_ARTICLE),
        summarizer.encode(TRAINING_TEXT["en"][:1])[0],
    ]
    summarize_texts(engine, [LONG_ARTICLE, TRAINING_TEXT["en"][0]], QUICK_SUMMARY)
    calls, items = batches("summarize")
    assert items >= len(first_round) and calls < items
    # The first round ran as one batch per padded length, each later round as one batch.
    lengths = {summarizer.padded_length(len(ids)) for ids in first_round}
    assert calls <= len(lengths) + MAX_SUMMARY_ROUNDS - 1


def test_translation_of_a_list_keeps_its_order(engine: Engine) -> None:
    texts = list(TRAINING_TEXT["en"][:3])
    together = [t.text for t in translate_texts(engine, texts, target="fr", options=GREEDY)]
    alone = [translate_texts(engine, [t], target="fr", options=GREEDY)[0].text for t in texts]
    assert together == alone
    assert len(set(together)) == 3


def test_an_over_long_sentence_is_split_and_nothing_is_lost(
    engine: Engine, submitted: list[tuple[str, list[int]]]
) -> None:
    model = engine.model("en-fr")
    words = TRAINING_TEXT["en"][0].replace(".", "").replace(",", "").lower().split()
    sentence = " ".join(words * 8)
    assert model.count_tokens([sentence])[0] > model.max_input_tokens
    result = translate_texts(engine, [sentence], target="fr", options=GREEDY)[0]
    assert result.sentences == len(submitted) > 1
    # Pieces leave room for a translation longer than its source: half the output length.
    assert tasks.translation_input_limit(model) == model.max_output_tokens // 2 == 256
    assert all(len(ids) <= 256 for _, ids in submitted)
    sent = " ".join(decode(model, ids) for _, ids in submitted)
    assert sent.split() == sentence.split()
    assert "\n" not in result.text


def test_blank_texts_translate_to_themselves(engine: Engine) -> None:
    results = translate_texts(engine, ["", "\n\n", "Heavy rain."], target="fr")
    assert [r.text for r in results[:2]] == ["", "\n\n"]
    assert [r.sentences for r in results] == [0, 0, 1]
    assert results[2].text


def test_an_unsupported_pair_names_the_wrong_field(engine: Engine) -> None:
    with pytest.raises(UnsupportedLanguage) as raised:
        translate_texts(engine, ["Hi."], target="de")
    assert raised.value.field == "target"
    assert "en-fr, en-ar" in raised.value.message
    with pytest.raises(UnsupportedLanguage) as raised:
        translate_texts(engine, ["Hi."], source="de", target="fr")
    assert raised.value.field == "source"


def test_article_translates_its_summary(engine: Engine) -> None:
    result = article(
        engine, TRAINING_TEXT["en"][2], translate_to=["fr", "ar"], options=QUICK_SUMMARY
    )
    assert set(result.translations) == {"fr", "ar"}
    for target, translation in result.translations.items():
        assert (
            translation.text
            == translate_texts(engine, [result.summary.text], target=target)[0].text
        )


def test_article_summarises_with_the_options_asked_for(engine: Engine) -> None:
    text = TRAINING_TEXT["en"][2]
    short = GenerationOptions(num_beams=1, min_length=4, max_length=6)
    result = article(engine, text, translate_to=[], options=short)
    assert result.summary.text == summarize_texts(engine, [text], short)[0].text
    assert result.summary.text != summarize_texts(engine, [text], QUICK_SUMMARY)[0].text


def test_an_article_in_a_language_the_summariser_does_not_read_is_refused(engine: Engine) -> None:
    with pytest.raises(UnsupportedLanguage, match="summarised from 'en' only, not 'fr'") as raised:
        article(engine, "Bonjour.", translate_to=["ar"], source="fr")
    assert raised.value.field == "source"


# ----- generation parameters -----------------------------------------------------------------


def test_model_defaults_come_from_generation_config(engine: Engine) -> None:
    defaults = engine.model("summarize").generation_defaults()
    assert defaults["num_beams"] == 4
    assert (defaults["min_length"], defaults["max_length"]) == (56, 142)
    assert defaults["no_repeat_ngram_size"] == 3
    assert engine.model("en-fr").generation_defaults()["num_beams"] == 4
    # No options: nothing is overridden, so generation_config decides.
    assert GenerationOptions().params_for(engine.model("summarize")).overrides() == {}


@pytest.fixture(scope="module")
def summariser(demo_models: dict[str, Path], demo_settings: Settings) -> Seq2SeqModel:
    """A summariser of the test's own, to call directly (the engine's belongs to its worker)."""
    spec = ModelSpec(SUMMARIZE, SUMMARIZE, str(demo_models["summarize"]))
    placement = Placement(
        device=torch.device("cpu"),
        compute_type="float32",
        threads=1,
        cache_dir=Path(demo_settings.ct2_cache_dir),
    )
    return load_model(spec, placement, demo_settings.backend)


def test_the_summariser_defaults_shape_its_output(
    summariser: Seq2SeqModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    captured: list[list[list[int]]] = []
    real_decode = summariser.decode

    def capture(sequences: list[list[int]]) -> list[str]:
        captured.append(sequences)
        return real_decode(sequences)

    ids = summariser.encode([TRAINING_TEXT["en"][1]])
    monkeypatch.setattr(summariser, "decode", capture)
    default = summariser.generate(ids, GenerationParams())
    four_beams = summariser.generate(ids, GenerationParams(num_beams=4))
    greedy = summariser.generate(ids, GenerationParams(num_beams=1))
    assert default.texts == four_beams.texts != greedy.texts
    assert 56 <= default.new_tokens <= 142
    tokens = captured[0][0]
    trigrams = [tuple(tokens[i : i + 3]) for i in range(len(tokens) - 2)]
    assert len(trigrams) == len(set(trigrams)), "no_repeat_ngram_size=3 not applied"


@pytest.mark.parametrize(
    ("options", "field"),
    [
        (GenerationOptions(num_beams=0), "num_beams"),
        (GenerationOptions(num_beams=9), "num_beams"),
        (GenerationOptions(max_length=0), "max_length"),
        (GenerationOptions(max_length=1025), "max_length"),
        (GenerationOptions(min_length=-1), "min_length"),
        (GenerationOptions(min_length=50, max_length=40), "min_length"),
        (GenerationOptions(length="short", min_length=100), "min_length"),
        (GenerationOptions(length="huge"), "length"),
    ],
)
def test_bad_overrides_name_their_field(
    engine: Engine, options: GenerationOptions, field: str
) -> None:
    with pytest.raises(InvalidRequest) as raised:
        options.params_for(engine.model("summarize"))
    assert raised.value.field == field
    with pytest.raises(InvalidRequest):
        summarize_texts(engine, ["Heavy rain."], options)


def test_max_length_limit_is_the_model_s(engine: Engine) -> None:
    translator = engine.model("en-fr")
    with pytest.raises(InvalidRequest) as raised:
        GenerationOptions(max_length=513).params_for(translator)
    assert raised.value.field == "max_length"
    assert GenerationOptions(max_length=512).params_for(translator).max_length == 512


def test_a_max_length_below_the_default_minimum_lowers_the_minimum(engine: Engine) -> None:
    params = GenerationOptions(max_length=30).params_for(engine.model("summarize"))
    assert (params.min_length, params.max_length) == (30, 30)
    summary = summarize_texts(engine, [TRAINING_TEXT["en"][0]], GenerationOptions(max_length=30))[0]
    assert summary.text


@pytest.mark.parametrize(
    ("options", "bounds"),
    [
        # An explicit maximum below the preset's minimum lowers that minimum to it.
        (GenerationOptions(length="short", max_length=10), (10, 10)),
        (GenerationOptions(length="long", max_length=50), (50, 50)),
        # Above the preset's minimum, the minimum stays the preset's.
        (GenerationOptions(length="short", max_length=40), (20, 40)),
        # Each explicit bound replaces the preset's own.
        (GenerationOptions(length="short", min_length=5), (5, 60)),
        (GenerationOptions(length="medium", min_length=5, max_length=9), (5, 9)),
        (GenerationOptions(length="short"), (20, 60)),
    ],
)
def test_a_length_preset_combines_with_explicit_bounds(
    engine: Engine, options: GenerationOptions, bounds: tuple[int, int]
) -> None:
    params = options.params_for(engine.model("summarize"))
    assert (params.min_length, params.max_length) == bounds


def test_length_presets_change_the_output_length(engine: Engine, summariser: Seq2SeqModel) -> None:
    ids = summariser.encode([TRAINING_TEXT["en"][3]])
    tokens = {}
    for name, (low, high) in LENGTH_PRESETS.items():
        params = GenerationOptions(length=name, num_beams=1).params_for(summariser)
        assert (params.min_length, params.max_length) == (low, high)
        tokens[name] = summariser.generate(ids, params).new_tokens
        assert low <= tokens[name] <= high
    assert tokens["short"] < tokens["medium"] < tokens["long"]
    texts = {
        name: summarize_texts(
            engine, [TRAINING_TEXT["en"][3]], GenerationOptions(length=name, num_beams=1)
        )[0].text
        for name in ("short", "long")
    }
    assert len(texts["short"]) < len(texts["long"])


# ----- failure isolation ---------------------------------------------------------------------


class _FussyTokenizer:
    """The real tokenizer, except that it raises on any text holding MARKER."""

    def __init__(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer

    def __call__(self, texts: list[str], **kwargs: Any) -> Any:
        if any("MARKER" in text for text in texts):
            raise ValueError("tokenizer exploded")
        return self._tokenizer(texts, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tokenizer, name)


def test_a_tokenizer_error_fails_only_that_request(
    make_engine: Callable[..., Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine()
    model = engine.model("en-fr")
    monkeypatch.setattr(model, "tokenizer", _FussyTokenizer(model.tokenizer))
    outcomes: dict[str, Any] = {}

    def request(name: str, text: str) -> None:
        try:
            outcomes[name] = translate_texts(engine, [text], target="fr", options=GREEDY)[0].text
        except ValueError as exc:
            outcomes[name] = exc

    threads = [
        threading.Thread(target=request, args=("bad", "Heavy rain. MARKER here.")),
        threading.Thread(target=request, args=("good", "Heavy rain caused flooding.")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert isinstance(outcomes["bad"], ValueError)
    assert isinstance(outcomes["good"], str) and outcomes["good"]
    assert engine.ready
    assert translate_texts(engine, ["Heavy rain."], target="fr", options=GREEDY)[0].text


def test_a_refused_request_withdraws_its_queued_pieces(
    make_engine: Callable[..., Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(max_queue=2)
    model = engine.model("en-fr")
    entered, opened = threading.Event(), threading.Event()
    real_generate = model.generate

    def held(batch: list[list[int]], params: GenerationParams, **kw: Any) -> Generated:
        entered.set()
        opened.wait(30)
        return real_generate(batch, params, **kw)

    monkeypatch.setattr(model, "generate", held)
    try:
        first = tasks.submit_translation(engine, EN_FR, ["Heavy rain."], GREEDY)
        assert entered.wait(10)
        batcher = engine._slots["en-fr"].batcher
        other = tasks.submit_translation(engine, EN_FR, ["Floods."], GREEDY)
        assert batcher.depth == 1
        # Its first piece gets the last slot, its second is refused: the first is withdrawn.
        with pytest.raises(Overloaded):
            translate_texts(engine, ["One. Two. Three."], target="fr", options=GREEDY)
        assert batcher.depth == 1
        queued = tasks.submit_translation(engine, EN_FR, ["Four."], GREEDY)
        assert batcher.depth == 2
    finally:
        opened.set()
    assert first.results()[0].text and other.results()[0].text
    assert queued.results()[0].sentences == 1


def test_a_request_with_more_pieces_than_the_queue_holds_is_served(
    make_engine: Callable[..., Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(max_queue=3, max_batch_size=2)
    model = engine.model("en-fr")
    batcher = engine._slots["en-fr"].batcher
    sentences = [s for p in TRAINING_TEXT["en"] for s in split_sentences(p)]
    alone = [r.text for r in translate_texts(engine, sentences, target="fr", options=GREEDY)]
    depths: list[int] = []
    real_generate = model.generate

    def watched(batch: list[list[int]], params: GenerationParams, **kw: Any) -> Generated:
        depths.append(batcher.depth)
        return real_generate(batch, params, **kw)

    monkeypatch.setattr(model, "generate", watched)
    result = translate_texts(engine, [" ".join(sentences)], target="fr", options=GREEDY)[0]
    assert result.sentences == len(sentences) > 2 * batcher.max_queue
    assert result.text == " ".join(alone)
    # Fed through a window of two batches: the queue never held more than its bound.
    assert len(depths) >= len(sentences) / 2 and max(depths) <= batcher.max_queue


# ----- deadlines cover preprocessing ---------------------------------------------------------


def test_a_request_past_its_deadline_stops_preprocessing_and_queues_nothing(
    engine: Engine,
) -> None:
    """ITEM_TIMEOUT_S counts from the request's start: splitting and tokenising check it, so a
    request already out of time is answered 504 without queueing a piece."""
    long_text = "\n\n".join([" ".join(TRAINING_TEXT["en"])] * 50)
    queued_before = engine.metrics.render()
    past = time.monotonic() - 0.001
    with pytest.raises(ItemTimeout):
        tasks.translate_texts(engine, [long_text], target="fr", deadline=past)
    with pytest.raises(ItemTimeout):
        tasks.summarize_texts(engine, [long_text], deadline=past)
    with pytest.raises(ItemTimeout):
        chunk_for_model(engine.model(SUMMARIZE), long_text * 4, past)
    assert engine.metrics.render() == queued_before


def test_large_inputs_are_preprocessed_one_at_a_time(engine: Engine) -> None:
    """A second large input waits for the first's preprocessing, at most until its deadline;
    small inputs never wait."""
    large = 30_000
    with engine.preprocessing(large, time.monotonic() + 5):
        with engine.preprocessing(100, time.monotonic() + 5):
            pass
        started = time.monotonic()
        with pytest.raises(ItemTimeout):
            with engine.preprocessing(large, time.monotonic() + 0.2):
                pass
        assert time.monotonic() - started < 5
    with engine.preprocessing(large, time.monotonic() + 1):
        pass


def test_a_summary_reports_each_chunk_as_it_is_ready(engine: Engine) -> None:
    """Progress: per text, an event that opens the round (0 done), then one per chunk with its
    partial summary; the partials of a one-round summary are the summary."""
    brief = TRAINING_TEXT["en"][0]
    events: list[tasks.Progress] = []
    long, short = summarize_texts(
        engine, [LONG_ARTICLE, brief], QUICK_SUMMARY, progress=events.append
    )
    first = [e for e in events if e.text == 0 and e.round == 1]
    assert [e.done for e in first] == list(range(long.chunks + 1))
    assert {e.chunks for e in first} == {long.chunks} and long.chunks > 1
    assert sorted(e.chunk for e in first[1:]) == list(range(long.chunks))
    if long.rounds == 1:
        partials = sorted((e.chunk, e.partial) for e in first[1:])
        assert " ".join(p for _, p in partials) == long.text
    assert [(e.done, e.chunks, e.partial) for e in events if e.text == 1] == [
        (0, 1, None),
        (1, 1, short.text),
    ]


def test_a_summary_given_up_midway_withdraws_its_chunks(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A caller that stops taking events (a streaming client that left) withdraws the chunks
    still queued."""
    model = engine.model(SUMMARIZE)
    real_generate, entered, opened = model.generate, threading.Event(), threading.Event()

    def held(batch: list[list[int]], params: GenerationParams, **kw: Any) -> Generated:
        entered.set()
        opened.wait(30)
        return real_generate(batch, params, **kw)

    monkeypatch.setattr(model, "generate", held)
    ctx = TaskContext(engine, TextLimits(max_items=1, max_text_chars=10**9))
    try:
        blocker = threading.Thread(target=summarize_texts, args=(engine, ["Heavy rain."], GREEDY))
        blocker.start()
        assert entered.wait(10)
        events = tasks.summarize_progress(
            ctx, tasks.SummarizeRequest([LONG_ARTICLE], QUICK_SUMMARY)
        )
        opening = next(events)
        batcher = engine._slots[SUMMARIZE].batcher
        assert (opening.done, batcher.depth) == (0, opening.chunks)
        events.close()
        assert batcher.depth == 0
    finally:
        opened.set()
    blocker.join(30)


# ----- source: auto and detection, among the languages served -----------------------------------


def _detecting(engine: Engine) -> TaskContext:
    return TaskContext(engine, TextLimits(max_items=8, max_text_chars=10**4), LanguageDetector())


def test_short_html_posts_are_read_as_a_served_language(engine: Engine) -> None:
    """Mastodon's case: two-word posts that py3langid reads as Latin among every language."""
    posts = ["<p>Civilians fled.</p>", "<p>Talks <b>resume</b> today</p>"]
    request = tasks.TranslateRequest(posts, "fr", tasks.AUTO, "html")
    result = tasks.translate(_detecting(engine), request)
    assert [t.detected.language for t in result.translations] == ["en", "en"]
    assert all(t.text.startswith("<p>") for t in result.translations)
    assert "<b>" in result.translations[1].text


def test_a_text_already_in_the_target_comes_back_as_it_is(engine: Engine) -> None:
    texts = ["Le conseil a approuvé le nouveau pont mardi.", "Good morning."]
    result = tasks.translate(_detecting(engine), tasks.TranslateRequest(texts, "fr", tasks.AUTO))
    same, translated = result.translations
    assert (same.text, same.model, same.sentences) == (texts[0], "", 0)
    assert same.detected.language == "fr" and same.source == "fr"
    assert translated.source == "en" and translated.model and result.model == translated.model


def test_a_text_no_model_translates_to_the_target_fails_the_request(engine: Engine) -> None:
    texts = ["Good morning.", "اعتقلت الشرطة رجلين بعد السرقة."]
    with pytest.raises(UnsupportedLanguage, match="'ar'") as raised:
        tasks.translate(_detecting(engine), tasks.TranslateRequest(texts, "fr", tasks.AUTO))
    assert raised.value.field == "source"


def test_detect_answers_among_the_languages_served(engine: Engine) -> None:
    request = tasks.DetectRequest(["Civilians fled.", "Vote delayed"])
    result = tasks.detect(_detecting(engine), request)
    assert [found[0].language for found in result.languages] == ["en", "en"]
    assert {d.language for found in result.languages for d in found} <= {"en", "fr", "ar"}
    assert tasks.served_languages(engine) == ["en", "fr", "ar"]
