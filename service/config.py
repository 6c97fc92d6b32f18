"""Every setting of the service: its environment variable, default and meaning, in one table.

Settings are read once, by `Settings.from_env`, into a frozen dataclass that is passed down.
No other module reads `os.environ`. The README's configuration table is checked against
`SETTINGS` by a test, so a setting cannot be added without being documented.
"""

from __future__ import annotations

import dataclasses
import math
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from service.errors import ConfigError


def _parse_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"expected true/false, got {raw!r}")


def parse_pairs(raw: str) -> tuple[tuple[str, str], ...]:
    """Parse `key=value,key=value` (as in TRANSLATE_MODELS) into ordered pairs.

    Values may contain `=` (only the first one splits); empty entries are ignored, so a trailing
    comma is harmless. Raises ValueError on an entry without `=` or with an empty key.
    """
    pairs: list[tuple[str, str]] = []
    for entry in raw.split(","):
        entry = entry.strip()
        if not entry:
            continue
        key, sep, value = entry.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"entry {entry!r} is not KEY=VALUE")
        pairs.append((key.strip(), value.strip()))
    return tuple(pairs)


_DEFAULT_PREFIXES = "en-ar=>>ara<<"


def _prefixes_over_defaults(raw: str) -> tuple[tuple[str, str], ...]:
    """Parse TRANSLATE_PREFIXES and lay its entries over the default ones.

    A user who adds a pair sets only that pair's prefix; replacing the whole default would
    silently drop `>>ara<<` from en-ar, and opus-mt-en-ar then translates into the wrong
    language without any error. `PAIR=` (empty) keeps the pair with no prefix, so a default
    can still be switched off. Default pairs come first, then the new ones in the given order.
    """
    merged = dict(parse_pairs(_DEFAULT_PREFIXES))
    merged.update(parse_pairs(raw))
    return tuple(merged.items())


def _origins(raw: str) -> tuple[str, ...]:
    """Parse CORS_ORIGINS: `*`, or origins (`scheme://host[:port]`) separated by commas."""
    origins = tuple(o.strip().rstrip("/") for o in raw.split(",") if o.strip())
    if "*" in origins and len(origins) > 1:
        raise ValueError("`*` cannot be combined with other origins")
    for origin in origins:
        if origin != "*" and "://" not in origin:
            raise ValueError(f"{origin!r} is not an origin like https://example.org")
    return origins


_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _log_level(raw: str) -> str:
    """A logging level name, any case; checked here so a typo stops start-up with one line."""
    level = raw.strip().upper()
    if level not in _LOG_LEVELS:
        raise ValueError(f"expected one of {', '.join(_LOG_LEVELS)}")
    return level


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise ValueError(f"must be >= 1, got {value}")
    return value


def _non_negative_int(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError(f"must be >= 0, got {value}")
    return value


def _finite_float(raw: str) -> float:
    # Timeouts and waits end in thread waits, which raise on inf or above threading.TIMEOUT_MAX.
    value = float(raw)
    if not math.isfinite(value) or abs(value) > threading.TIMEOUT_MAX:
        raise ValueError(f"must be a finite number up to {threading.TIMEOUT_MAX:.0f}, got {raw!r}")
    return value


def _positive_float(raw: str) -> float:
    value = _finite_float(raw)
    if not value > 0:
        raise ValueError(f"must be > 0, got {value}")
    return value


def _non_negative_float(raw: str) -> float:
    value = _finite_float(raw)
    if not value >= 0:
        raise ValueError(f"must be >= 0, got {value}")
    return value


@dataclass(frozen=True)
class Setting:
    """One row of the settings table."""

    field: str
    env: str
    default: str
    parse: Callable[[str], Any]
    help: str


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
        _prefixes_over_defaults,
        "Text put before every input of a pair, `SRC-TGT=PREFIX`: multi-target Marian models "
        "need a target token (opus-mt-en-ar needs `>>ara<<`). Entries apply on top of the "
        "default; `PAIR=` (empty) for none.",
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
        _non_negative_int,
        "Intra-op CPU threads for torch; 0 uses one per available core.",
    ),
    Setting(
        "max_batch_size",
        "MAX_BATCH_SIZE",
        "32",
        _positive_int,
        "Most items one `generate` call runs together. 1 turns batching off.",
    ),
    Setting(
        "max_batch_tokens",
        "MAX_BATCH_TOKENS",
        "8192",
        _positive_int,
        "Padded input-token budget of one batch (longest input x items); a single longer "
        "item still runs alone.",
    ),
    Setting(
        "max_wait_ms",
        "MAX_WAIT_MS",
        "5",
        _non_negative_float,
        "How long a batch waits after its first item for more to arrive.",
    ),
    Setting(
        "max_queue",
        "MAX_QUEUE",
        "256",
        _positive_int,
        "Items waiting per model before new requests are refused with 503 and Retry-After. A "
        "request feeds its pieces (sentences, chunks) in at most two batches at a time, so it may "
        "hold more pieces than this.",
    ),
    Setting(
        "item_timeout_s",
        "ITEM_TIMEOUT_S",
        "120",
        _positive_float,
        "Longest a request may wait for and run in the models (all its pieces, summary rounds "
        "and translations together) before it gets 504.",
    ),
    Setting(
        "eager_load",
        "EAGER_LOAD",
        "true",
        _parse_bool,
        "Load every model before serving (start-up fails on a missing model). `false` serves "
        "at once and loads in the background; /readyz answers 503 until all are loaded.",
    ),
    Setting(
        "max_text_chars",
        "MAX_TEXT_CHARS",
        "100000",
        _positive_int,
        "Longest text accepted in one item, in characters (413 above it).",
    ),
    Setting(
        "max_items",
        "MAX_ITEMS",
        "64",
        _positive_int,
        "Most texts in one request's `texts` list.",
    ),
    Setting(
        "max_body_bytes",
        "MAX_BODY_BYTES",
        "2097152",
        _positive_int,
        "Largest request body in bytes (413 above it).",
    ),
    Setting(
        "retry_after_s",
        "RETRY_AFTER_S",
        "1",
        _positive_int,
        "Seconds sent in `Retry-After` when a request is refused for overload.",
    ),
    Setting(
        "log_level",
        "LOG_LEVEL",
        "INFO",
        _log_level,
        "Python logging level of the service's JSON logs: `DEBUG`, `INFO`, `WARNING`, `ERROR` "
        "or `CRITICAL`.",
    ),
    Setting(
        "cors_origins",
        "CORS_ORIGINS",
        "*",
        _origins,
        "Web pages (origins, e.g. `https://social.example`, comma-separated) whose browsers may "
        "call the LibreTranslate routes directly, as LibreTranslate allows; `*` for any, empty "
        "for none.",
    ),
    Setting(
        "models_dir",
        "MODELS_DIR",
        "models",
        str,
        "Where `python -m service fetch-models` saves the configured models.",
    ),
)


@dataclass(frozen=True)
class Settings:
    """The service's configuration. Build it with `from_env` or `replace`; never mutate it."""

    summarize_model: str
    translate_models: tuple[tuple[str, str], ...]
    translate_prefixes: tuple[tuple[str, str], ...]
    device: str
    dtype: str
    torch_threads: int
    max_batch_size: int
    max_batch_tokens: int
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
    models_dir: str

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
                raise ConfigError(f"{setting.env}={raw!r}: {exc}") from None
        return cls(**values)

    @classmethod
    def defaults(cls, **overrides: Any) -> Settings:
        """Defaults with the given fields replaced, ignoring the environment (for tests, tools)."""
        return dataclasses.replace(cls.from_env({}), **overrides)

    def replace(self, **changes: Any) -> Settings:
        """A copy with the given fields changed."""
        return dataclasses.replace(self, **changes)
