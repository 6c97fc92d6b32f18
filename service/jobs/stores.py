"""Which job store a `JOBS_STORE` value names: a small registry by URL scheme.

`sqlite:///abs/path.db`, `sqlite://rel/path.db` or a plain path open the SQLite store; another
store registers its scheme in `OPENERS` (one line), so nothing else chooses between stores.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from service.jobs.redis_store import RedisJobStore
from service.jobs.sqlite_store import SqliteJobStore
from service.jobs.store import JobStore


def _open_sqlite(url: str) -> JobStore:
    path = url.removeprefix("sqlite://") if url.startswith("sqlite://") else url
    if not path:
        raise ValueError(f"JOBS_STORE {url!r} names no file")
    return SqliteJobStore(path)


OPENERS: dict[str, Callable[[str], JobStore]] = {
    "sqlite": _open_sqlite,
    "redis": RedisJobStore.from_url,
    "rediss": RedisJobStore.from_url,
}


def open_store(url_or_path: str) -> JobStore:
    """The store `url_or_path` names; ValueError for a scheme no store registered."""
    scheme = urlsplit(url_or_path).scheme if "://" in url_or_path else "sqlite"
    opener = OPENERS.get(scheme)
    if opener is None:
        known = ", ".join(f"{name}://" for name in sorted(OPENERS))
        raise ValueError(f"JOBS_STORE {url_or_path!r}: unknown scheme (known: {known})")
    return opener(url_or_path)
