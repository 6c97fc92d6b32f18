"""The inference engine: one batch worker per configured model, and the calls tasks make on them.

Building an `Engine` touches nothing; `start()` resolves the device (initialising CUDA), starts
one worker per model, and each worker loads its own model. With `eager_load` (the default),
`start()` waits for every model and raises `ModelLoadError` if one fails; otherwise models load in
the background and `ready` turns true when all have.

A request's pieces (sentences, chunks, list items) go to a model's queue through `submit_many`, a
window of at most `window` items at a time: a request is admitted or refused (Overloaded) on its
first window, and once admitted it feeds the rest in as its earlier pieces finish, waiting for
room when other requests fill the queue. So a request may hold more pieces than MAX_QUEUE, one
request cannot fill the queue ahead of everyone else, and the queue bound holds.

A worker that dies while serving is not restarted in-process (whatever killed it may have left its
model or device unusable): `alive` turns false, so /healthz fails and an orchestrator restarts the
process, and `on_worker_death` (set by gunicorn.conf.py) lets gunicorn replace its worker at once.

In front of the queues sits the output cache (`cache.OutputCache`, keys from `cache_key`):
`submit_many` looks every input up first and queues only the misses (each distinct one once), so a
hit takes no queue slot, no batch and no window; a model's worker keeps the outputs it computes
(every one where outputs are batch-invariant, else only those computed alone; none of a batch cut
short because nobody waited for it).
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from service.core.config import Settings
from service.core.errors import ItemTimeout, ModelUnavailable, PayloadTooLarge
from service.core.metrics import Metrics
from service.core.pairs import LanguagePair
from service.inference.backends import backend
from service.inference.batching import Batcher, Preempted, Ticket
from service.inference.cache import OutputCache, model_identity
from service.inference.cache_key import KeyMaker, batch_invariant, keepable
from service.inference.devices import (
    Accelerators,
    choose_device,
    choose_dtype,
    configure_cpu_threads,
    probe_accelerators,
)
from service.inference.registry import TRANSLATE, ModelSpec, load_model, model_specs
from service.inference.seq2seq import GenerationParams, Placement, Seq2SeqModel
from service.inference.submission import Cached, Submission

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

# Inputs of more characters than this are split and tokenised one request at a time (see
# `Engine.preprocessing`); a news article is well under it, a maximal request far over it.
LARGE_INPUT_CHARS = 20_000


@dataclass(frozen=True)
class _BatchKey:
    """What items must share to share a batch: generation params, and the length each is padded
    to (with BATCH_BUCKET_TOKENS, so that no input's padding depends on its batch-mates)."""

    params: GenerationParams
    padded_length: int


@dataclass
class _Slot:
    """A configured model, its worker, and the loaded model once the worker has it."""

    spec: ModelSpec
    batcher: Batcher[list[int], str]
    model: Seq2SeqModel | None = None
    # Cache keys for the loaded model, when its outputs are cached; and whether every output
    # may be kept (batch-invariant) or only those computed alone.
    keys: KeyMaker | None = None
    invariant: bool = False


def resolve_placement(
    settings: Settings, accelerators: Accelerators | None = None
) -> tuple[ModuleType, Placement]:
    """The chosen backend and where and how it runs: device, dtype, compute type, CPU threads
    (set for torch here), conversion cache. Probes accelerators (initialising CUDA) unless given.

    Raises ConfigError for a device, dtype or compute type that cannot be used.
    """
    accelerators = accelerators or probe_accelerators()
    chosen = backend(settings.backend)
    if settings.device == "auto" and "mps" not in chosen.DEVICE_TYPES:
        # On a Mac, `auto` then means the CPU, where this backend runs, not MPS.
        accelerators = dataclasses.replace(accelerators, mps=False)
    device = choose_device(settings.device, accelerators)
    dtype = choose_dtype(settings.dtype, device, accelerators)
    compute_type = chosen.compute_type(device, dtype, settings.compute_type)
    threads = configure_cpu_threads(settings.torch_threads) if device.type == "cpu" else 0
    placement = Placement(
        device=device,
        dtype=dtype,
        compute_type=compute_type,
        threads=threads,
        cache_dir=Path(settings.ct2_cache_dir),
        bucket_tokens=settings.batch_bucket_tokens,
    )
    return chosen, placement


class Engine:
    """Owns the models and their batch workers for the life of the serving process."""

    def __init__(
        self,
        settings: Settings,
        *,
        metrics: Metrics | None = None,
        accelerators: Accelerators | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        self._accelerators = accelerators
        self._slots: dict[str, _Slot] = {}
        self.specs = model_specs(settings)
        self.device: torch.device | None = None
        self.dtype: torch.dtype | str | None = None
        self.cpu_threads: int | None = None
        self.backend: ModuleType | None = None
        self.placement: Placement | None = None
        # Called (from the dying worker's thread) with the model key when a worker dies.
        self.on_worker_death: Callable[[str], None] | None = None
        self._large_inputs = threading.Lock()
        self.cache: OutputCache | None = None
        # True on the view `background()` returns: what it submits is a job's.
        self.is_background = False

    # ----- lifecycle -------------------------------------------------------------------------

    def start(self) -> Engine:
        """Resolve backend, device and numeric types, start every worker; wait for the models if
        eager. Raises ConfigError for a device or compute type the backend cannot use."""
        self.backend, self.placement = resolve_placement(self.settings, self._accelerators)
        self.device, self.dtype = self.placement.device, self.placement.dtype
        self.cpu_threads = self.placement.threads or None
        compute_type = self.placement.compute_type
        if self.settings.cache:
            self.cache = OutputCache(
                memory_bytes=self.settings.cache_memory_bytes,
                ttl_s=self.settings.cache_ttl_s,
                redis_url=self.settings.cache_url,
                timeout_s=self.settings.cache_timeout_ms / 1000,
                metrics=self.metrics,
            )
        log.info(
            "engine: %s on %s (%s), %d model(s)",
            self.settings.backend,
            self.device,
            compute_type,
            len(self.specs),
        )
        for spec in self.specs:
            self._slots[spec.key] = slot = self._make_slot(spec)
            self.metrics.track_queue(spec.key, lambda b=slot.batcher: b.depth)
            slot.batcher.start()
        if self.settings.eager_load:
            try:
                for slot in self._slots.values():
                    slot.batcher.wait_ready()
            except BaseException:
                self.close(timeout=5)
                raise
        return self

    def _make_slot(self, spec: ModelSpec) -> _Slot:
        settings = self.settings
        slot: _Slot

        def setup() -> None:
            assert self.placement is not None
            slot.model = load_model(spec, self.placement, settings.backend)
            self.metrics.model_info.labels(
                spec.key, settings.backend, slot.model.compute_type, str(self.device)
            ).set(1)
            if self.cache is not None and self.cache.enabled and slot.model.revision:
                threads = self.placement.threads if self.placement else 0
                identity = model_identity(slot.model, settings.backend, threads)
                slot.keys = KeyMaker(identity)
                slot.invariant = batch_invariant(
                    identity.backend, identity.device, identity.compute_type, identity.bucket_tokens
                )
                self.cache.track(spec.key)

        def run_batch(batch: list[list[int]], key: Hashable) -> list[str]:
            assert slot.model is not None and isinstance(key, _BatchKey)
            generated = slot.model.generate(batch, key.params, should_stop=slot.batcher.should_stop)
            if slot.batcher.preempted:
                raise Preempted(f"{spec.key}: a job's batch yielded to a request")
            self.metrics.generated_tokens.labels(spec.key).inc(generated.new_tokens)
            self._keep(slot, batch, key.params, generated.texts)
            return generated.texts

        batcher: Batcher[list[int], str] = Batcher(
            spec.key,
            run_batch,
            max_batch_size=settings.max_batch_size,
            max_batch_tokens=settings.max_batch_tokens,
            max_wait_s=settings.max_wait_ms / 1000,
            max_queue=settings.max_queue,
            setup=setup,
            split_on=self.backend.OUT_OF_MEMORY if self.backend else (),
            on_batch=self.metrics.record_batch,
            on_death=lambda exc: self._worker_died(spec.key),
            max_background=max(1, int(settings.max_queue * settings.jobs_queue_share)),
            max_background_batch=settings.jobs_batch_size,
        )
        slot = _Slot(spec, batcher)
        return slot

    def _keep(
        self, slot: _Slot, batch: list[list[int]], params: GenerationParams, texts: list[str]
    ) -> None:
        """Cache the outputs of a batch that ran to its end, where they may be kept."""
        if slot.keys is None or self.cache is None or len(texts) != len(batch):
            return
        if slot.batcher.abandoned() or not keepable(slot.invariant, len(batch)):
            return
        options = params.overrides()
        entries = [(slot.keys.digest(options, ids), t) for ids, t in zip(batch, texts, strict=True)]
        try:
            self.cache.store(slot.spec.key, entries)
        except Exception:  # the cache is a help: its failure must not fail the batch
            log.exception("%s: could not cache a batch's outputs", slot.spec.key)

    def close(self, timeout: float | None = None) -> None:
        """Stop accepting work, finish queued items, join the workers."""
        for slot in self._slots.values():
            slot.batcher.close(timeout)
        if self.cache is not None:
            self.cache.close()

    def _worker_died(self, key: str) -> None:
        log.critical("model %r can no longer serve; this process must be restarted", key)
        if self.on_worker_death is not None:
            self.on_worker_death(key)

    @property
    def alive(self) -> bool:
        """False once a model's worker has died while serving: only a restart brings it back."""
        return all(s.batcher.fatal_error is None for s in self._slots.values())

    @property
    def ready(self) -> bool:
        """True when every model is loaded and its worker is running."""
        return bool(self._slots) and all(s.batcher.ready for s in self._slots.values())

    def readiness(self) -> dict[str, str]:
        """Each model's state: `ready`, `loading`, `failed: ...`, `dead` or `stopped`."""
        states = {}
        for key, slot in self._slots.items():
            if slot.batcher.setup_error is not None:
                states[key] = f"failed: {slot.batcher.setup_error}"
            elif slot.batcher.fatal_error is not None:
                states[key] = "dead"
            elif slot.batcher.ready:
                states[key] = "ready"
            elif slot.model is None:
                states[key] = "loading"
            else:
                states[key] = "stopped"
        return states

    def background(self) -> Engine:
        """This engine as a job sees it: the same models, queues and cache, but every item it
        submits is background work (behind requests in every batch, within JOBS_QUEUE_SHARE of
        each queue, waiting for room instead of Overloaded). Operations run on it unchanged:
        the background is chosen by which engine their context holds. Take it after `start`."""
        view = copy.copy(self)
        view.is_background = True
        return view

    # ----- what tasks call -------------------------------------------------------------------

    def keys(self, task: str) -> list[str]:
        """Registry keys of the configured models for a task, in configuration order."""
        return [spec.key for spec in self.specs if spec.task == task]

    def pairs(self) -> list[LanguagePair]:
        """The translation pairs served, in configuration order."""
        return [LanguagePair.parse(key) for key in self.keys(TRANSLATE)]

    def model(self, key: str) -> Seq2SeqModel:
        """The loaded model for `key`. Raises ModelUnavailable while it is not loaded."""
        slot = self._slots.get(key)
        if slot is None or slot.model is None or not slot.batcher.ready:
            raise ModelUnavailable(f"model {key!r} is not loaded; try again shortly")
        return slot.model

    @contextmanager
    def preprocessing(self, chars: int, deadline: float) -> Iterator[None]:
        """Hold while splitting and tokenising `chars` characters of a request's input.

        Splitting is pure Python and holds the GIL; several large inputs at once would starve
        the batch workers (every torch call re-takes the GIL), and with them every other
        request. So inputs over LARGE_INPUT_CHARS go one at a time, each waiting its turn at
        most until its deadline (ItemTimeout); small ones never wait.
        """
        if chars <= LARGE_INPUT_CHARS:
            yield
            return
        if not self._large_inputs.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise ItemTimeout()
        try:
            yield
        finally:
            self._large_inputs.release()

    def deadline(self) -> float:
        """The `time.monotonic()` by which a request starting now must be answered."""
        return time.monotonic() + self.settings.item_timeout_s

    def submit(
        self,
        key: str,
        ids: list[int],
        params: GenerationParams,
        *,
        deadline: float | None = None,
        wait: bool = False,
    ) -> Ticket[str]:
        """Queue one tokenised input, to be done by `deadline` (default: ITEM_TIMEOUT_S from
        now; ItemTimeout after it). When the model's queue is full, raises Overloaded, or with
        `wait` waits for room (the background view always waits)."""
        model = self.model(key)
        if len(ids) > model.max_input_tokens:
            raise PayloadTooLarge(
                f"input of {len(ids)} tokens exceeds the model's {model.max_input_tokens}"
            )
        deadline = self.deadline() if deadline is None else deadline
        padded = model.padded_length(len(ids)) if model.bucket_tokens else 0
        return self._slots[key].batcher.submit(
            ids,
            cost=padded or len(ids),
            tokens=len(ids),
            key=_BatchKey(params, padded),
            timeout_s=deadline - time.monotonic(),
            wait=wait,
            background=self.is_background,
        )

    @property
    def window(self) -> int:
        """Most pieces of one request in a model's queue at once: two full batches (one running,
        one waiting, so the worker never idles on a big request), within MAX_QUEUE."""
        return min(self.settings.max_queue, 2 * self.settings.max_batch_size)

    def submit_many(
        self,
        key: str,
        inputs: Sequence[list[int]],
        params: GenerationParams | Sequence[GenerationParams],
        *,
        deadline: float | None = None,
    ) -> Submission:
        """Queue a request's inputs for one model, all due by `deadline` (default: ITEM_TIMEOUT_S
        from now): the first `window` now (Overloaded if they do not all fit, with none left
        queued), the rest as `Submission.results` collects. `params` is for every input, or one
        per input (inputs with equal params may share a batch)."""
        deadline = self.deadline() if deadline is None else deadline
        each = [params] * len(inputs) if isinstance(params, GenerationParams) else list(params)
        if len(each) != len(inputs):
            raise ValueError(f"{len(each)} params for {len(inputs)} inputs")
        return Submission(
            self, key, inputs, each, deadline, cached=self._look_up(key, inputs, each)
        )

    def _look_up(
        self, key: str, inputs: Sequence[list[int]], params: Sequence[GenerationParams]
    ) -> list[Cached] | None:
        """Per input, its cache key and output if cached; None when `key`'s outputs are not
        cached (cache off, or the model not loaded: `submit` then says why)."""
        slot = self._slots.get(key)
        if self.cache is None or slot is None or slot.keys is None:
            return None
        digests = [
            slot.keys.digest(own.overrides(), ids) for ids, own in zip(inputs, params, strict=True)
        ]
        return list(zip(digests, self.cache.lookup(key, digests), strict=True))

    @property
    def compute_type(self) -> str | None:
        """The numeric type the models compute in (the dtype's name for transformers), once
        started."""
        return self.placement.compute_type if self.placement else None

    def describe(self) -> list[dict[str, Any]]:
        """What is configured and loaded, for /v1/models and start-up logs."""
        described = []
        states = self.readiness()
        for key, slot in self._slots.items():
            model = slot.model
            described.append(
                {
                    "key": key,
                    "task": slot.spec.task,
                    "source": slot.spec.name,
                    "source_lang": slot.spec.source_lang,
                    "target_lang": slot.spec.target_lang,
                    "prefix": slot.spec.prefix or None,
                    "state": states[key],
                    "backend": self.settings.backend,
                    "device": str(self.device),
                    "dtype": self.compute_type,
                    "compute_type": self.compute_type,
                    "demo": model.is_demo if model else None,
                    "max_input_tokens": model.max_input_tokens if model else None,
                    "generation_defaults": model.generation_defaults() if model else None,
                    "batching": {
                        "max_batch_size": slot.batcher.max_batch_size,
                        "max_batch_tokens": slot.batcher.max_batch_tokens,
                        "bucket_tokens": self.settings.batch_bucket_tokens,
                        "max_wait_ms": self.settings.max_wait_ms,
                        "max_queue": slot.batcher.max_queue,
                        "queue_depth": slot.batcher.depth,
                    },
                    "cache": self._cache_state(slot),
                }
            )
        return described

    def _cache_state(self, slot: _Slot) -> dict[str, Any]:
        """The cache as /v1/models shows it for one model: its stores, and which outputs it
        keeps (`all`, or `alone`: only those computed in a batch of one; see `cache_key`)."""
        if self.cache is None or not self.cache.enabled:
            return {"enabled": False}
        if slot.keys is None:
            why = "model not loaded" if slot.model is None else "model revision unknown"
            return {"enabled": False, "reason": why}
        return self.cache.state(slot.spec.key) | {"keeps": "all" if slot.invariant else "alone"}
