"""How each setting's text becomes its value: parsers that raise ValueError with the reason.

`service.core.config` names the variable in the error; these say what is wrong with the value.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import re
import threading
from collections.abc import Callable

from limits import parse_many


def parse_bool(raw: str) -> bool:
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


def prefixes_over_defaults(raw: str) -> tuple[tuple[str, str], ...]:
    """Parse TRANSLATE_PREFIXES and lay its entries over the default ones.

    A user who adds a pair sets only that pair's prefix; replacing the whole default would
    silently drop `>>ara<<` from en-ar, and opus-mt-en-ar then translates into the wrong
    language without any error. `PAIR=` (empty) keeps the pair with no prefix, so a default
    can still be switched off. Default pairs come first, then the new ones in the given order.
    """
    merged = dict(parse_pairs(_DEFAULT_PREFIXES))
    merged.update(parse_pairs(raw))
    return tuple(merged.items())


def origins(raw: str) -> tuple[str, ...]:
    """Parse CORS_ORIGINS: `*`, or origins (`scheme://host[:port]`) separated by commas."""
    origins = tuple(o.strip().rstrip("/") for o in raw.split(",") if o.strip())
    if "*" in origins and len(origins) > 1:
        raise ValueError("`*` cannot be combined with other origins")
    for origin in origins:
        if origin != "*" and "://" not in origin:
            raise ValueError(f"{origin!r} is not an origin like https://example.org")
    return origins


_HOST_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,62}\.?)*[a-z0-9]?$", re.IGNORECASE)


def allow_list(raw: str) -> tuple[str, ...]:
    """Parse FETCH_ALLOW: host names and CIDR networks (or single addresses), by commas."""
    entries = tuple(e.strip() for e in raw.split(",") if e.strip())
    for entry in entries:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            if not _HOST_NAME.match(entry):
                raise ValueError(f"{entry!r} is neither a host name nor a network") from None
    return entries


BACKENDS = ("transformers", "ctranslate2")
# SUMMARY_PARTIALS: see service/summary_partials.py.
PARTIAL_MODES = ("share", "resummarize")
COMPUTE_TYPES = (
    "auto",
    "int8",
    "int8_float16",
    "int8_bfloat16",
    "float16",
    "bfloat16",
    "float32",
)


def one_of(choices: tuple[str, ...]) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return value

    return parse


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def log_level(raw: str) -> str:
    """A logging level name, any case; checked here so a typo stops start-up with one line."""
    level = raw.strip().upper()
    if level not in LOG_LEVELS:
        raise ValueError(f"expected one of {', '.join(LOG_LEVELS)}")
    return level


def positive_int(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise ValueError(f"must be >= 1, got {value}")
    return value


def non_negative_int(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError(f"must be >= 0, got {value}")
    return value


def finite_float(raw: str) -> float:
    # Timeouts and waits end in thread waits, which raise on inf or above threading.TIMEOUT_MAX.
    value = float(raw)
    if not math.isfinite(value) or abs(value) > threading.TIMEOUT_MAX:
        raise ValueError(f"must be a finite number up to {threading.TIMEOUT_MAX:.0f}, got {raw!r}")
    return value


def positive_float(raw: str) -> float:
    value = finite_float(raw)
    if not value > 0:
        raise ValueError(f"must be > 0, got {value}")
    return value


def unit_fraction(raw: str) -> float:
    """A share of something: more than 0, at most 1."""
    value = finite_float(raw)
    if not 0 < value <= 1:
        raise ValueError(f"must be > 0 and <= 1, got {value}")
    return value


def non_negative_float(raw: str) -> float:
    value = finite_float(raw)
    if not value >= 0:
        raise ValueError(f"must be >= 0, got {value}")
    return value


def key_digest(key: str) -> str:
    """What the service keeps of an API key: its SHA-256, hex. The key itself is not stored."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def key_digests(raw: str) -> tuple[str, ...]:
    """Parse API_KEYS (comma-separated) into digests; the keys are not kept or echoed."""
    keys = [key.strip() for key in raw.split(",") if key.strip()]
    if any(len(key) < 16 for key in keys):
        raise ValueError("every key must be at least 16 characters")
    return tuple(key_digest(key) for key in keys)


def rate_limits(raw: str) -> tuple[str, ...]:
    """Parse limits in the usual notation (`60/minute`, several separated by `;`), checking each
    with the `limits` library that enforces them."""
    items = tuple(item.strip() for item in raw.split(";") if item.strip())
    for item in items:
        try:
            parse_many(item)
        except ValueError:
            raise ValueError(f"{item!r} is not a rate limit like 60/minute or 1000/day") from None
    return items


def storage_uri(raw: str) -> str:
    scheme = raw.partition("://")[0]
    if scheme not in {"memory", "redis", "rediss", "redis+unix"}:
        raise ValueError("expected memory:// or redis://host:port[/db]")
    return raw


def redis_url(raw: str) -> str:
    if raw and raw.partition("://")[0] not in {"redis", "rediss", "unix"}:
        raise ValueError("expected redis://host:port[/db] (or rediss://, unix://), or empty")
    return raw


def fail_mode(raw: str) -> str:
    if raw not in {"open", "closed"}:
        raise ValueError("expected open or closed")
    return raw
