"""Load generators: K closed-loop clients for a window, or N callers released at once.

`closed_loop` drives the in-process engine, the HTTP server and the soak alike, so their numbers
compare. In a closed loop each client sends its next item as soon as the last one returned;
without think time exactly K items are in flight, so throughput is K / mean latency (Little's
law). Counting completions inside a short window is quantised (a batch of 32 finishing just
before or after the window's end moves the count by 32); the count is kept as a cross-check.

Each client's first item is warm-up: at the start all K items queue at once, so the first ones
wait less than in steady state. The window opens once every client has finished one item (and
`warmup_s` has passed), and stays open until at least K items have started in it, so a slow point
still gets about one sample per client. Latency is over the items started inside the window;
those still in flight at its end are waited for, so slow items are not left out.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")
_MAX_STRETCH_S = 300.0


@dataclass(frozen=True)
class Attempt:
    """One call of one client: perf_counter times, and what it raised (None: success)."""

    begun: float
    ended: float
    error: BaseException | None


@dataclass(frozen=True)
class Window:
    """What K closed-loop clients did; `probes` is `probe()` at the window's start and end."""

    clients: int
    start: float
    end: float
    attempts: list[Attempt]
    probes: tuple[Any, Any]
    loadavg: float

    @property
    def seconds(self) -> float:
        return self.end - self.start

    def inside(self) -> list[Attempt]:
        """The attempts started inside the window, failed ones included."""
        return [a for a in self.attempts if a.begun >= self.start]

    def latencies(self) -> list[float]:
        """Seconds of each successful item started inside the window."""
        return [a.ended - a.begun for a in self.inside() if a.error is None]

    def completed(self) -> int:
        """Successful items that ended inside the window."""
        return sum(a.error is None and self.start <= a.ended < self.end for a in self.attempts)

    def errors(self) -> list[BaseException]:
        """Every error, warm-up included."""
        return [a.error for a in self.attempts if a.error is not None]


def closed_loop(
    clients: int,
    make_call: Callable[[int], Callable[[], object]],
    *,
    warmup_s: float,
    window_s: float,
    probe: Callable[[], Any] | None = None,
) -> Window:
    """Run `clients` threads; thread i calls `make_call(i)()` in a loop until the window ends.

    `make_call` runs in the client's own thread (so an HTTP client can own its connection). A call
    that raises counts as an error; the client pauses 50 ms and goes on.
    """
    stop = threading.Event()
    attempts: list[list[Attempt]] = [[] for _ in range(clients)]
    in_flight: list[float | None] = [None] * clients
    started = threading.Barrier(clients + 1)

    def client(index: int) -> None:
        call = make_call(index)
        started.wait()
        while not stop.is_set():
            begun = in_flight[index] = time.perf_counter()
            error = None
            try:
                call()
            except Exception as exc:  # counted and reported; the load goes on
                error = exc
            in_flight[index] = None
            attempts[index].append(Attempt(begun, time.perf_counter(), error))
            if error is not None:
                time.sleep(0.05)

    def wait_until(condition: Callable[[], bool]) -> None:
        deadline = time.perf_counter() + _MAX_STRETCH_S
        while not condition() and time.perf_counter() < deadline:
            time.sleep(0.02)

    def started_since(moment: float) -> int:
        done = sum(a.begun >= moment for own in attempts for a in own)
        return done + sum(b is not None and b >= moment for b in list(in_flight))

    threads = [
        threading.Thread(target=client, args=(i,), name=f"client-{i}", daemon=True)
        for i in range(clients)
    ]
    for thread in threads:
        thread.start()
    started.wait()
    time.sleep(warmup_s)
    wait_until(lambda: all(attempts))
    before = probe() if probe else None
    start = time.perf_counter()
    time.sleep(window_s)
    wait_until(lambda: started_since(start) >= clients)
    end = time.perf_counter()
    after = probe() if probe else None
    loadavg = os.getloadavg()[0]
    stop.set()
    for thread in threads:
        thread.join()
    everything = sorted((a for own in attempts for a in own), key=lambda a: a.begun)
    return Window(clients, start, end, everything, (before, after), loadavg)


def at_once(count: int, call: Callable[[int], T]) -> list[T]:
    """`call(0)` .. `call(count - 1)` in `count` threads released together; results in order."""
    barrier = threading.Barrier(count)

    def run(index: int) -> T:
        barrier.wait()
        return call(index)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """n, p50/p95/p99/mean/max in milliseconds (empty dict for no samples)."""
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
