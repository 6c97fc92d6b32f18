"""Signing job callbacks, and checking a signature as a receiver does (pure).

Two headers sign a callback's body with HMAC-SHA256 under JOBS_WEBHOOK_SECRET:
- `X-Signature-Timestamp`: the epoch second the attempt was signed;
- `X-Signature`: `sha256=<hex>` of the HMAC over `<timestamp>.` followed by the exact body bytes.
A receiver recomputes it over the bytes it got (before parsing them), compares in constant time,
and refuses a timestamp far from its clock (`TOLERANCE_S`), so a captured callback cannot be
replayed later: `verify` does all three.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Signature"
TIMESTAMP_HEADER = "X-Signature-Timestamp"
# How far a receiver should let a callback's timestamp be from its own clock, in seconds.
TOLERANCE_S = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """`sha256=<hex>`: HMAC-SHA256 under `secret` of `<timestamp>.` and the body's bytes."""
    signed = str(timestamp).encode("ascii") + b"." + body
    return "sha256=" + hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def signed_headers(secret: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The two signature headers of a callback sent at `timestamp` (epoch seconds)."""
    return {
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, body),
    }


def verify(
    secret: str,
    body: bytes,
    timestamp: str,
    given: str,
    *,
    now: float,
    tolerance_s: float = TOLERANCE_S,
) -> bool:
    """Whether a received callback is genuine and fresh: the signature `given` matches the
    body and `timestamp` (as the headers carried them), and the timestamp is within
    `tolerance_s` of `now`. What a receiver runs; the tests run it too."""
    if not (timestamp.isascii() and timestamp.isdigit()) or not given.isascii():
        return False  # a forged header (e.g. "²", non-ASCII) is refused, never raised on
    if abs(now - int(timestamp)) > tolerance_s:
        return False
    return hmac.compare_digest(signature(secret, int(timestamp), body), given)
