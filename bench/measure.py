"""Closed-loop load: K clients, each sending its next item as soon as the last one returned.

The same loop drives the engine (threads calling `Engine.submit(...).result()`) and HTTP
(threads with keep-alive connections), so their numbers are comparable. Latency is taken over
the items started inside the measurement window (those still in flight at its end are waited
for, so slow items are not left out).

Throughput is K / mean latency (Little's law: in a closed loop without think time exactly K items
are in flight). Counting completions inside a short window is quantised: a batch of 32 finishing
just before or just after the window's end moves the count by 32, and with batching off at high
K a client may complete nothing in the window. The completion count is kept as a cross-check
(`completed_per_s`).

Each client's first item is warm-up: at the start all K items queue at once, so the first ones
wait less than in steady state. The window opens once every client has completed one item (and
`warmup_s` has passed), and stays open until at least K items have started in it, so a slow
point (batching off at high K) still gets about one sample per client.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Counters:
    """Cumulative serving counters of one model, read from the service's metrics."""

    batches: float
    batched_items: float
    generated_tokens: float

    def minus(self, earlier: Counters) -> Counters:
        return Counters(
            self.batches - earlier.batches,
            self.batched_items - earlier.batched_items,
            self.generated_tokens - earlier.generated_tokens,
        )


@dataclass
class LoadResult:
    """One load point: K clients for one window."""

    clients: int
    window_s: float
    items: int
    errors: int
    items_per_s: float
    completed_per_s: float
    tokens_per_s: float
    latency_ms: dict[str, float]
    mean_batch: float | None
    generated_tokens_per_item: float | None
    loadavg: list[float]
    error_sample: str | None = None
    # Raw latencies in seconds, for pooling rounds; left out of the JSON.
    latency_samples: list[float] = field(default_factory=list, repr=False)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        del data["latency_samples"]
        return data


def latency_summary(seconds: list[float]) -> dict[str, float]:
    """p50/p95/p99/mean/max in milliseconds (empty dict for no samples)."""
    if not seconds:
        return {}
    ms = np.asarray(seconds) * 1000
    return {
        "n": float(len(ms)),
        "p50": float(np.percentile(ms, 50)),
        "p95": float(np.percentile(ms, 95)),
        "p99": float(np.percentile(ms, 99)),
        "mean": float(ms.mean()),
        "max": float(ms.max()),
    }


def closed_loop(
    clients: int,
    make_call: Callable[[int], Callable[[], None]],
    *,
    warmup_s: float,
    window_s: float,
    new_tokens: int,
    counters: Callable[[], Counters] | None = None,
    max_stretch_s: float = 300.0,
) -> LoadResult:
    """Run `clients` threads; thread i calls `make_call(i)()` in a loop until the window ends.

    `make_call` runs in the client's own thread (so an HTTP client can own its connection).
    `counters`, read at the window's start and end, gives the mean batch size the server ran.
    """
    stop = threading.Event()
    records: list[list[tuple[float, float]]] = [[] for _ in range(clients)]
    in_flight: list[float | None] = [None] * clients
    errors: list[BaseException] = []
    started = threading.Barrier(clients + 1)

    def client(index: int) -> None:
        call = make_call(index)
        started.wait()
        while not stop.is_set():
            begun = in_flight[index] = time.perf_counter()
            try:
                call()
            except Exception as exc:  # counted and reported; the load goes on
                errors.append(exc)
                time.sleep(0.05)
                continue
            finally:
                in_flight[index] = None
            records[index].append((begun, time.perf_counter()))

    def wait_until(condition: Callable[[], bool], limit: float) -> None:
        deadline = time.perf_counter() + limit
        while not condition() and time.perf_counter() < deadline:
            time.sleep(0.02)

    def started_since(moment: float) -> int:
        done = sum(1 for rec in records for begun, _ in rec if begun >= moment)
        running = sum(1 for begun in list(in_flight) if begun is not None and begun >= moment)
        return done + running

    threads = [
        threading.Thread(target=client, args=(i,), name=f"client-{i}", daemon=True)
        for i in range(clients)
    ]
    for thread in threads:
        thread.start()
    started.wait()
    time.sleep(warmup_s)
    wait_until(lambda: all(records), max_stretch_s)
    before = counters() if counters else None
    window_start = time.perf_counter()
    time.sleep(window_s)
    wait_until(lambda: started_since(window_start) >= clients, max_stretch_s)
    window_end = time.perf_counter()
    after = counters() if counters else None
    loadavg = list(os.getloadavg())
    stop.set()
    for thread in threads:
        thread.join()

    done = [end for rec in records for _, end in rec if window_start <= end < window_end]
    latencies = [end - begun for rec in records for begun, end in rec if begun >= window_start]
    seconds = window_end - window_start
    items_per_s = clients / (sum(latencies) / len(latencies)) if latencies else 0.0
    mean_batch = per_item = None
    if before is not None and after is not None:
        delta = after.minus(before)
        if delta.batches:
            mean_batch = delta.batched_items / delta.batches
        if delta.batched_items:
            per_item = delta.generated_tokens / delta.batched_items
    return LoadResult(
        clients=clients,
        window_s=seconds,
        items=len(latencies),
        errors=len(errors),
        items_per_s=items_per_s,
        completed_per_s=len(done) / seconds,
        tokens_per_s=items_per_s * new_tokens,
        latency_ms=latency_summary(latencies),
        mean_batch=mean_batch,
        generated_tokens_per_item=per_item,
        loadavg=loadavg,
        error_sample=repr(errors[0])[:300] if errors else None,
        latency_samples=latencies,
    )
