"""The byte-bounded LRU: its bound, its order, its age limit, its counts per owner."""

from __future__ import annotations

import threading

import pytest

from service.inference.lru import ENTRY_OVERHEAD, ByteLRU, entry_size


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_entry_size_counts_key_value_and_overhead() -> None:
    assert entry_size("k", "v") > ENTRY_OVERHEAD
    assert entry_size("k", "v" * 100) == entry_size("k", "v") + 99
    assert entry_size("k", "é" * 10) > entry_size("k", "e" * 10)  # what Python holds


def test_a_flood_of_unique_texts_stays_within_the_bound() -> None:
    lru = ByteLRU(20_000)
    evicted = []
    for n in range(2_000):
        evicted += lru.put(f"key{n}", f"sentence number {n} " * (n % 7 + 1), "en-fr")
        assert lru.total_bytes <= 20_000
    assert lru.total_bytes == lru.bytes_of("en-fr") > 20_000 - entry_size("key", "x" * 200)
    assert len(lru) + len(evicted) == 2_000 and set(evicted) == {"en-fr"}
    assert lru.get("key1999") is not None and lru.get("key0") is None


def test_the_least_recently_used_goes_first() -> None:
    size = entry_size("a", "1")
    lru = ByteLRU(3 * size)
    for key in "abc":
        lru.put(key, "1", "m")
    assert lru.get("a") == "1"  # now b is the oldest
    assert lru.put("d", "1", "m") == ["m"]
    assert lru.get("b") is None
    assert [lru.get(k) for k in "acd"] == ["1", "1", "1"]


def test_an_entry_larger_than_the_bound_is_not_kept_and_evicts_nothing() -> None:
    lru = ByteLRU(1_000)
    lru.put("small", "x", "m")
    assert lru.put("big", "x" * 2_000, "m") == []
    assert lru.get("big") is None and lru.get("small") == "x"


def test_putting_a_key_again_replaces_it_and_its_bytes() -> None:
    lru = ByteLRU(10_000)
    lru.put("k", "short", "m")
    lru.put("k", "a longer value", "m")
    assert lru.get("k") == "a longer value"
    assert len(lru) == 1 and lru.total_bytes == entry_size("k", "a longer value")


def test_bytes_and_evictions_are_counted_per_owner() -> None:
    size = entry_size("k0", "v")
    lru = ByteLRU(4 * size)
    lru.put("k0", "v", "summarize")
    lru.put("k1", "v", "en-fr")
    lru.put("k2", "v", "en-fr")
    assert lru.bytes_of("summarize") == size and lru.bytes_of("en-fr") == 2 * size
    assert lru.bytes_of("en-ar") == 0
    lru.put("k3", "v", "en-ar")
    assert lru.put("k4", "v", "en-ar") == ["summarize"]
    assert lru.put("k5", "v", "en-ar") == ["en-fr"]
    assert lru.bytes_of("summarize") == 0 and lru.total_bytes == 4 * size


def test_entries_expire_after_the_ttl_and_a_read_does_not_renew_them() -> None:
    clock = Clock()
    lru = ByteLRU(10_000, ttl_s=60, clock=clock)
    lru.put("k", "v", "m")
    clock.now += 59
    assert lru.get("k") == "v"
    clock.now += 1
    assert lru.get("k") is None
    assert len(lru) == 0 and lru.total_bytes == 0


def test_clear_forgets_everything() -> None:
    lru = ByteLRU(10_000)
    lru.put("k", "v", "m")
    lru.clear()
    assert (len(lru), lru.total_bytes, lru.bytes_of("m"), lru.get("k")) == (0, 0, 0, None)


@pytest.mark.parametrize("threads", [4])
def test_concurrent_puts_and_gets_keep_the_counts_true(threads: int) -> None:
    lru = ByteLRU(50_000)

    def work(n: int) -> None:
        for i in range(2_000):
            lru.put(f"{n}-{i % 300}", "v" * (i % 50), f"m{n}")
            lru.get(f"{(n + 1) % threads}-{i % 300}")

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert lru.total_bytes == sum(lru.bytes_of(f"m{n}") for n in range(threads)) <= 50_000
