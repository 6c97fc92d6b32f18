"""Batch invariance, measured: each text run alone, then all of them queued at once and run in
the batches the engine forms. `python -m bench invariance` counts the differences and
tests/unit/inference/test_invariance.py asserts there are none where invariance is exact.
"""

from __future__ import annotations

import random
import threading
from typing import Any

from service.core.config import Settings
from service.inference.engine import Engine
from service.inference.seq2seq import Generated, GenerationParams
from service.ops.demo_models import TRAINING_TEXT


def mixed_texts(count: int, seed: int = 11) -> list[str]:
    """`count` texts of 1 to 90 words from the demo tokenizers' training text: their lengths
    span several buckets of BATCH_BUCKET_TOKENS."""
    words = " ".join(TRAINING_TEXT["en"]).split()
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        size = rng.randint(1, 90)
        start = rng.randrange(len(words) - size)
        texts.append(" ".join(words[start : start + size]))
    return texts


class Held:
    """Holds a model's worker in its next batch, so that everything can be queued first."""

    def __init__(self, engine: Engine, key: str) -> None:
        self.model = engine.model(key)
        self.entered = threading.Event()
        self.opened = threading.Event()
        self._generate = self.model.generate
        self.model.generate = self._held  # type: ignore[method-assign]

    def _held(self, batch: list[list[int]], params: GenerationParams, **kw: Any) -> Generated:
        self.model.generate = self._generate  # type: ignore[method-assign]
        self.entered.set()
        if not self.opened.wait(60):
            raise TimeoutError("the worker was never let go")
        return self._generate(batch, params, **kw)


def alone_and_co_batched(
    settings: Settings, key: str, texts: list[str], params: GenerationParams
) -> tuple[list[str], list[str], int]:
    """Each text's output run alone (one at a time), then all of them queued at once and run in
    the batches the engine forms; and how many batches those were beyond one per batch key
    (0: the inputs padded alike, or all of them without buckets, shared one batch each)."""
    engine = Engine(
        settings.replace(max_batch_size=len(texts), max_batch_tokens=10**6, max_queue=10**4)
    ).start()
    try:
        model = engine.model(key)
        inputs = model.encode(texts)
        alone = [engine.submit(key, ids, params).result() for ids in inputs]
        held = Held(engine, key)
        blocker = engine.submit(key, inputs[0], params)
        if not held.entered.wait(60):
            raise TimeoutError("the worker never took the first batch")
        tickets = [engine.submit(key, ids, params) for ids in inputs]
        held.opened.set()
        co_batched = [ticket.result() for ticket in tickets]
        blocker.result()
        keys = {model.padded_length(len(ids)) for ids in inputs} if model.bucket_tokens else {0}
        return alone, co_batched, len({ticket.batch_id for ticket in tickets}) - len(keys)
    finally:
        engine.close(timeout=30)


def differences(alone: list[str], co_batched: list[str]) -> int:
    return sum(a != b for a, b in zip(alone, co_batched, strict=True))
