"""The output cache: a model output kept under its key (`cache_key`), served without the model.

Two stores, read in order: an in-process LRU bounded by bytes (`lru.ByteLRU`), and optionally
Redis, shared by every replica, where entries live for CACHE_TTL_S. A Redis hit is copied into
the process's LRU. Writes to Redis go through one background thread, so neither a request nor a
model's batch worker ever waits on them.

Redis is a help, never a dependency: every Redis call has a short timeout (CACHE_TIMEOUT_MS); a
failed call marks Redis down for a few seconds (no request pays the timeout meanwhile), the
outputs come from the model, and the failure is logged once a period, not once a request.

What is stored: the key (a SHA-256 digest, no text) and the output text (the translation or
summary of one sentence, chunk or summary round), nothing about the request or its client.
"""

from __future__ import annotations

import importlib.metadata
import logging
import platform
import queue
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

try:
    import torch
except ImportError:  # the cpu-slim image: CTranslate2 on the CPU
    torch = None  # type: ignore[assignment]

from service.core.metrics import Metrics
from service.inference.cache_key import ModelIdentity
from service.inference.lru import ByteLRU
from service.inference.seq2seq import Seq2SeqModel

log = logging.getLogger(__name__)

# Libraries whose versions are part of every key: any of them can change an output.
KEYED_LIBRARIES = ("torch", "transformers", "tokenizers", "ctranslate2")
# Every Redis key the cache writes starts with this.
REDIS_PREFIX = "nlp-cache:"
# After a failed Redis call, Redis is skipped for this long before it is tried again.
RETRY_AFTER_S = 5.0
# At most one log line about Redis failing per this period.
LOG_PERIOD_S = 60.0
# Outputs waiting to be written to Redis; beyond it, new ones are not written (only cached
# in memory), so a slow Redis cannot grow the process.
WRITE_QUEUE = 4096
# Outputs written in one Redis round trip.
WRITE_BATCH = 256


class RedisStore:
    """Redis as a cache store that fails soft: reads answer None, writes are dropped, while it is
    unreachable or slow."""

    def __init__(
        self,
        url: str,
        *,
        ttl_s: float,
        timeout_s: float,
        clock: Callable[[], float] = time.monotonic,
        on_error: Callable[[], None] | None = None,
    ) -> None:
        self.ttl_s = ttl_s
        self._on_error = on_error
        self._client = redis.Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=0,
        )
        kwargs = self._client.connection_pool.connection_kwargs
        # Where it is, for the logs: never the URL, which may hold a password.
        self.where = f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}"
        self._clock = clock
        self._down_until = 0.0
        self._next_log = 0.0
        self._was_down = False
        self.errors = 0
        self.dropped = 0
        self._writes: queue.Queue[tuple[str, str] | None] = queue.Queue(WRITE_QUEUE)
        self._writer = threading.Thread(target=self._write_loop, name="cache-redis", daemon=True)
        self._writer.start()

    @property
    def reachable(self) -> bool:
        """False while Redis is marked down after a failed call."""
        return self._clock() >= self._down_until

    def get_many(self, keys: Sequence[str]) -> list[str | None]:
        """The values under `keys` (None where absent, or all None while Redis is down)."""
        if not keys or not self.reachable:
            return [None] * len(keys)
        try:
            values = self._client.mget([REDIS_PREFIX + key for key in keys])
            found = [None if v is None else v.decode("utf-8") for v in values]
        except (redis.RedisError, UnicodeDecodeError) as exc:
            self._failed(exc)
            return [None] * len(keys)
        self._recovered()
        return found

    def put_many(self, entries: Sequence[tuple[str, str]]) -> None:
        """Queue `entries` to be written; returns at once, dropping what does not fit."""
        for entry in entries:
            try:
                self._writes.put_nowait(entry)
            except queue.Full:
                self.dropped += 1

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until every queued write is done or dropped (for tests and shutdown)."""
        deadline = time.monotonic() + timeout
        while self._writes.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.005)

    def close(self) -> None:
        self._writes.put(None)
        self._writer.join(timeout=5)
        self._client.close()

    def _write_loop(self) -> None:
        while True:
            first = self._writes.get()
            if first is None:
                self._writes.task_done()
                return
            batch = [first]
            while len(batch) < WRITE_BATCH:
                try:
                    entry = self._writes.get_nowait()
                except queue.Empty:
                    break
                if entry is None:
                    self._writes.put_nowait(None)  # seen after this batch
                    self._writes.task_done()
                    break
                batch.append(entry)
            self._write(batch)
            for _ in batch:
                self._writes.task_done()

    def _write(self, batch: list[tuple[str, str]]) -> None:
        if not self.reachable:
            self.dropped += len(batch)
            return
        try:
            pipe = self._client.pipeline(transaction=False)
            for key, value in batch:
                pipe.set(REDIS_PREFIX + key, value.encode("utf-8"), ex=max(1, int(self.ttl_s)))
            pipe.execute()
        except redis.RedisError as exc:
            self.dropped += len(batch)
            self._failed(exc)
            return
        self._recovered()

    def _failed(self, exc: BaseException) -> None:
        now = self._clock()
        self.errors += 1
        if self._on_error is not None:
            self._on_error()
        self._down_until = now + RETRY_AFTER_S
        if now >= self._next_log:
            self._next_log = now + LOG_PERIOD_S
            self._was_down = True  # so the recovery after a reported failure is reported too
            log.warning(
                "cache: Redis at %s failed (%s: %s); serving from the models, retrying every "
                "%g s, next report in %g s at the earliest",
                self.where,
                type(exc).__name__,
                exc,
                RETRY_AFTER_S,
                LOG_PERIOD_S,
            )

    def _recovered(self) -> None:
        if self._was_down:
            self._was_down = False
            log.warning("cache: Redis at %s answers again", self.where)


class OutputCache:
    """Model outputs by key, per model, in memory and optionally in Redis (see the module
    docstring). With neither store (`enabled` false) every lookup misses and nothing is kept."""

    def __init__(
        self,
        *,
        memory_bytes: int,
        ttl_s: float,
        redis_url: str = "",
        timeout_s: float = 0.05,
        metrics: Metrics | None = None,
    ) -> None:
        self.metrics = metrics or Metrics()
        self.memory = ByteLRU(memory_bytes, ttl_s=ttl_s) if memory_bytes > 0 else None
        self.redis = (
            RedisStore(
                redis_url,
                ttl_s=ttl_s,
                timeout_s=timeout_s,
                on_error=self.metrics.cache_redis_errors.inc,
            )
            if redis_url
            else None
        )
        self.ttl_s = ttl_s

    @property
    def enabled(self) -> bool:
        return self.memory is not None or self.redis is not None

    def track(self, model: str) -> None:
        """Report the bytes held for `model` at each scrape."""
        memory = self.memory
        self.metrics.cache_bytes.labels(model).set_function(
            lambda: memory.bytes_of(model) if memory is not None else 0
        )

    def lookup(self, model: str, keys: Sequence[str]) -> list[str | None]:
        """The cached output per key, None for a miss; counts hits (per store) and misses."""
        found: list[str | None] = [None] * len(keys)
        if self.memory is not None:
            found = [self.memory.get(key) for key in keys]
            self._count_hits(model, "memory", found)
        missing = [i for i, value in enumerate(found) if value is None]
        if self.redis is not None and missing:
            remote = self.redis.get_many([keys[i] for i in missing])
            self._count_hits(model, "redis", remote)
            for i, value in zip(missing, remote, strict=True):
                if value is not None:
                    found[i] = value
                    self._keep_in_memory(model, keys[i], value)
        misses = sum(value is None for value in found)
        if misses:
            self.metrics.cache_misses.labels(model).inc(misses)
        return found

    def store(self, model: str, entries: Sequence[tuple[str, str]]) -> None:
        """Keep outputs `(key, text)` of `model`: in memory now, in Redis soon."""
        for key, value in entries:
            self._keep_in_memory(model, key, value)
        if self.redis is not None and entries:
            self.redis.put_many(entries)

    def state(self, model: str) -> dict[str, Any]:
        """What /v1/models shows of the cache for `model`."""
        memory, remote = self.memory, self.redis
        return {
            "enabled": self.enabled,
            "ttl_s": self.ttl_s if self.enabled else None,
            "memory": None
            if memory is None
            else {
                "max_bytes": memory.max_bytes,
                "bytes": memory.bytes_of(model),
                "entries_all_models": len(memory),
            },
            "redis": None
            if remote is None
            else {"reachable": remote.reachable, "errors": remote.errors},
        }

    def close(self) -> None:
        if self.redis is not None:
            self.redis.close()

    def _keep_in_memory(self, model: str, key: str, value: str) -> None:
        if self.memory is None:
            return
        for owner in self.memory.put(key, value, model):
            self.metrics.cache_evictions.labels(owner).inc()

    def _count_hits(self, model: str, store: str, values: Sequence[str | None]) -> None:
        hits = sum(value is not None for value in values)
        if hits:
            self.metrics.cache_hits.labels(model, store).inc(hits)


def model_identity(model: Seq2SeqModel, backend: str, threads: int) -> ModelIdentity:
    """What decides a loaded model's outputs here: the model, `backend` and its libraries, the
    device (the CPU's instruction set, or the GPU's name) and `threads` (see `cache_key`)."""
    device = model.device
    if device.type == "cpu":
        kind = f"cpu:{_cpu_capability()}"
    elif device.type == "cuda":
        kind = f"cuda:{torch.cuda.get_device_name(device)}"
    else:
        kind = device.type
    return ModelIdentity(
        source=model.source,
        revision=model.revision,
        backend=backend,
        libraries=_library_versions(),
        compute_type=model.compute_type,
        device=kind,
        threads=threads,
        bucket_tokens=model.bucket_tokens,
        prefix=model.prefix,
        max_output_tokens=model.max_output_tokens,
        generation_defaults=model.generation_defaults(),
    )


# The widest vector instruction sets first: what int8 and float kernels are chosen by.
_ISA_FLAGS = ("avx512_vnni", "avx512f", "avx2", "avx", "sse4_2", "neon", "asimd")


def _cpu_capability() -> str:
    """The CPU's instruction set as torch names it; without PyTorch (cpu-slim), the machine and
    its widest vector flag from /proc/cpuinfo, so images that pick kernels differently never
    share an output."""
    if torch is not None:
        return torch.backends.cpu.get_cpu_capability()
    try:
        words = set(Path("/proc/cpuinfo").read_text(encoding="utf-8").split())
    except OSError:
        words = set()
    widest = next((flag for flag in _ISA_FLAGS if flag in words), "default")
    return f"{platform.machine()}-{widest}"


def _library_versions() -> str:
    """The installed versions of KEYED_LIBRARIES, e.g. `torch=2.13.0,...`."""
    versions = []
    for name in KEYED_LIBRARIES:
        try:
            versions.append(f"{name}={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{name}=-")
    return ",".join(versions)
