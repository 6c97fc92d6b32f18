"""Access control: API keys and rate limits, checked before any view runs.

Both are off by default, so a laptop user needs neither. With keys on, every route needs a key
unless its view is marked `open_to_all` or its blueprint `open_blueprint`: the probes,
`/metrics`, the documentation, the page and the languages served (`/v1/languages`,
LibreTranslate's `GET /languages`, which clients read before they have a key). A new route is
guarded unless it says otherwise. A key is accepted as `Authorization: Bearer <key>`,
`X-API-Key: <key>` or the `api_key` query parameter, and in a surface's own form where it
registers a reader (`read_keys_with`: LibreTranslate's `api_key` in a form or JSON body,
DeepL's `Authorization: DeepL-Auth-Key` header and `auth_key` field, Google's `key` parameter).
Only SHA-256 digests of the keys are held, every known digest is compared in constant time, and
no key is ever logged: logs and metrics name the key's name.

Rate limits use `limits`, the library flask-limiter is built on, directly: one before-request
hook holds a per-key limit, a cost in characters and the choice of failing open or closed, which
flask-limiter spreads over decorators and options. Counts live in memory (per process) or in
Redis (one limit across every replica). A limited response carries `RateLimit-Limit`,
`RateLimit-Remaining` and `RateLimit-Reset` (seconds) for its tightest request limit; a refusal is
429 with `Retry-After`.
"""

from __future__ import annotations

import functools
import hmac
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from flask import Blueprint, Flask, Response, current_app, g, request
from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import SlidingWindowCounterRateLimiter
from werkzeug.middleware.proxy_fix import ProxyFix

from service.core.config import Settings
from service.core.errors import (
    ConfigError,
    LimiterUnavailable,
    QuotaExceeded,
    RateLimited,
    Unauthorized,
)
from service.core.metrics import Metrics
from service.core.setting_values import key_digest, rate_limits

log = logging.getLogger(__name__)

# Marks a view, or a whole blueprint, that stays open when keys are on.
_OPEN = "open_to_all"
# Per blueprint name, how its surface carries a key besides the headers (LibreTranslate's
# `api_key` parameter).
_KEY_READERS: dict[str, Callable[[], str | None]] = {}
REALM = 'Bearer realm="newsroom-nlp"'
# A Redis that does not answer must not hold requests for long.
_STORE_TIMEOUT_S = 1


@dataclass(frozen=True)
class ApiKey:
    """A known key: its name (for logs and metrics), digest, and own limits (empty: the default)."""

    name: str
    digest: str
    limits: tuple[str, ...] = ()


class KeyRing:
    """The configured keys. `find` compares a presented key with every digest in constant time."""

    def __init__(self, keys: list[ApiKey]) -> None:
        names = [key.name for key in keys]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ConfigError(f"API key names must be unique: {', '.join(duplicates)}")
        self._keys = keys

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyRing:
        keys = [ApiKey(f"key-{n}", digest) for n, digest in enumerate(settings.api_keys, 1)]
        if settings.api_keys_file:
            keys += read_keys_file(Path(settings.api_keys_file))
        return cls(keys)

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def find(self, presented: str) -> ApiKey | None:
        digest = key_digest(presented)
        found = None
        for key in self._keys:  # no early exit: the time does not tell which key matched
            if hmac.compare_digest(key.digest, digest):
                found = key
        return found


def read_keys_file(path: Path) -> list[ApiKey]:
    """Keys from API_KEYS_FILE: `key [name [limit]]` per line, `#` comments. Errors name the line,
    never the key."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"API_KEYS_FILE {str(path)!r}: {exc.strerror}") from None
    keys = []
    for number, line in enumerate(lines, 1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        if len(fields) > 3 or len(fields[0]) < 16:
            raise ConfigError(
                f"API_KEYS_FILE line {number}: expected `key [name [limit]]` with a key of "
                "16+ characters"
            )
        name = fields[1] if len(fields) > 1 else f"file-{number}"
        try:
            own = rate_limits(fields[2]) if len(fields) > 2 else ()
        except ValueError as exc:
            raise ConfigError(f"API_KEYS_FILE line {number}: {exc}") from None
        keys.append(ApiKey(name, key_digest(fields[0]), own))
    return keys


class RateLimits:
    """The request and character limits, counted per identity in the configured store."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self._requests = _items(settings.rate_limit)
        self._characters = _items(settings.rate_limit_chars)
        self._fail_open = settings.rate_limit_fail == "open"
        self._metrics = metrics
        self._limiter = SlidingWindowCounterRateLimiter(
            storage_from_string(
                settings.rate_limit_storage,
                **_store_options(settings.rate_limit_storage),
            )
        )

    @property
    def counts_characters(self) -> bool:
        return bool(self._characters)

    def enabled_for(self, key: ApiKey | None) -> bool:
        return bool(self._requests or self._characters or (key and key.limits))

    def check(self, identity: str, key: ApiKey | None, characters: int) -> dict[str, str]:
        """Count one request of `characters` for `identity`. Returns the RateLimit-* headers;
        raises RateLimited when a limit is spent, LimiterUnavailable when the store is down
        and limits fail closed."""
        requests = _items(key.limits) if key and key.limits else self._requests
        label = key.name if key else "-"
        checks = [(item, "requests", 1) for item in requests]
        checks += [(item, "characters", characters) for item in self._characters if characters]
        try:
            for item, kind, cost in checks:
                if not self._limiter.hit(item, kind, identity, cost=cost):
                    self._metrics.rate_limited.labels(label, kind).inc()
                    retry = self._seconds_to_reset(item, kind, identity)
                    spent = QuotaExceeded if kind == "characters" else RateLimited
                    raise spent(
                        f"rate limit of {item.amount} {kind} per {_period(item)} reached; "
                        f"retry in {retry} s",
                        headers={"Retry-After": str(retry)} | self._headers(requests, identity),
                    )
            return self._headers(requests, identity)
        except (RateLimited, LimiterUnavailable):
            raise
        except Exception as exc:  # the store: redis' ConnectionError, TimeoutError, ...
            if self._fail_open:
                log.warning("rate-limit store unreachable, serving without limits: %r", exc)
                return {}
            log.error("rate-limit store unreachable, refusing (RATE_LIMIT_FAIL=closed): %r", exc)
            raise LimiterUnavailable(
                "the rate-limit store is unreachable; try again shortly"
            ) from None

    def charge(self, identity: str, characters: int) -> None:
        """Count `characters` more against RATE_LIMIT_CHARS for `identity` (a fetched page);
        raises RateLimited when that spends the limit."""
        for item in self._characters:
            try:
                spent = characters and not self._limiter.hit(
                    item, "characters", identity, cost=characters
                )
            except Exception as exc:  # the store, as in `check`
                if self._fail_open:
                    log.warning("rate-limit store unreachable, page not counted: %r", exc)
                    return
                raise LimiterUnavailable("the rate-limit store is unreachable") from None
            if spent:
                self._metrics.rate_limited.labels("-", "characters").inc()
                retry = self._seconds_to_reset(item, "characters", identity)
                raise RateLimited(
                    f"rate limit of {item.amount} characters per {_period(item)} reached by the "
                    f"fetched page; retry in {retry} s",
                    headers={"Retry-After": str(retry)},
                )

    def characters_used(self, identity: str) -> tuple[int, int] | None:
        """Characters counted for `identity` and the limit, in the character limit closest to
        being spent; None without a character limit (or with its store down)."""
        try:
            stats = [
                (self._limiter.get_window_stats(item, "characters", identity), item)
                for item in self._characters
            ]
        except Exception:  # the store: answered as no limit known, as when failing open
            return None
        if not stats:
            return None
        window, item = min(stats, key=lambda pair: pair[0].remaining)
        return item.amount - max(0, window.remaining), item.amount

    def _seconds_to_reset(self, item: RateLimitItem, kind: str, identity: str) -> int:
        reset = self._limiter.get_window_stats(item, kind, identity).reset_time
        return max(1, math.ceil(reset - time.time()))

    def _headers(self, requests: list[RateLimitItem], identity: str) -> dict[str, str]:
        if not requests:
            return {}
        stats = [(self._limiter.get_window_stats(i, "requests", identity), i) for i in requests]
        window, item = min(stats, key=lambda pair: pair[0].remaining)
        return {
            "RateLimit-Limit": str(item.amount),
            "RateLimit-Remaining": str(max(0, window.remaining)),
            "RateLimit-Reset": str(max(0, math.ceil(window.reset_time - time.time()))),
        }


def _items(limits: tuple[str, ...]) -> list[RateLimitItem]:
    return [item for text in limits for item in parse_many(text)]


def _period(item: RateLimitItem) -> str:
    unit = item.GRANULARITY.name
    return unit if item.multiples == 1 else f"{item.multiples} {unit}s"


def _store_options(uri: str) -> dict[str, float]:
    if uri.startswith("memory://"):
        return {}
    return {"socket_connect_timeout": _STORE_TIMEOUT_S, "socket_timeout": _STORE_TIMEOUT_S}


def install(app: Flask, settings: Settings, metrics: Metrics) -> None:
    """Check keys and limits before every guarded view; add the RateLimit-* headers after."""
    keys = KeyRing.from_settings(settings)
    limits = RateLimits(settings, metrics)
    app.extensions["rate_limits"] = limits
    if settings.trusted_proxies:
        # The address the last N proxies saw; anything further left a client could forge.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies)  # type: ignore[method-assign]

    @app.before_request
    def check_access() -> None:
        if not _guarded():
            return
        key = None
        if keys.enabled:
            presented = _presented_key()
            key = keys.find(presented) if presented else None
            if key is None:
                challenge = REALM + (', error="invalid_token"' if presented else "")
                raise Unauthorized(
                    "an API key is required: send `Authorization: Bearer <key>`, "
                    "`X-API-Key: <key>` or `api_key`"
                    if not presented
                    else "the API key is not valid",
                    headers={"WWW-Authenticate": challenge},
                )
            g.key_name = key.name
            metrics.key_requests.labels(key.name).inc()
        identity = f"key:{key.name}" if key else f"addr:{request.remote_addr}"
        g.rate_identity = identity
        if limits.enabled_for(key):
            characters = _body_characters() if limits.counts_characters else 0
            g.rate_headers = limits.check(identity, key, characters)
            if limits.counts_characters:
                # What the operation reads besides the body (a fetched page) costs the same.
                g.charge_characters = functools.partial(limits.charge, identity)

    @app.after_request
    def rate_headers(response: Response) -> Response:
        for name, value in g.get("rate_headers", {}).items():
            response.headers.setdefault(name, value)
        return response


V = TypeVar("V", bound=Callable[..., Any])


def open_to_all(view: V) -> V:
    """Keep `view` open when keys are on: what clients read before they have a key."""
    setattr(view, _OPEN, True)
    return view


def open_blueprint(bp: Blueprint) -> Blueprint:
    """Keep every view of `bp` open when keys are on (probes, documentation, the page)."""
    setattr(bp, _OPEN, True)
    return bp


def read_keys_with(bp: Blueprint, reader: Callable[[], str | None]) -> None:
    """Let `bp`'s surface carry a key its own way too; `reader` returns it, or None."""
    _KEY_READERS[bp.name] = reader


def characters_used() -> tuple[int, int] | None:
    """This request's caller's characters counted and the limit (see RateLimits)."""
    limits: RateLimits = current_app.extensions["rate_limits"]
    return limits.characters_used(g.get("rate_identity") or f"addr:{request.remote_addr}")


def _guarded() -> bool:
    if request.method == "OPTIONS" or request.url_rule is None or request.endpoint is None:
        return False  # CORS preflight; 404 and 405 answer for themselves
    view = current_app.view_functions[request.endpoint]
    blueprint = current_app.blueprints.get(request.blueprint or "")
    return not (getattr(view, _OPEN, False) or getattr(blueprint, _OPEN, False))


def _presented_key() -> str | None:
    auth = request.headers.get("Authorization", "")
    if auth[:7].lower() == "bearer " and auth[7:].strip():
        return auth[7:].strip()
    for value in (request.headers.get("X-API-Key"), request.args.get("api_key")):
        if value and value.strip():
            return value.strip()
    reader = _KEY_READERS.get(request.blueprint or "")
    return reader() if reader else None


def _body_characters() -> int:
    """What a request costs against RATE_LIMIT_CHARS: the characters of its body as sent."""
    return len(request.get_data(cache=True).decode("utf-8", "replace"))
