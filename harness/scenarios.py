"""Reliability scenarios against a running service: concurrency, overload and soak.

Each takes a base URL and returns its figures; `python -m bench reliability` prints them, and
tests/system/test_concurrency.py, test_overload.py and test_soak.py assert on them.
"""

from __future__ import annotations

import itertools
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from harness.load import at_once, closed_loop
from harness.server import Reply, get, model_metrics, post, rss_mib, worker_pid
from harness.workload import text

Request = tuple[str, dict[str, Any]]


# ----- workloads -------------------------------------------------------------------------------


def mixed_requests(count: int) -> list[Request]:
    """`count` distinct requests over every endpoint: single texts and lists, 1 to ~60 words,
    summaries kept short (max_length) so a request costs milliseconds on the tiny models."""
    requests: list[Request] = []
    for i in range(count):
        words = 1 + (i * 13) % 60
        kind = i % 6
        if kind == 0:
            requests.append(("/v1/summarize", {"text": text(words, i), "max_length": 12}))
        elif kind == 1:
            requests.append(("/v1/translate", {"text": text(words, i), "target": "fr"}))
        elif kind == 2:
            requests.append(("/v1/translate", {"text": text(words, i), "target": "ar"}))
        elif kind == 3:
            texts = [text(1 + (words + k * 7) % 30, i + k) for k in range(1 + i % 4)]
            requests.append(("/v1/translate", {"texts": texts, "target": "ar"}))
        elif kind == 4:
            texts = [text(1 + (words + k * 5) % 40, i + k) for k in range(1 + i % 3)]
            requests.append(("/v1/summarize", {"texts": texts, "max_length": 10}))
        else:
            body = {"text": text(words, i), "translate_to": ["fr", "ar"], "max_length": 10}
            requests.append(("/v1/articles", body))
    return requests


def reference_answers(url: str, requests: Sequence[Request]) -> list[Any]:
    """Each request's answer when it runs alone (sequentially). Raises if one is not a 200."""
    answers = []
    for path, body in requests:
        reply = post(url, path, body)
        if reply.status != 200:
            raise RuntimeError(f"reference {path} {body}: {reply.status} {reply.body}")
        answers.append(reply.body)
    return answers


def rounded(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def median_or_none(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


# ----- scenarios -------------------------------------------------------------------------------


def run_concurrency(
    url: str,
    requests: Sequence[Request],
    references: Sequence[Any],
    *,
    clients: int = 32,
    per_client: int = 5,
) -> dict[str, Any]:
    """`clients` threads each send `per_client` requests at once, all endpoints mixed.

    Every reply is compared with the answer its input got alone: `wrong` counts 200s with a
    different answer, `misrouted` the wrong ones that carry another input's answer, `lost`
    requests without a 200.
    """

    def client(c: int) -> list[tuple[int, Reply]]:
        indices = [(c * per_client + k) % len(requests) for k in range(per_client)]
        return [(i, post(url, *requests[i])) for i in indices]

    began = time.perf_counter()
    results = [r for replies in at_once(clients, client) for r in replies]
    seconds = time.perf_counter() - began
    answered = [(i, r) for i, r in results if r.status == 200]
    wrong = [(i, r) for i, r in answered if r.body != references[i]]
    misrouted = [
        (i, r) for i, r in wrong if any(r.body == ref for j, ref in enumerate(references) if j != i)
    ]
    return {
        "clients": clients,
        "sent": clients * per_client,
        "replies": len(results),
        "answered": len(answered),
        "lost": clients * per_client - len(answered),
        "wrong": len(wrong),
        "misrouted": len(misrouted),
        "statuses": dict(Counter(r.status for _, r in results)),
        "failures": [r.failure or r.body for _, r in results if r.status != 200][:5],
        "wrong_examples": [
            {"request": requests[i], "expected": references[i], "got": r.body} for i, r in wrong[:3]
        ],
        "seconds": round(seconds, 2),
    }


def _is_overloaded(reply: Reply) -> bool:
    error = reply.body.get("error") if isinstance(reply.body, dict) else None
    return reply.status == 503 and isinstance(error, dict) and error.get("code") == "overloaded"


def run_overload(
    url: str,
    request: Request,
    reference: Any,
    *,
    burst: int = 48,
    master_pid: int | None = None,
    recovery_timeout: float = 120,
) -> dict[str, Any]:
    """Fire `burst` copies of `request` at once, beyond what the queue admits.

    Admitted requests must get `reference`; the others a 503 `overloaded` with Retry-After.
    Then probes the service until the first correct answer (`recovery_s`, from the last burst
    reply) and checks that a few more in a row are correct (`after_recovery_ok`).
    """
    pid = worker_pid(master_pid) if master_pid else None
    rss_before = rss_mib(pid) if pid else None
    began = time.perf_counter()
    replies = at_once(burst, lambda _: post(url, *request))
    burst_end = time.perf_counter()
    admitted = [r for r in replies if r.status == 200]
    rejected = [r for r in replies if _is_overloaded(r)]
    other = [r for r in replies if r.status != 200 and not _is_overloaded(r)]
    recovery_s = None
    while time.perf_counter() - burst_end < recovery_timeout:
        probe = post(url, *request)
        if probe.status == 200 and probe.body == reference:
            recovery_s = time.perf_counter() - burst_end
            break
        time.sleep(0.05)
    after = [post(url, *request) for _ in range(5)]
    rss_after = rss_mib(pid) if pid else None
    return {
        "burst": burst,
        "admitted": len(admitted),
        "admitted_wrong": sum(r.body != reference for r in admitted),
        "rejected": len(rejected),
        "rejected_with_retry_after": sum("Retry-After" in r.headers for r in rejected),
        "retry_after_values": sorted({r.headers.get("Retry-After", "") for r in rejected}),
        "rejected_error": rejected[0].body["error"] if rejected else None,
        "other": dict(Counter(r.status for r in other)),
        "admitted_p50_s": rounded(statistics.median([r.seconds for r in admitted] or [0])),
        "rejected_p50_s": rounded(median_or_none([r.seconds for r in rejected])),
        "rejected_max_s": rounded(max((r.seconds for r in rejected), default=None)),
        "burst_s": rounded(burst_end - began),
        "recovery_s": rounded(recovery_s),
        "after_recovery_ok": sum(r.status == 200 and r.body == reference for r in after),
        "queue_depth_after": model_metrics(get(url, "/metrics").body).get("service_queue_depth"),
        "rss_before_mib": rounded(rss_before),
        "rss_after_mib": rounded(rss_after),
    }


class WrongAnswer(Exception):
    """A 200 whose body differs from the request's reference answer."""


def run_soak(
    url: str,
    requests: Sequence[Request],
    references: Sequence[Any],
    *,
    seconds: float,
    clients: int = 4,
    master_pid: int | None = None,
    warmup_s: float = 3,
) -> dict[str, Any]:
    """Closed-loop load for `seconds` after `warmup_s`, the worker's RSS sampled every 0.5 s.

    Compares the last quarter of the window with the first: mean RSS and median latency.
    """
    pid = worker_pid(master_pid) if master_pid else None
    rss: list[tuple[float, float]] = []
    stop = threading.Event()

    def sample() -> None:
        while pid and not stop.wait(0.5):
            value = rss_mib(pid)
            if value is not None:
                rss.append((time.perf_counter(), value))

    def make_call(c: int) -> Callable[[], None]:
        positions = itertools.count(c, clients)

        def call() -> None:
            i = next(positions) % len(requests)
            reply = post(url, *requests[i])
            if reply.status != 200:
                raise RuntimeError(f"HTTP {reply.status}: {reply.failure or reply.body}")
            if reply.body != references[i]:
                raise WrongAnswer(f"{requests[i]}: {reply.body}")

        return call

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        window = closed_loop(clients, make_call, warmup_s=warmup_s, window_s=seconds)
    finally:
        stop.set()
        sampler.join()
    attempts = window.inside()
    quarter = window.seconds / 4

    def first(t: float) -> bool:
        return t < window.start + quarter

    def last(t: float) -> bool:
        return t >= window.end - quarter

    def latencies(part: Callable[[float], bool]) -> list[float]:
        return [a.ended - a.begun for a in attempts if a.error is None and part(a.begun)]

    rss = [(t, value) for t, value in rss if window.start <= t <= window.end]
    rss_first = [value for t, value in rss if first(t)]
    rss_last = [value for t, value in rss if last(t)]
    every = latencies(lambda _: True)
    return {
        "seconds": round(window.seconds, 1),
        "clients": clients,
        "requests": len(attempts),
        "errors": sum(
            a.error is not None and not isinstance(a.error, WrongAnswer) for a in attempts
        ),
        "wrong": sum(isinstance(a.error, WrongAnswer) for a in attempts),
        "p50_first_quarter_s": rounded(median_or_none(latencies(first))),
        "p50_last_quarter_s": rounded(median_or_none(latencies(last))),
        "p99_s": rounded(float(np.percentile(every, 99)) if every else None),
        "rss_first_quarter_mib": rounded(statistics.mean(rss_first) if rss_first else None),
        "rss_last_quarter_mib": rounded(statistics.mean(rss_last) if rss_last else None),
        "rss_max_mib": rounded(max((value for _, value in rss), default=None)),
        "rss_samples": len(rss),
    }
