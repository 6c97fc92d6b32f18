"""The engine on the tiny real models: batch invariance, shared batches, limits, isolation."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from service.core.config import Settings
from service.core.errors import (
    GenerationFailed,
    ItemTimeout,
    ModelLoadError,
    ModelUnavailable,
    Overloaded,
    PayloadTooLarge,
)
from service.inference.engine import Engine
from service.inference.seq2seq import Generated, GenerationParams, Seq2SeqModel
from service.tasks import GenerationOptions, LanguagePair, summarize_and_translate, translate_texts

QUICK = GenerationOptions(num_beams=1, max_length=12)

KEYS = ("summarize", "en-fr", "en-ar")

# Mixed lengths, from a few tokens to a long sentence, so the batch is padded.
MIXED_TEXTS = (
    "Heavy rain.",
    "Scientists have published a study about coastal wetlands.",
    "Shares in technology companies fell sharply on Monday as investors worried about "
    "slowing demand for phones and computers, while oil prices rose for a third day.",
    "The city council approved a new budget on Tuesday.",
)


def batch_count(engine: Engine, key: str, outcome: str = "ok") -> float:
    value = engine.metrics.registry.get_sample_value(
        "service_batches_total", {"model": key, "outcome": outcome}
    )
    return value or 0.0


@pytest.fixture(scope="module", params=("transformers", "ctranslate2"))
def demo_settings(request: pytest.FixtureRequest, demo_env: dict[str, str]) -> Settings:
    """The tiny models' settings, once with each backend: the engine behaves the same on both."""
    return Settings.from_env({**demo_env, "BACKEND": request.param})


@pytest.fixture(scope="module")
def engine(demo_settings: Settings) -> Iterator[Engine]:
    """One started engine per backend for the tests that only read from it."""
    started = Engine(demo_settings).start()
    yield started
    started.close(timeout=30)


class Gate:
    """Wraps a model's generate so that a test can hold the worker inside a batch."""

    def __init__(self, model: Seq2SeqModel) -> None:
        self._generate = model.generate
        self.entered = threading.Event()
        self.opened = threading.Event()

    def __call__(self, batch: list[list[int]], params: GenerationParams, **kw: Any) -> Generated:
        self.entered.set()
        assert self.opened.wait(30), "test never opened the gate"
        return self._generate(batch, params, **kw)


@pytest.fixture
def gate() -> Iterator[Callable[[Engine, str], Gate]]:
    """gate(engine, key) -> a closed Gate on that model (opened at teardown)."""
    gates: list[Gate] = []

    def close_gate(engine: Engine, key: str) -> Gate:
        model = engine.model(key)
        held = Gate(model)
        model.generate = held  # type: ignore[method-assign]
        gates.append(held)
        return held

    yield close_gate
    for held in gates:
        held.opened.set()


# ----- lifecycle and description -------------------------------------------------------------


def test_a_started_engine_is_ready_on_cpu(engine: Engine) -> None:
    assert engine.ready
    assert engine.readiness() == dict.fromkeys(KEYS, "ready")
    assert str(engine.device) == "cpu"
    assert engine.cpu_threads and engine.cpu_threads >= 1
    assert engine.keys("translate") == ["en-fr", "en-ar"]
    described = {d["key"]: d for d in engine.describe()}
    assert described["summarize"]["max_input_tokens"] == 1024
    assert described["en-ar"]["prefix"] == ">>ara<<"
    assert all(d["demo"] and d["dtype"] == "float32" for d in described.values())
    backend = engine.settings.backend
    assert all(
        (d["backend"], d["compute_type"]) == (backend, "float32") for d in described.values()
    )
    info = {"model": "en-fr", "backend": backend, "compute_type": "float32", "device": "cpu"}
    assert engine.metrics.registry.get_sample_value("service_model_info", info) == 1


def test_a_missing_model_fails_eager_start(demo_settings: Settings, tmp_path: Path) -> None:
    engine = Engine(demo_settings.replace(summarize_model=str(tmp_path / "missing")))
    with pytest.raises(ModelLoadError, match="does not exist"):
        engine.start()
    assert not engine.ready


def test_a_missing_model_with_lazy_load_reports_it(
    make_engine: Callable[..., Engine], tmp_path: Path
) -> None:
    engine = make_engine(summarize_model=str(tmp_path / "missing"), eager_load=False)
    with pytest.raises(ModelLoadError):
        engine._slots["summarize"].batcher.wait_ready(30)
    engine._slots["en-fr"].batcher.wait_ready(30)
    states = engine.readiness()
    assert states["summarize"].startswith("failed: ")
    assert states["en-fr"] == "ready"
    assert not engine.ready
    with pytest.raises(ModelUnavailable):
        engine.model("summarize")
    assert translate_texts(engine, ["Heavy rain."], target="fr")[0].text


def test_a_closed_engine_refuses_work(make_engine: Callable[..., Engine]) -> None:
    engine = make_engine()
    ids = engine.model("en-fr").encode(["Heavy rain."])[0]
    engine.close(timeout=30)
    assert not engine.ready
    with pytest.raises(ModelUnavailable):
        engine.submit("en-fr", ids, GenerationParams())


def test_an_input_over_the_model_limit_is_refused(engine: Engine) -> None:
    model = engine.model("en-fr")
    with pytest.raises(PayloadTooLarge, match="exceeds the model's 512"):
        engine.submit("en-fr", [5] * (model.max_input_tokens + 1), GenerationParams())


# ----- shared batches ------------------------------------------------------------------------


def test_concurrent_submitters_share_batches(
    engine: Engine, make_engine: Callable[..., Engine]
) -> None:
    own = make_engine(max_wait_ms=250)
    params = GenerationParams(num_beams=1)
    texts = [f"{MIXED_TEXTS[i % 4]} Item {i}." for i in range(16)]
    inputs = own.model("en-fr").encode(texts)
    expected = [engine.submit("en-fr", ids, params).result() for ids in inputs]
    before = batch_count(own, "en-fr")
    start = threading.Barrier(len(inputs))
    results: dict[int, str] = {}

    def caller(i: int) -> None:
        start.wait()
        results[i] = own.submit("en-fr", inputs[i], params).result()

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(len(inputs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert [results[i] for i in range(len(inputs))] == expected
    assert batch_count(own, "en-fr") - before <= len(inputs) / 4


# ----- limits --------------------------------------------------------------------------------


def test_a_full_queue_is_refused_at_once(make_engine: Callable[..., Engine], gate) -> None:
    engine = make_engine(max_queue=2)
    held = gate(engine, "en-fr")
    model = engine.model("en-fr")
    inputs = model.encode(list(MIXED_TEXTS[:3]))
    params = GenerationParams(num_beams=1)
    running = engine.submit("en-fr", inputs[0], params)
    assert held.entered.wait(10)
    queued = [engine.submit("en-fr", ids, params) for ids in inputs[1:3]]
    with pytest.raises(Overloaded):
        engine.submit("en-fr", inputs[0], params)
    # Other models have queues of their own.
    arabic = engine.model("en-ar").encode(["Heavy rain."])[0]
    other = engine.submit("en-ar", arabic, params)
    assert other.result() == engine.submit("en-ar", arabic, params).result() != ""
    held.opened.set()
    outputs = [ticket.result() for ticket in [running, *queued]]
    assert outputs == [engine.submit("en-fr", ids, params).result() for ids in inputs]


def test_a_request_feeds_its_pieces_two_batches_at_a_time(
    make_engine: Callable[..., Engine], gate
) -> None:
    """A request with many pieces holds at most two batches' worth of the queue (one running,
    one waiting), leaving the rest of MAX_QUEUE to other requests; it still gets every answer."""
    engine = make_engine(max_batch_size=2, max_queue=50)
    assert engine.window == 4
    held = gate(engine, "en-fr")
    model = engine.model("en-fr")
    params = GenerationParams(num_beams=1, max_length=8)
    blocker = engine.submit("en-fr", model.encode(["Hold."])[0], params)
    assert held.entered.wait(10)
    inputs = model.encode([f"Report number {n} came in." for n in range(10)])
    submission = engine.submit_many("en-fr", inputs, params)
    assert engine._slots["en-fr"].batcher.depth == 4
    other = engine.submit("en-fr", inputs[0], params)  # another request still gets in
    held.opened.set()
    outputs = submission.results()
    assert outputs == [engine.submit("en-fr", ids, params).result() for ids in inputs]
    assert other.result() == outputs[0]
    assert blocker.result() != ""


def test_close_finishes_queued_work_and_then_refuses(
    make_engine: Callable[..., Engine], gate
) -> None:
    engine = make_engine()
    model = engine.model("en-fr")
    params = GenerationParams(num_beams=1, max_length=8)
    inputs = model.encode(list(MIXED_TEXTS[:3]))
    expected = [engine.submit("en-fr", ids, params).result() for ids in inputs]
    held = gate(engine, "en-fr")
    tickets = [engine.submit("en-fr", ids, params) for ids in inputs]
    assert held.entered.wait(10)
    closer = threading.Thread(target=engine.close, kwargs={"timeout": 30})
    closer.start()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:  # accepted until close() has reached this model's queue; refused from then on
            engine.submit("en-fr", inputs[0], params).cancel()
        except ModelUnavailable:
            break
        time.sleep(0.005)
    with pytest.raises(ModelUnavailable):
        engine.submit("en-fr", inputs[0], params)
    held.opened.set()
    closer.join(30)
    assert not closer.is_alive()
    assert [ticket.result() for ticket in tickets] == expected
    assert not engine.ready


def test_an_item_past_its_timeout_gets_item_timeout(
    make_engine: Callable[..., Engine], gate
) -> None:
    engine = make_engine(item_timeout_s=1.0)
    held = gate(engine, "en-fr")
    ids = engine.model("en-fr").encode(["Heavy rain."])[0]
    params = GenerationParams(num_beams=1)
    running = engine.submit("en-fr", ids, params)
    assert held.entered.wait(10)
    waiting = engine.submit("en-fr", ids, params)
    assert engine._slots["en-fr"].batcher.depth == 1
    with pytest.raises(ItemTimeout):
        waiting.result()
    assert engine._slots["en-fr"].batcher.depth == 0
    with pytest.raises(ItemTimeout):
        running.result()  # still held by the test
    held.opened.set()


# ----- failure isolation ---------------------------------------------------------------------


def test_a_failing_generate_fails_only_its_batch(
    make_engine: Callable[..., Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(max_wait_ms=200)
    model = engine.model("en-fr")
    bad, good, other = model.encode(["Heavy rain.", MIXED_TEXTS[1], MIXED_TEXTS[2]])
    real_generate = model.generate

    def generate(batch: list[list[int]], params: GenerationParams, **kw: Any) -> Generated:
        if bad in batch:
            raise RuntimeError("CUDA error: device-side assert triggered")
        return real_generate(batch, params, **kw)

    monkeypatch.setattr(model, "generate", generate)
    greedy, beams = GenerationParams(num_beams=1), GenerationParams(num_beams=2)
    same_batch = [engine.submit("en-fr", ids, greedy) for ids in (bad, good)]
    other_batch = engine.submit("en-fr", other, beams)
    for ticket in same_batch:
        with pytest.raises(GenerationFailed) as raised:
            ticket.result()
        assert "CUDA" not in raised.value.message
    assert other_batch.result()
    assert same_batch[0].batch_id == same_batch[1].batch_id != other_batch.batch_id
    assert None not in (same_batch[0].batch_id, other_batch.batch_id)
    assert engine.submit("en-fr", good, greedy).result()
    assert batch_count(engine, "en-fr", "error") == 1
    assert engine.ready


def test_a_pair_added_by_configuration_is_served(
    make_engine: Callable[..., Engine], demo_models: dict[str, Path], demo_settings: Settings
) -> None:
    pairs = (*demo_settings.translate_models, ("fr-en", str(demo_models["en-fr"])))
    engine = make_engine(translate_models=pairs)
    assert engine.keys("translate") == ["en-fr", "en-ar", "fr-en"]
    result = translate_texts(
        engine, ["Le conseil municipal a approuvé un budget."], source="fr", target="en"
    )
    assert (result[0].source, result[0].target) == ("fr", "en")
    assert result[0].text


@pytest.mark.parametrize("key", ["summarize", "en-fr"])
def test_generated_tokens_metric_counts_only_new_tokens(engine: Engine, key: str) -> None:
    """The decoder start token (pad for Marian, </s> for BART) is not a generated token."""
    model = engine.model(key)
    pinned = GenerationParams(num_beams=1, min_new_tokens=5, max_new_tokens=5)
    before = (
        engine.metrics.registry.get_sample_value("service_generated_tokens_total", {"model": key})
        or 0.0
    )
    tickets = [engine.submit(key, ids, pinned) for ids in model.encode(["One.", "Two words."])]
    for ticket in tickets:
        ticket.result()
    after = engine.metrics.registry.get_sample_value(
        "service_generated_tokens_total", {"model": key}
    )
    assert after - before == 2 * 5


@pytest.mark.parametrize("beams", [1, 4])
def test_generate_stops_when_told_to(engine: Engine, beams: int) -> None:
    if beams > 1 and engine.settings.backend == "ctranslate2":
        pytest.skip("CTranslate2 calls back only in greedy search; a beam batch runs to its end")
    model = engine.model("en-fr")
    pinned = GenerationParams(num_beams=beams, min_new_tokens=40, max_new_tokens=40)
    steps = 0

    def after_three_steps() -> bool:
        nonlocal steps
        steps += 1
        return steps > 3

    batch = model.encode(["Heavy rain.", MIXED_TEXTS[2]])
    # The engine's own model belongs to its worker; a paused gate is not needed to read it here,
    # since nothing else is submitted to en-fr in this test.
    full = model.generate(batch, pinned)
    cut = model.generate(batch, pinned, should_stop=after_three_steps)
    assert full.new_tokens == 2 * 40
    assert 0 < cut.new_tokens <= 2 * 4


def test_a_batch_nobody_waits_for_is_told_to_stop(
    make_engine: Callable[..., Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(item_timeout_s=0.5)
    model = engine.model("en-fr")
    told: list[bool] = []
    real_generate = model.generate

    def expensive(batch: list[list[int]], params: GenerationParams, **kw: Any) -> Generated:
        should_stop = kw["should_stop"]
        told.append(should_stop())
        for _ in range(200):  # a long generation, polling as transformers does each step
            if should_stop():
                told.append(True)
                break
            threading.Event().wait(0.05)
        return real_generate(batch, params, **kw)

    monkeypatch.setattr(model, "generate", expensive)
    ticket = engine.submit("en-fr", model.encode(["Heavy rain."])[0], GenerationParams())
    with pytest.raises(ItemTimeout):
        ticket.result()
    monkeypatch.undo()
    # The next request runs once the abandoned batch has stopped.
    assert translate_texts(engine, ["Heavy rain."], target="fr")[0].text
    assert told == [False, True]


def test_one_deadline_covers_a_whole_article(
    make_engine: Callable[..., Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each step (summary, then its translation) takes 1 s of a 1.5 s budget: the request as a
    whole is late, though no single step is."""
    engine = make_engine(item_timeout_s=1.5)
    for key in ("summarize", "en-fr"):
        model = engine.model(key)

        def slow(batch: list[list[int]], params: GenerationParams, real=model.generate, **kw):
            threading.Event().wait(1.0)
            return real(batch, params, **kw)

        monkeypatch.setattr(model, "generate", slow)
    with pytest.raises(ItemTimeout):
        summarize_and_translate(
            engine, "Heavy rain caused flooding.", [LanguagePair("en", "fr")], QUICK
        )


def test_an_out_of_memory_split_counts_each_item_once(
    make_engine: Callable[..., Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Buckets off: the four mixed-length inputs form one batch.
    engine = make_engine(max_wait_ms=200, batch_bucket_tokens=0)
    model = engine.model("en-fr")
    real_generate = model.generate

    def one_at_a_time(batch: list[list[int]], params: GenerationParams, **kw: Any) -> Generated:
        if len(batch) > 1:
            raise engine.backend.OUT_OF_MEMORY[0]("CUDA out of memory")
        return real_generate(batch, params, **kw)

    monkeypatch.setattr(model, "generate", one_at_a_time)
    params = GenerationParams(num_beams=1)
    tickets = [engine.submit("en-fr", ids, params) for ids in model.encode(list(MIXED_TEXTS))]
    assert all(ticket.result() for ticket in tickets)

    def sample(name: str, outcome: str) -> float:
        labels = {"model": "en-fr", "outcome": outcome}
        return engine.metrics.registry.get_sample_value(name, labels) or 0.0

    # 4 -> 2 + 2 -> 1 + 1 + 1 + 1: three split calls, four good ones, four items in all.
    assert sample("service_batches_total", "split") == 3
    assert sample("service_batches_total", "ok") == 4
    assert sample("service_items_total", "ok") == 4
    assert sample("service_items_total", "error") == 0


# ----- background work (jobs) ----------------------------------------------------------------


def test_a_job_on_the_background_view_never_gets_a_request_refused(
    make_engine: Callable[..., Engine], gate
) -> None:
    """A job holding its whole share of the queue leaves MAX_QUEUE to requests, its items go
    after the requests' in every batch, and both get the outputs they would get alone."""
    engine = make_engine(max_queue=2, max_batch_size=2, jobs_queue_share=1.0)
    jobs = engine.background()
    assert jobs.is_background and not engine.is_background
    held = gate(engine, "en-fr")
    model = engine.model("en-fr")
    inputs = model.encode(list(MIXED_TEXTS))
    params = GenerationParams(num_beams=1, max_length=12)
    blocker = engine.submit("en-fr", inputs[0], params)
    assert held.entered.wait(10)
    background = [jobs.submit("en-fr", ids, params) for ids in inputs[:2]]
    requests = [engine.submit("en-fr", ids, params) for ids in inputs[2:4]]
    assert engine._slots["en-fr"].batcher.background_depth == 2
    with pytest.raises(Overloaded):
        engine.submit("en-fr", inputs[0], params)
    held.opened.set()
    request_outputs = [t.result() for t in requests]
    job_outputs = [t.result() for t in background]
    assert blocker.result() != ""
    alone = [engine.submit("en-fr", ids, params).result() for ids in inputs[:4]]
    assert job_outputs + request_outputs == alone
    assert all(r.batch_id is not None for r in requests + background)
    assert max(r.batch_id for r in requests) <= min(b.batch_id for b in background)


def test_operations_run_unchanged_on_the_background_view(engine: Engine) -> None:
    texts = list(MIXED_TEXTS[:2])
    on_view = translate_texts(engine.background(), texts, target="fr", options=QUICK)
    direct = translate_texts(engine, texts, target="fr", options=QUICK)
    assert [t.text for t in on_view] == [t.text for t in direct]


def test_a_job_batch_yields_to_a_request_and_its_outputs_do_not_change(
    make_engine: Callable[..., Engine],
) -> None:
    """While a job's batch decodes, a request comes: the batch stops at its next step, the
    request runs, and the job's items run again, giving the outputs they give alone."""
    engine = make_engine(jobs_batch_size=4)
    model = engine.model("en-fr")
    generate = model.generate
    entered, calls = threading.Event(), []

    def first_waits_for_a_request(batch, params, should_stop=None):  # noqa: ANN001, ANN202
        calls.append(len(batch))
        if len(calls) == 1:
            entered.set()
            until = time.monotonic() + 30
            while should_stop is not None and not should_stop() and time.monotonic() < until:
                time.sleep(0.001)
        return generate(batch, params, should_stop=should_stop)

    model.generate = first_waits_for_a_request  # type: ignore[method-assign]
    inputs = model.encode(list(MIXED_TEXTS[:3]))
    params = GenerationParams(num_beams=1, max_length=12)
    jobs = [engine.background().submit("en-fr", ids, params) for ids in inputs[:2]]
    assert entered.wait(10)
    request = engine.submit("en-fr", inputs[2], params)
    answers = [request.result()] + [t.result() for t in jobs]
    model.generate = generate  # type: ignore[method-assign]
    alone = [engine.submit("en-fr", ids, params).result() for ids in [inputs[2], *inputs[:2]]]
    assert answers == alone
    assert calls[0] == 2 and len(calls) >= 2
    assert batch_count(engine, "en-fr", "preempted") == 1
