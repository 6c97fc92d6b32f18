"""Batch invariance: an input's output alone equals its output co-batched, on both backends.

The plain random-weight models rarely show a difference (a near-tie between two tokens is
needed), so the main checks run on a near-tie copy of the demo summariser
(`build_near_ties`): every other token has a twin one unit in the last place away, so any change
in an input's numbers caused by its batch-mates flips tokens in its output. With
BATCH_BUCKET_TOKENS=0 (padding to the longest input, as before the setting existed) the same
checks find many differences on both backends: that is what the setting fixes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.invariance import Held, alone_and_co_batched, differences, mixed_texts
from service.core.config import Settings
from service.inference.engine import Engine
from service.inference.seq2seq import GenerationParams

# Greedy and beam search alike; a short summary keeps 2 x 96 inputs fast on 2 cores.
BEAM = GenerationParams(min_length=24, max_length=40)
GREEDY = GenerationParams(num_beams=1, min_length=24, max_length=40)
# Where invariance is exact on the CPU (see README, Batch invariance): int8 is CTranslate2's
# CPU default; its float32 kernels change with the batch size (measured in the bench only).
EXACT = ("transformers:float32", "ctranslate2:int8")


@pytest.fixture(scope="module", params=EXACT)
def exact_settings(request: pytest.FixtureRequest, demo_env: dict[str, str]) -> Settings:
    """The plain demo models on each backend, in the numeric type where invariance is exact."""
    backend, compute_type = request.param.split(":")
    return Settings.from_env({**demo_env, "BACKEND": backend, "COMPUTE_TYPE": compute_type})


@pytest.fixture(scope="module")
def stress_settings(exact_settings: Settings, near_tie_summarizer: Path) -> Settings:
    """The same with the near-tie summariser."""
    return exact_settings.replace(summarize_model=str(near_tie_summarizer))


@pytest.mark.parametrize("params", [BEAM, GREEDY], ids=["beam", "greedy"])
def test_every_input_gets_its_alone_output_when_co_batched(
    stress_settings: Settings, params: GenerationParams
) -> None:
    texts = mixed_texts(96)
    alone, co_batched, extra = alone_and_co_batched(stress_settings, "summarize", texts, params)
    assert len(set(alone)) > 90, "outputs should depend on the input"
    assert extra == 0, "inputs padded alike should share a batch"
    assert differences(alone, co_batched) == 0


def test_several_torch_threads_change_nothing(
    demo_env: dict[str, str], near_tie_summarizer: Path
) -> None:
    """transformers on 2 threads, where torch's fused SDPA attention would split its work by
    batch shape (the backend uses eager attention on the CPU for this)."""
    env = {"BACKEND": "transformers", "TORCH_THREADS": "2"}
    settings = Settings.from_env({**demo_env, **env, "SUMMARIZE_MODEL": str(near_tie_summarizer)})
    alone, co_batched, extra = alone_and_co_batched(settings, "summarize", mixed_texts(64), BEAM)
    assert extra == 0
    assert differences(alone, co_batched) == 0


def test_without_buckets_co_batched_outputs_change(stress_settings: Settings) -> None:
    """BATCH_BUCKET_TOKENS=0 pads each batch to its longest input: an input's numbers then
    depend on its batch-mates, and the near-tie model shows it."""
    texts = mixed_texts(96)
    settings = stress_settings.replace(batch_bucket_tokens=0)
    alone, co_batched, extra = alone_and_co_batched(settings, "summarize", texts, BEAM)
    assert extra == 0  # one batch: every length is one padded length
    assert differences(alone, co_batched) >= 3


@pytest.mark.parametrize("key", ["summarize", "en-fr", "en-ar"])
def test_the_plain_demo_models_are_invariant_too(exact_settings: Settings, key: str) -> None:
    texts = mixed_texts(48, seed=5)
    alone, co_batched, extra = alone_and_co_batched(exact_settings, key, texts, BEAM)
    assert extra == 0
    assert differences(alone, co_batched) == 0


# ----- the padding policy ------------------------------------------------------------------


@pytest.fixture(scope="module")
def engine(demo_env: dict[str, str]) -> Iterator[Engine]:
    """Buckets of 32 tokens (the default is 128), so that short texts span several."""
    started = Engine(Settings.from_env({**demo_env, "BATCH_BUCKET_TOKENS": "32"})).start()
    yield started
    started.close(timeout=30)


def test_an_input_is_padded_to_its_own_bucket(engine: Engine) -> None:
    model = engine.model("summarize")
    assert engine.settings.batch_bucket_tokens == model.bucket_tokens == 32
    padded = [model.padded_length(n) for n in (1, 31, 32, 33, 64, 65, 1000, 1024)]
    assert padded == [32, 32, 32, 64, 64, 96, 1024, 1024]
    model.bucket_tokens = 48  # a bucket past the model's limit stops at the limit
    try:
        assert [model.padded_length(n) for n in (1000, 1008, 1024)] == [1008, 1008, 1024]
    finally:
        model.bucket_tokens = 32


def test_buckets_off_pads_to_the_longest_input(engine: Engine) -> None:
    model = engine.model("summarize")
    model.bucket_tokens = 0
    try:
        assert [model.padded_length(n) for n in (1, 33, 1024)] == [1, 33, 1024]
    finally:
        model.bucket_tokens = 32


def test_only_inputs_padded_alike_share_a_batch(engine: Engine) -> None:
    texts = mixed_texts(24, seed=3)
    model = engine.model("en-fr")
    inputs = model.encode(texts)
    held = Held(engine, "en-fr")
    blocker = engine.submit("en-fr", inputs[0], GREEDY)
    assert held.entered.wait(30)
    tickets = [engine.submit("en-fr", ids, GREEDY) for ids in inputs]
    held.opened.set()
    assert all(ticket.result() for ticket in [blocker, *tickets])
    batch_of = {}
    for ids, ticket in zip(inputs, tickets, strict=True):
        batch_of.setdefault(ticket.batch_id, set()).add(model.padded_length(len(ids)))
    assert all(len(lengths) == 1 for lengths in batch_of.values())
    assert len(batch_of) == len({model.padded_length(len(ids)) for ids in inputs}) > 1
