"""What /metrics reports about batches: the figures an operator tunes batching by.

Each value is read back from the collectors and compared with what the batch really held, so a
metric counting padded tokens as input, an inverted padding ratio or a batch time never
observed fails here.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from service.core.metrics import BatchRecord, Metrics
from service.inference.batching import Batcher
from service.inference.engine import Engine
from service.inference.seq2seq import GenerationParams


def value(metrics: Metrics, name: str, **labels: str) -> float:
    found = metrics.registry.get_sample_value(name, labels)
    return 0.0 if found is None else found


def record(**changes: Any) -> BatchRecord:
    fields: dict[str, Any] = {
        "batcher": "en-fr",
        "batch_id": 1,
        "size": 3,
        "padded_tokens": 30,
        "real_tokens": 12,
        "seconds": 0.25,
        "outcome": "ok",
    }
    return BatchRecord(**(fields | changes))


def test_a_batch_counts_its_real_tokens_padding_share_and_time() -> None:
    metrics = Metrics()
    metrics.record_batch(record())
    model = {"model": "en-fr"}
    assert value(metrics, "service_input_tokens_total", **model) == 12
    assert value(metrics, "service_batch_padding_ratio_sum", **model) == pytest.approx(0.6)
    assert value(metrics, "service_batch_padding_ratio_count", **model) == 1
    assert value(metrics, "service_batch_seconds_sum", **model) == pytest.approx(0.25)
    assert value(metrics, "service_batch_seconds_count", **model) == 1
    assert value(metrics, "service_batch_size_sum", **model) == 3
    assert value(metrics, "service_batches_total", outcome="ok", **model) == 1
    assert value(metrics, "service_items_total", outcome="ok", **model) == 3


def test_a_failed_or_split_batch_counts_no_input_and_split_items_once() -> None:
    metrics = Metrics()
    metrics.record_batch(record(outcome="split", size=4))
    metrics.record_batch(record(outcome="ok", size=2, real_tokens=6, padded_tokens=6))
    metrics.record_batch(record(outcome="error", size=2))
    model = {"model": "en-fr"}
    assert value(metrics, "service_batches_total", outcome="split", **model) == 1
    assert value(metrics, "service_items_total", outcome="split", **model) == 0
    assert value(metrics, "service_items_total", outcome="ok", **model) == 2
    assert value(metrics, "service_items_total", outcome="error", **model) == 2
    # Only the batch that ran counts input tokens and padding (none here: equal lengths).
    assert value(metrics, "service_input_tokens_total", **model) == 6
    assert value(metrics, "service_batch_padding_ratio_sum", **model) == 0
    assert value(metrics, "service_batch_seconds_count", **model) == 3


def test_the_batcher_reports_the_batch_it_ran() -> None:
    """Three items of 2, 4 and 6 tokens in one batch: 12 real tokens, 18 padded, ratio 1/3."""
    metrics = Metrics()
    gate = threading.Event()

    def run_batch(payloads: list[int], key: object) -> list[int]:
        gate.wait(10)
        time.sleep(0.05)
        return payloads

    batcher: Batcher[int, int] = Batcher(
        "en-fr", run_batch, max_batch_size=3, max_batch_tokens=1000, max_wait_s=5,
        max_queue=10, on_batch=metrics.record_batch,
    )  # fmt: skip
    batcher.start()
    try:
        tickets = [batcher.submit(c, cost=c, key="k", timeout_s=10) for c in (2, 4, 6)]
        gate.set()
        assert [t.result() for t in tickets] == [2, 4, 6]
    finally:
        batcher.close(timeout=5)
    model = {"model": "en-fr"}
    assert value(metrics, "service_batch_size_sum", **model) == 3
    assert value(metrics, "service_input_tokens_total", **model) == 12
    assert value(metrics, "service_batch_padding_ratio_sum", **model) == pytest.approx(1 / 3)
    assert value(metrics, "service_batch_seconds_sum", **model) >= 0.05


def test_the_engine_records_every_generate_call(engine: Engine) -> None:
    model = engine.model("en-fr")
    texts = ["The talks resumed on Monday.", "Both sides said progress was made today."]
    inputs = model.encode(texts)
    before = {
        name: value(engine.metrics, name, model="en-fr")
        for name in ("service_input_tokens_total", "service_generated_tokens_total")
    }
    engine.submit_many("en-fr", inputs, GenerationParams(num_beams=1, max_length=8)).results()
    real = sum(len(ids) for ids in inputs)
    grew = {name: value(engine.metrics, name, model="en-fr") - was for name, was in before.items()}
    assert grew["service_input_tokens_total"] == real
    assert grew["service_generated_tokens_total"] > 0
