"""The cache in the engine, on the tiny real models: exact answers, no queue slot for a hit,
order kept, and a changed model, type or option never served an old answer."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from service.core.errors import ItemTimeout, Overloaded
from service.inference.engine import Engine
from service.inference.seq2seq import GenerationParams
from tests.conftest import Faults

# Greedy and short, so the tests are quick; beam search is the same path with other params.
QUICK = GenerationParams(num_beams=1, max_length=12)
QUICK_SUMMARY = GenerationParams(num_beams=1, min_length=0, max_length=12)
TEXTS = (
    "Heavy rain.",
    "Scientists have published a study about coastal wetlands.",
    "Shares in technology companies fell sharply on Monday as investors worried about "
    "slowing demand for phones and computers, while oil prices rose for a third day.",
    "The city council approved a new budget on Tuesday.",
)
# Where outputs are batch-invariant (README, Batch invariance): every output is kept.
EXACT = {"transformers": {"compute_type": "auto"}, "ctranslate2": {"compute_type": "int8"}}


def sample(engine: Engine, name: str, **labels: str) -> float:
    return engine.metrics.registry.get_sample_value(name, labels) or 0.0


def run(engine: Engine, key: str, texts, params: GenerationParams | None = None):
    """Submit `texts` as one request; (outputs, batch ids)."""
    params = params or (QUICK_SUMMARY if key == "summarize" else QUICK)
    model = engine.model(key)
    submission = engine.submit_many(key, model.encode(list(texts)), params)
    return submission.results(), submission.batch_ids


def alone(engine: Engine, key: str, texts, params: GenerationParams | None = None) -> list[str]:
    """Each text in a request of its own, one after the other: each runs alone."""
    return [run(engine, key, [text], params)[0][0] for text in texts]


@pytest.fixture(params=sorted(EXACT))
def exact(request: pytest.FixtureRequest, make_engine):
    """make(**changes) -> an engine on an exact backend and type, cache on."""
    backend = request.param

    def make(**changes):
        return make_engine(**{"backend": backend, "cache": True} | EXACT[backend] | changes)

    return make


@pytest.mark.parametrize("key", ["en-fr", "summarize"])
def test_a_cached_answer_equals_the_uncached_one_alone_and_co_batched(exact, key: str) -> None:
    reference = alone(exact(cache=False), key, TEXTS)
    cached = exact()
    together, batch_ids = run(cached, key, TEXTS)  # co-batched misses, kept
    assert together == reference
    assert len({b for b in batch_ids if b is not None}) < len(TEXTS)  # some really shared
    again, batch_ids = run(cached, key, TEXTS)
    assert again == reference and batch_ids == [None] * len(TEXTS)  # every one a hit
    assert alone(cached, key, TEXTS) == reference
    assert sample(cached, "service_cache_hits_total", model=key, store="memory") == 2 * len(TEXTS)
    assert sample(cached, "service_items_total", model=key, outcome="ok") == len(TEXTS)


def test_a_hit_takes_no_queue_slot_and_a_mix_keeps_its_order(exact) -> None:
    engine = exact(max_queue=2, max_batch_size=1)
    reference = alone(exact(cache=False), "en-fr", TEXTS)
    alone(engine, "en-fr", TEXTS[:2])  # cached now
    held = Faults(engine, "en-fr")
    held.hold("Hold the model.")
    model = engine.model("en-fr")
    try:
        blocker = engine.submit("en-fr", held.ids("Hold the model."), QUICK)
        assert held.entered.wait(30)
        mixed = engine.submit_many("en-fr", model.encode([TEXTS[0], TEXTS[2], TEXTS[1]]), QUICK)
        assert engine._slots["en-fr"].batcher.depth == 1  # the miss alone
        engine.submit_many("en-fr", model.encode(["Filler one."]), QUICK)
        with pytest.raises(Overloaded):  # the queue is full now...
            engine.submit_many("en-fr", model.encode(["Filler two."]), QUICK)
        # ...and hits are still answered, while the model is busy, without waiting for it.
        hits = engine.submit_many("en-fr", model.encode([TEXTS[1], TEXTS[0]]), QUICK)
        assert hits.results() == [reference[1], reference[0]]
        assert hits.batch_ids == [None, None]
    finally:
        held.remove()
    blocker.result()
    assert mixed.results() == [reference[0], reference[2], reference[1]]
    ids = mixed.batch_ids
    assert ids[0] is None and ids[2] is None and ids[1] is not None


def test_a_text_repeated_in_one_request_runs_once(exact) -> None:
    engine = exact()
    outputs, _ = run(engine, "en-fr", [TEXTS[1], TEXTS[3], TEXTS[1], TEXTS[1]])
    assert outputs[0] == outputs[2] == outputs[3]
    assert sample(engine, "service_items_total", model="en-fr", outcome="ok") == 2


def test_a_batch_nobody_waited_for_is_not_kept(exact) -> None:
    engine = exact()
    held = Faults(engine, "en-fr")
    held.hold(TEXTS[1])
    model = engine.model("en-fr")
    try:
        late = engine.submit_many(
            "en-fr", model.encode([TEXTS[1]]), QUICK, deadline=time.monotonic() + 0.5
        )
        assert held.entered.wait(30)
        with pytest.raises(ItemTimeout):
            late.results()
    finally:
        held.remove()  # the batch runs on, for nobody: its output may be cut short
    deadline = time.monotonic() + 30
    while engine._slots["en-fr"].batcher.abandoned():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    _, batch_ids = run(engine, "en-fr", [TEXTS[1]])
    assert batch_ids[0] is not None  # computed again, not served from the abandoned batch


def test_other_generation_options_miss(exact) -> None:
    engine = exact()
    run(engine, "en-fr", TEXTS[:1])
    run(engine, "en-fr", TEXTS[:1], GenerationParams(num_beams=2, max_length=12))
    run(engine, "en-fr", TEXTS[:1], GenerationParams(num_beams=1, max_length=6))
    assert sample(engine, "service_cache_misses_total", model="en-fr") == 3
    assert sample(engine, "service_items_total", model="en-fr", outcome="ok") == 3
    run(engine, "en-fr", TEXTS[:1], GenerationParams(num_beams=1, max_length=6))
    assert sample(engine, "service_cache_hits_total", model="en-fr", store="memory") == 1


def test_another_revision_or_compute_type_misses_what_redis_holds(
    make_engine, demo_models: dict[str, Path], redis_server, tmp_path: Path
) -> None:
    # Another revision: the same model with one more entry in its config (new files, new hash).
    changed = tmp_path / "en-fr-changed"
    shutil.copytree(demo_models["en-fr"], changed)
    config = json.loads((changed / "config.json").read_text())
    (changed / "config.json").write_text(json.dumps(config | {"cache_test_note": 1}))
    shared = {"backend": "ctranslate2", "cache": True, "cache_url": redis_server.url}
    first = make_engine(compute_type="int8", cache_memory_bytes=0, **shared)
    reference, _ = run(first, "en-fr", TEXTS)
    first.cache.redis.flush()
    same = make_engine(compute_type="int8", **shared)
    assert run(same, "en-fr", TEXTS) == (reference, [None] * len(TEXTS))
    assert sample(same, "service_cache_hits_total", model="en-fr", store="redis") == len(TEXTS)
    for other in (
        make_engine(compute_type="float32", **shared),
        make_engine(
            compute_type="int8",
            translate_models=(("en-fr", str(changed)),),
            **shared,
        ),
    ):
        _, batch_ids = run(other, "en-fr", TEXTS)
        assert None not in batch_ids
        assert sample(other, "service_cache_misses_total", model="en-fr") == len(TEXTS)


@pytest.mark.parametrize(
    "changes",
    [
        {"backend": "ctranslate2", "compute_type": "int8", "batch_bucket_tokens": 0},
        {"backend": "transformers", "batch_bucket_tokens": 0},
        {"backend": "ctranslate2", "compute_type": "float32"},
    ],
    ids=["ct2-int8-no-buckets", "transformers-no-buckets", "ct2-float32"],
)
def test_where_not_batch_invariant_only_outputs_computed_alone_are_kept(
    make_engine, near_tie_summarizer: Path, changes: dict
) -> None:
    # The near-tie summariser shows any change in an input's numbers in its output.
    engine = make_engine(cache=True, summarize_model=str(near_tie_summarizer), **changes)
    (state,) = [m["cache"] for m in engine.describe() if m["key"] == "summarize"]
    assert state["enabled"] and state["keeps"] == "alone"
    _, batch_ids = run(engine, "summarize", TEXTS)
    assert len(set(batch_ids)) < len(TEXTS)  # co-batched...
    _, batch_ids = run(engine, "summarize", TEXTS)
    assert None not in batch_ids  # ...so none was kept
    reference = alone(
        make_engine(summarize_model=str(near_tie_summarizer), **changes), "summarize", TEXTS
    )
    assert alone(engine, "summarize", TEXTS) == reference  # alone: kept
    # A co-batched request now gets what each text gets alone, whatever its batch-mates.
    together, batch_ids = run(engine, "summarize", TEXTS)
    assert together == reference and batch_ids == [None] * len(TEXTS)


def test_the_cache_off_keeps_nothing_and_says_so(make_engine) -> None:
    engine = make_engine(cache=False)
    assert engine.cache is None
    assert all(m["cache"] == {"enabled": False} for m in engine.describe())
    run(engine, "en-fr", TEXTS[:1])
    _, batch_ids = run(engine, "en-fr", TEXTS[:1])
    assert batch_ids[0] is not None


def test_models_show_the_cache_state(exact) -> None:
    engine = exact(cache_memory_bytes=1_000_000)
    run(engine, "en-fr", TEXTS[:2])
    state = {m["key"]: m["cache"] for m in engine.describe()}
    assert state["en-fr"]["enabled"] and state["en-fr"]["keeps"] == "all"
    assert state["en-fr"]["memory"]["max_bytes"] == 1_000_000
    assert state["en-fr"]["memory"]["bytes"] > 0 == state["en-ar"]["memory"]["bytes"]
    assert state["en-fr"]["redis"] is None
    assert sample(engine, "service_cache_bytes", model="en-fr") == state["en-fr"]["memory"]["bytes"]
