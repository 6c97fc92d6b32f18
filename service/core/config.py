"""Every setting of the service: its environment variable, default and meaning, in one table.

Settings are read once, by `Settings.from_env`, into a frozen dataclass that is passed down.
No other module reads `os.environ`. The README's configuration table is checked against
`SETTINGS` by a test, so a setting cannot be added without being documented.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.core.errors import ConfigError
from service.core.setting_values import (
    _DEFAULT_PREFIXES,
    BACKENDS,
    COMPUTE_TYPES,
    PARTIAL_MODES,
    allow_list,
    fail_mode,
    key_digests,
    log_level,
    non_negative_float,
    non_negative_int,
    one_of,
    origins,
    parse_bool,
    parse_pairs,
    positive_float,
    positive_int,
    prefixes_over_defaults,
    rate_limits,
    redis_url,
    storage_uri,
    unit_fraction,
)


@dataclass(frozen=True)
class Setting:
    """One row of the settings table."""

    field: str
    env: str
    default: str
    parse: Callable[[str], Any]
    help: str
    # A secret's value is never echoed (errors name the variable only).
    secret: bool = False


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "summarize_model",
        "SUMMARIZE_MODEL",
        "sshleifer/distilbart-cnn-12-6",
        str,
        "Summariser: a Hub id or a local model directory.",
    ),
    Setting(
        "translate_models",
        "TRANSLATE_MODELS",
        "en-fr=Helsinki-NLP/opus-mt-en-fr,en-ar=Helsinki-NLP/opus-mt-en-ar",
        parse_pairs,
        "Translation pairs, `SRC-TGT=HUB_ID_OR_DIR` separated by commas. Add a pair "
        "(e.g. `fr-en=Helsinki-NLP/opus-mt-fr-en`) without code.",
    ),
    Setting(
        "translate_prefixes",
        "TRANSLATE_PREFIXES",
        _DEFAULT_PREFIXES,
        prefixes_over_defaults,
        "Text put before every input of a pair, `SRC-TGT=PREFIX`: multi-target Marian models "
        "need a target token (opus-mt-en-ar needs `>>ara<<`). Entries apply on top of the "
        "default; `PAIR=` (empty) for none.",
    ),
    Setting(
        "backend",
        "BACKEND",
        "ctranslate2",
        one_of(BACKENDS),
        "Inference library: `transformers` (PyTorch) or `ctranslate2` (converted models, "
        "quantised on CPU; see [Choosing a backend](#choosing-a-backend)).",
    ),
    Setting(
        "compute_type",
        "COMPUTE_TYPE",
        "auto",
        one_of(COMPUTE_TYPES),
        "CTranslate2 only: `auto` (int8 on CPU, float16 on CUDA), `int8`, `int8_float16`, "
        "`int8_bfloat16`, `float16`, `bfloat16` or `float32`. The transformers backend uses "
        "`DTYPE`.",
    ),
    Setting(
        "ct2_cache_dir",
        "CT2_CACHE_DIR",
        "",
        str,
        "CTranslate2 only: where converted models are kept (one directory per model source, "
        "revision or contents, and compute type); empty means `$HF_HOME/ctranslate2`.",
    ),
    Setting(
        "device",
        "DEVICE",
        "auto",
        str,
        "`auto` (CUDA, then MPS, then CPU), `cpu`, `cuda`, `cuda:N` or `mps`. A device that is "
        "not there stops start-up with an error.",
    ),
    Setting(
        "dtype",
        "DTYPE",
        "auto",
        str,
        "`auto` (float32 on CPU/MPS, bfloat16 on CUDA where supported, else float16), "
        "`float32`, `float16` or `bfloat16`. On CPU only `float32` (or `auto`) starts; half "
        "precision is for GPUs.",
    ),
    Setting(
        "torch_threads",
        "TORCH_THREADS",
        "0",
        non_negative_int,
        "Intra-op CPU threads for torch, and CTranslate2's `intra_threads`; 0 uses one per "
        "available core.",
    ),
    Setting(
        "max_batch_size",
        "MAX_BATCH_SIZE",
        "32",
        positive_int,
        "Most items one `generate` call runs together. 1 turns batching off.",
    ),
    Setting(
        "max_batch_tokens",
        "MAX_BATCH_TOKENS",
        "8192",
        positive_int,
        "Padded input-token budget of one batch (padded length x items); a single longer "
        "item still runs alone.",
    ),
    Setting(
        "batch_bucket_tokens",
        "BATCH_BUCKET_TOKENS",
        "128",
        non_negative_int,
        "Batch invariance: an input is padded to the next multiple of this many tokens and "
        "batched only with inputs padded alike, so its output never depends on its batch-mates "
        "(exact on CPU with transformers, and CTranslate2 int8; see Batch invariance). 0 pads "
        "each batch to its longest input: faster (up to 2x on CPU), but co-batched inputs can "
        "change an output.",
    ),
    Setting(
        "summary_partials",
        "SUMMARY_PARTIALS",
        "share",
        one_of(PARTIAL_MODES),
        "How an article longer than the summariser's input is summarised. `share`: each of its "
        "n chunks gets 1/n of the summary length and the chunk summaries joined are the "
        "summary, one round (2-3x less time in beam search on 2 CPU cores); every part keeps "
        "its share, with less detail per part. `resummarize`: each chunk summary is as long as "
        "a summary and their join is summarised again, a second round that lets the model "
        "choose across parts (and may drop one).",
    ),
    Setting(
        "max_wait_ms",
        "MAX_WAIT_MS",
        "5",
        non_negative_float,
        "How long a batch waits after its first item for more to arrive.",
    ),
    Setting(
        "max_queue",
        "MAX_QUEUE",
        "256",
        positive_int,
        "Items waiting per model before new requests are refused with 503 and Retry-After. A "
        "request feeds its pieces (sentences, chunks) in at most two batches at a time, so it may "
        "hold more pieces than this.",
    ),
    Setting(
        "item_timeout_s",
        "ITEM_TIMEOUT_S",
        "120",
        positive_float,
        "Longest a request may wait for and run in the models (all its pieces, summary rounds "
        "and translations together) before it gets 504.",
    ),
    Setting(
        "eager_load",
        "EAGER_LOAD",
        "true",
        parse_bool,
        "Load every model before serving (start-up fails on a missing model). `false` serves "
        "at once and loads in the background; /readyz answers 503 until all are loaded.",
    ),
    Setting(
        "max_text_chars",
        "MAX_TEXT_CHARS",
        "100000",
        positive_int,
        "Longest text accepted in one item, in characters (413 above it).",
    ),
    Setting(
        "max_items",
        "MAX_ITEMS",
        "64",
        positive_int,
        "Most texts in one request's `texts` list.",
    ),
    Setting(
        "max_body_bytes",
        "MAX_BODY_BYTES",
        "2097152",
        positive_int,
        "Largest request body in bytes (413 above it).",
    ),
    Setting(
        "retry_after_s",
        "RETRY_AFTER_S",
        "1",
        positive_int,
        "Seconds sent in `Retry-After` when a request is refused for overload.",
    ),
    Setting(
        "log_level",
        "LOG_LEVEL",
        "INFO",
        log_level,
        "Python logging level of the service's JSON logs: `DEBUG`, `INFO`, `WARNING`, `ERROR` "
        "or `CRITICAL`.",
    ),
    Setting(
        "cors_origins",
        "CORS_ORIGINS",
        "*",
        origins,
        "Web pages (origins, e.g. `https://social.example`, comma-separated) whose browsers may "
        "call the LibreTranslate routes directly, as LibreTranslate allows; `*` for any, empty "
        "for none.",
    ),
    Setting(
        "api_keys",
        "API_KEYS",
        "",
        key_digests,
        "API keys (comma-separated, 16+ characters each); empty turns keys off. Only their "
        "SHA-256 is kept. See Securing a deployment.",
        secret=True,
    ),
    Setting(
        "api_keys_file",
        "API_KEYS_FILE",
        "",
        str,
        "A file of API keys, one per line: `key [name [limit]]` (limit as in RATE_LIMIT, for "
        "that key only); used together with API_KEYS.",
    ),
    Setting(
        "rate_limit",
        "RATE_LIMIT",
        "",
        rate_limits,
        "Requests per key (per client address when keys are off), e.g. `60/minute;1000/day`; "
        "empty for none. 429 with Retry-After above it.",
    ),
    Setting(
        "rate_limit_chars",
        "RATE_LIMIT_CHARS",
        "",
        rate_limits,
        "Characters of request body per key or address, e.g. `200000/minute`: one long article "
        "costs what it weighs. Empty for none.",
    ),
    Setting(
        "rate_limit_storage",
        "RATE_LIMIT_STORAGE",
        "memory://",
        storage_uri,
        "Where the counts live: `memory://` (per process) or `redis://host:port` shared by "
        "every replica.",
    ),
    Setting(
        "rate_limit_fail",
        "RATE_LIMIT_FAIL",
        "open",
        fail_mode,
        "When the store is unreachable: `open` serves without limits (and logs it), `closed` "
        "answers 503.",
    ),
    Setting(
        "trusted_proxies",
        "TRUSTED_PROXIES",
        "0",
        non_negative_int,
        "Proxies in front that append to X-Forwarded-For (1 behind the production front); the "
        "client address for limits is read that many hops back, never further.",
    ),
    Setting(
        "cache",
        "CACHE",
        "true",
        parse_bool,
        "Serve a model input seen before (a sentence, a summary chunk) from the output cache "
        "instead of the model; `false` keeps no texts at all. See Cache.",
    ),
    Setting(
        "cache_memory_bytes",
        "CACHE_MEMORY_BYTES",
        "67108864",
        non_negative_int,
        "Bytes of outputs each process keeps in memory, least recently used evicted first; 0 "
        "for none (Redis alone, if CACHE_URL is set).",
    ),
    Setting(
        "cache_url",
        "CACHE_URL",
        "",
        redis_url,
        "A Redis (`redis://host:port[/db]`) that replicas share outputs through, as well as "
        "memory; empty for none. Unreachable or slow: outputs come from the models.",
        secret=True,
    ),
    Setting(
        "cache_ttl_s",
        "CACHE_TTL_S",
        "86400",
        positive_float,
        "Longest an output is kept, in memory and in Redis, in seconds.",
    ),
    Setting(
        "cache_timeout_ms",
        "CACHE_TIMEOUT_MS",
        "50",
        positive_float,
        "Longest one Redis call of the cache may take; after a failure Redis is left alone for "
        "5 s.",
    ),
    Setting(
        "fetch_urls",
        "FETCH_URLS",
        "true",
        parse_bool,
        "Whether `url` is accepted (the service fetches the page); `false` answers 400. See "
        "[Articles from a link or a CMS](#articles-from-a-link-or-a-cms).",
    ),
    Setting(
        "fetch_allow",
        "FETCH_ALLOW",
        "",
        allow_list,
        "Host names and CIDR networks (comma-separated) a `url` may reach although not public "
        "(loopback, private, link-local, ...), e.g. `intranet.example,10.20.0.0/16`.",
    ),
    Setting(
        "fetch_max_bytes",
        "FETCH_MAX_BYTES",
        "5000000",
        positive_int,
        "Largest page read for a `url`, in bytes (413 above it; read in pieces, stopped there).",
    ),
    Setting(
        "fetch_timeout_s",
        "FETCH_TIMEOUT_S",
        "10",
        positive_float,
        "Longest a page fetch may take, redirects and name lookups included (within the "
        "request's ITEM_TIMEOUT_S); 422 after it.",
    ),
    Setting(
        "reading_wpm",
        "READING_WPM",
        "230",
        positive_int,
        "Words per minute for the reading times answered with summaries.",
    ),
    Setting(
        "models_dir",
        "MODELS_DIR",
        "models",
        str,
        "Where `python -m service fetch-models` saves the configured models.",
    ),
    Setting(
        "data_dir",
        "DATA_DIR",
        "data",
        str,
        "Where the service keeps what it writes at run time: the jobs' SQLite file (`jobs.db`) "
        "unless `JOBS_STORE` says otherwise, and the temporary store of translated documents "
        "(`DATA_DIR/documents`).",
    ),
    Setting(
        "jobs",
        "JOBS",
        "true",
        parse_bool,
        "Run background jobs' items in every serving process (a worker thread next to the "
        "models); `false` runs none here (another process may).",
    ),
    Setting(
        "jobs_store",
        "JOBS_STORE",
        "",
        str,
        "Where jobs live: `sqlite:///path/jobs.db` or a plain path (one file, shared by every "
        "process on the host); empty means `DATA_DIR/jobs.db`; `redis://host:6379/0` (Redis "
        "6.2+) when several replicas share the jobs.",
        secret=True,
    ),
    Setting(
        "jobs_lease_s",
        "JOBS_LEASE_S",
        "300",
        positive_float,
        "How long a worker holds the items it claimed; a worker that dies loses them after "
        "this and another runs them. An item must finish within it (longer than ITEM_TIMEOUT_S).",
    ),
    Setting(
        "jobs_retention_s",
        "JOBS_RETENTION_S",
        "604800",
        positive_float,
        "How long a finished job (status and results) is kept before it is purged (7 days).",
    ),
    Setting(
        "jobs_queue_share",
        "JOBS_QUEUE_SHARE",
        "0.5",
        unit_fraction,
        "The most of a model's queue (MAX_QUEUE) that job items may hold; requests are never "
        "refused because of them, and go before them into every batch.",
    ),
    Setting(
        "jobs_batch_size",
        "JOBS_BATCH_SIZE",
        "4",
        positive_int,
        "The most job items in one batch (within MAX_BATCH_SIZE), a request's batch included: "
        "on a CPU a batch takes longer the more it holds, so small keeps requests quick and "
        "larger lets a job go faster (on a GPU, where a batch costs about what one item does, "
        "try MAX_BATCH_SIZE). See bench/RESULTS.md.",
    ),
    Setting(
        "jobs_worker_items",
        "JOBS_WORKER_ITEMS",
        "16",
        positive_int,
        "How many items each serving process claims and runs at once.",
    ),
    Setting(
        "jobs_max_items",
        "JOBS_MAX_ITEMS",
        "10000",
        positive_int,
        "Most items one job may hold (413 above it).",
    ),
    Setting(
        "jobs_max_bytes",
        "JOBS_MAX_BYTES",
        "50000000",
        positive_int,
        "Largest JSON Lines upload of one job, in bytes (413 above it); a JSON body stays "
        "within MAX_BODY_BYTES.",
    ),
    Setting(
        "jobs_max_in_flight",
        "JOBS_MAX_IN_FLIGHT",
        "4",
        positive_int,
        "Jobs one API key (or, with keys off, everyone together) may have queued or running; "
        "one more is refused with 429.",
    ),
    Setting(
        "jobs_webhook_secret",
        "JOBS_WEBHOOK_SECRET",
        "",
        str,
        "The key job callbacks are signed with (HMAC-SHA256, `X-Signature`); empty: "
        "`callback_url` is refused with 400. See [Long work](#long-work).",
        secret=True,
    ),
    Setting(
        "jobs_webhook_allow",
        "JOBS_WEBHOOK_ALLOW",
        "",
        allow_list,
        "Host names and CIDR networks a `callback_url` may reach although not public "
        "(loopback, private, link-local, ...), as FETCH_ALLOW is for pages.",
    ),
    Setting(
        "doc_max_bytes",
        "DOC_MAX_BYTES",
        "20000000",
        positive_int,
        "Largest document accepted for translation, in bytes (413 above it). See Documents.",
    ),
    Setting(
        "doc_max_members",
        "DOC_MAX_MEMBERS",
        "2000",
        positive_int,
        "Most members a zip-based document (docx, pptx, xlsx, odt, epub) may hold (413 above).",
    ),
    Setting(
        "doc_max_uncompressed_bytes",
        "DOC_MAX_UNCOMPRESSED_BYTES",
        "200000000",
        positive_int,
        "Most bytes a zip-based document may inflate to, all members together, checked from its "
        "directory before anything is extracted (413 above: a zip bomb).",
    ),
    Setting(
        "doc_max_compression_ratio",
        "DOC_MAX_COMPRESSION_RATIO",
        "100",
        positive_float,
        "Most a zip member over 1 MB may inflate, uncompressed over compressed size (413 above).",
    ),
    Setting(
        "doc_retention_s",
        "DOC_RETENTION_S",
        "3600",
        positive_float,
        "Longest a translated document waits for its download, in seconds; deleted after it, or "
        "at its first download.",
    ),
    Setting(
        "doc_store_bytes",
        "DOC_STORE_BYTES",
        "500000000",
        positive_int,
        "Most bytes the temporary document store holds; a translation that would pass it is "
        "refused (503 with Retry-After) rather than evicting results not yet downloaded.",
    ),
    Setting(
        "doc_store_key_share",
        "DOC_STORE_KEY_SHARE",
        "0.5",
        unit_fraction,
        "The most of DOC_STORE_BYTES one API key's files may hold (with keys on), so one key "
        "that never downloads cannot fill the store for all: past it that key is refused (503 "
        "with Retry-After) and the others are not.",
    ),
)


# What a document upload's multipart framing and other form fields may add to DOC_MAX_BYTES.
DOC_FORM_OVERHEAD_BYTES = 64 * 1024


@dataclass(frozen=True)
class Settings:
    """The service's configuration. Build it with `from_env` or `replace`; never mutate it."""

    summarize_model: str
    translate_models: tuple[tuple[str, str], ...]
    translate_prefixes: tuple[tuple[str, str], ...]
    backend: str
    compute_type: str
    ct2_cache_dir: str
    device: str
    dtype: str
    torch_threads: int
    max_batch_size: int
    max_batch_tokens: int
    batch_bucket_tokens: int
    summary_partials: str
    max_wait_ms: float
    max_queue: int
    item_timeout_s: float
    eager_load: bool
    max_text_chars: int
    max_items: int
    max_body_bytes: int
    retry_after_s: int
    log_level: str
    cors_origins: tuple[str, ...]
    api_keys: tuple[str, ...]
    api_keys_file: str
    rate_limit: tuple[str, ...]
    rate_limit_chars: tuple[str, ...]
    rate_limit_storage: str
    rate_limit_fail: str
    trusted_proxies: int
    cache: bool
    cache_memory_bytes: int
    cache_url: str
    cache_ttl_s: float
    cache_timeout_ms: float
    fetch_urls: bool
    fetch_allow: tuple[str, ...]
    fetch_max_bytes: int
    fetch_timeout_s: float
    reading_wpm: int
    models_dir: str
    data_dir: str
    jobs: bool
    jobs_store: str
    jobs_lease_s: float
    jobs_retention_s: float
    jobs_queue_share: float
    jobs_batch_size: int
    jobs_worker_items: int
    jobs_max_items: int
    jobs_max_bytes: int
    jobs_max_in_flight: int
    jobs_webhook_secret: str
    jobs_webhook_allow: tuple[str, ...]
    doc_max_bytes: int
    doc_max_members: int
    doc_max_uncompressed_bytes: int
    doc_max_compression_ratio: float
    doc_retention_s: float
    doc_store_bytes: int
    doc_store_key_share: float

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read every setting from `environ` (default: the process environment).

        Raises ConfigError naming the variable when a value does not parse.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for setting in SETTINGS:
            raw = env.get(setting.env, setting.default)
            try:
                values[setting.field] = setting.parse(raw)
            except ValueError as exc:
                if setting.secret:
                    raise ConfigError(f"{setting.env}: {exc}") from None
                raise ConfigError(f"{setting.env}={raw!r}: {exc}") from None
        if not values["ct2_cache_dir"]:
            hf_home = env.get("HF_HOME") or str(Path("~/.cache/huggingface").expanduser())
            values["ct2_cache_dir"] = str(Path(hf_home) / "ctranslate2")
        if not values["jobs_store"]:
            values["jobs_store"] = f"sqlite:///{Path(values['data_dir']).resolve() / 'jobs.db'}"
        return cls(**values)

    @classmethod
    def defaults(cls, **overrides: Any) -> Settings:
        """Defaults with the given fields replaced, ignoring the environment (for tests, tools)."""
        return dataclasses.replace(cls.from_env({}), **overrides)

    @property
    def doc_upload_bytes(self) -> int:
        """Largest body of a document upload: DOC_MAX_BYTES and its form's framing."""
        return self.doc_max_bytes + DOC_FORM_OVERHEAD_BYTES

    def replace(self, **changes: Any) -> Settings:
        """A copy with the given fields changed."""
        return dataclasses.replace(self, **changes)
