"""The output cache's stores: memory, a real Redis, and Redis failing, slow or coming back."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from service.core.metrics import Metrics
from service.inference import cache as cache_module
from service.inference.cache import REDIS_PREFIX, OutputCache


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def test_memory_hits_and_misses_are_counted_per_model_and_store() -> None:
    cache = OutputCache(memory_bytes=100_000, ttl_s=60)
    assert cache.lookup("en-fr", ["a", "b"]) == [None, None]
    cache.store("en-fr", [("a", "Bonjour.")])
    assert cache.lookup("en-fr", ["b", "a", "a"]) == [None, "Bonjour.", "Bonjour."]
    metrics = cache.metrics
    assert sample(metrics, "service_cache_hits_total", model="en-fr", store="memory") == 2
    assert sample(metrics, "service_cache_misses_total", model="en-fr") == 3


def test_evictions_and_bytes_are_reported_per_model() -> None:
    cache = OutputCache(memory_bytes=2_000, ttl_s=60)
    cache.track("en-fr")
    for n in range(50):
        cache.store("en-fr", [(f"{n:064d}", "Une phrase traduite.")])
    metrics = cache.metrics
    held = sample(metrics, "service_cache_bytes", model="en-fr")
    assert 0 < held <= 2_000
    assert sample(metrics, "service_cache_evictions_total", model="en-fr") > 0
    assert cache.state("en-fr")["memory"]["bytes"] == held


def test_no_store_means_disabled() -> None:
    cache = OutputCache(memory_bytes=0, ttl_s=60)
    assert not cache.enabled
    cache.store("en-fr", [("a", "x")])
    assert cache.lookup("en-fr", ["a"]) == [None]


def test_redis_is_shared_and_its_hits_come_into_memory(redis_server) -> None:
    writer = OutputCache(memory_bytes=0, ttl_s=60, redis_url=redis_server.url, timeout_s=1)
    reader = OutputCache(memory_bytes=100_000, ttl_s=60, redis_url=redis_server.url, timeout_s=1)
    try:
        writer.store("en-fr", [("k1", "Bonjour."), ("k2", "مرحبا.")])
        writer.redis.flush()
        assert reader.lookup("en-fr", ["k1", "k2", "k3"]) == ["Bonjour.", "مرحبا.", None]
        assert sample(reader.metrics, "service_cache_hits_total", model="en-fr", store="redis") == 2
        assert reader.memory.get("k1") == "Bonjour."  # the next hit is served from memory
        assert reader.lookup("en-fr", ["k1"]) == ["Bonjour."]
        assert (
            sample(reader.metrics, "service_cache_hits_total", model="en-fr", store="memory") == 1
        )
    finally:
        writer.close()
        reader.close()


def test_redis_keys_are_digests_under_a_prefix_with_the_ttl(redis_server) -> None:
    import redis

    cache = OutputCache(memory_bytes=0, ttl_s=120, redis_url=redis_server.url, timeout_s=1)
    try:
        cache.store("en-fr", [("0" * 64, "Le texte.")])
        cache.redis.flush()
        client = redis.Redis.from_url(redis_server.url)
        (key,) = client.keys("*")
        assert key == (REDIS_PREFIX + "0" * 64).encode()
        assert 110 <= client.ttl(key) <= 120
        assert client.get(key) == b"Le texte."
        client.close()
    finally:
        cache.close()


@pytest.fixture
def fast_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache_module, "RETRY_AFTER_S", 0.2)


def test_redis_down_means_misses_and_one_log_line_then_it_comes_back(
    redis_server, fast_retry, caplog: pytest.LogCaptureFixture
) -> None:
    cache = OutputCache(memory_bytes=0, ttl_s=60, redis_url=redis_server.url, timeout_s=0.2)
    try:
        cache.store("en-fr", [("k", "Bonjour.")])
        cache.redis.flush()
        redis_server.stop()
        with caplog.at_level(logging.WARNING, logger="service.inference.cache"):
            for _ in range(20):
                assert cache.lookup("en-fr", ["k"]) == [None]
                cache.store("en-fr", [("k2", "x")])
                time.sleep(0.02)
            cache.redis.flush()
        failures = [r for r in caplog.records if "failed" in r.getMessage()]
        assert len(failures) == 1 and "127.0.0.1" in failures[0].getMessage()
        assert cache.redis.errors >= 2
        assert cache.lookup("en-fr", ["k"]) == [None]
        assert cache.state("en-fr")["redis"]["reachable"] is False  # until the retry
        redis_server.start()  # empty again: no persistence
        time.sleep(0.25)
        cache.store("en-fr", [("k", "Bonjour.")])
        cache.redis.flush()
        assert cache.lookup("en-fr", ["k"]) == ["Bonjour."]
        assert any("answers again" in r.getMessage() for r in caplog.records)
    finally:
        cache.close()


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A TCP server that accepts connections and never answers: a hung Redis."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"redis://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


def test_a_hung_redis_costs_one_timeout_then_nothing(silent_server: str) -> None:
    cache = OutputCache(memory_bytes=10_000, ttl_s=60, redis_url=silent_server, timeout_s=0.1)
    try:
        started = time.monotonic()
        assert cache.lookup("en-fr", ["k"]) == [None]
        first = time.monotonic() - started
        started = time.monotonic()
        for _ in range(10):
            assert cache.lookup("en-fr", ["k"]) == [None]
        rest = time.monotonic() - started
        assert first < 2  # bounded by the timeout (0.1 s), with room for a loaded machine
        assert rest < first  # marked down: no further waits
        cache.store("en-fr", [("k", "v")])  # returns at once; memory still serves
        assert cache.lookup("en-fr", ["k"]) == ["v"]
    finally:
        cache.close()


def test_the_cpu_is_named_without_pytorch_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """cpu-slim serves without PyTorch: the cache still names the CPU's instruction set, and
    differently from torch's name, so the two images never share outputs."""
    import platform

    from service.inference import cache

    with_torch = cache._cpu_capability()
    monkeypatch.setattr(cache, "torch", None)
    without = cache._cpu_capability()
    assert without.startswith(platform.machine() + "-") and without != with_torch
