"""Where background jobs and their items live: the contract every job store keeps.

A job is one operation (`summarize`, `translate`, `article`) with its options, run over a list of
items the client named. The store owns all state that must survive a process: the job, which
items wait, which are leased to a worker and until when, and each item's outcome. Workers in any
process (any replica, with a shared store) claim items, run them through the operations, and
write each outcome once. Two stores keep this contract: SQLite (one file, the default: nothing to
run) and Redis (`JOBS_STORE=redis://...`, for several replicas).

What a caller can rely on, whichever the store:
- `create` is atomic: the job and all its items exist, or nothing does. Items that arrive with an
  `error` (a bad line in an upload) are written as failed outcomes at once. Given a `job_id`
  (`idempotent_id`: a client's Idempotency-Key), a job of that id that exists already is
  returned as it is and nothing is created, so a retried submission makes one job.
- `claim` hands out items nobody holds: waiting ones, then ones whose lease expired (their worker
  died); never an item of a cancelled job or one whose outcome is written. The first claim of a
  job makes it `running` and sets `started_at`. Every worker claims with the same lease
  (JOBS_LEASE_S): a store may time a lease's expiry by the claimer's `lease_s` (Redis's
  XAUTOCLAIM takes over entries idle longer than the minimum the claimer gives).
- `finish` writes an item's outcome once: a second outcome for the same item id (a re-run after
  a lease expired) is dropped and `finish` returns False. When every item has an outcome the job
  is `done` (or `failed` when every item failed) and `finished_at` is set.
- `results` pages through outcomes in the order they were written, from an opaque cursor, so a
  reader can follow a running job without seeing a line twice.
- Every method raises `StoreUnavailable` when the store cannot be reached; nothing is half-done.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

QUEUED = "queued"
RUNNING = "running"
DONE = "done"
FAILED = "failed"
CANCELLED = "cancelled"
STATUSES = (QUEUED, RUNNING, DONE, FAILED, CANCELLED)
FINISHED = frozenset({DONE, FAILED, CANCELLED})


def idempotent_id(owner: str | None, key: str) -> str:
    """The job id a client's Idempotency-Key names: the same for the same owner and key, apart
    for another owner (so one key's job is never another's)."""
    return hashlib.sha256(f"{owner or ''}\0{key}".encode()).hexdigest()[:32]


class StoreUnavailable(Exception):
    """The job store cannot be reached (Redis down, the SQLite file unwritable)."""


class TooManyJobs(Exception):
    """The owner already has `max_in_flight` jobs queued or running."""


@dataclass(frozen=True, kw_only=True)
class JobSpec:
    """What to run: the operation's name, its options as JSON-ready values, whose job it is (the
    API key's identity when keys are on, else None) and where to report its end."""

    task: str
    options: Mapping[str, Any] = field(default_factory=dict)
    owner: str | None = None
    callback_url: str | None = None


@dataclass(frozen=True)
class ItemError:
    """A per-item failure, as the API shows it: `{"code", "message"}`."""

    code: str
    message: str


@dataclass(frozen=True)
class Item:
    """One unit of a job: the client's id and its text, or the error its upload line had."""

    id: str
    text: str | None = None
    error: ItemError | None = None


@dataclass(frozen=True, kw_only=True)
class Job:
    """A job as the store last saw it; `done` and `failed` count written outcomes."""

    id: str
    spec: JobSpec
    status: str
    total: int
    done: int
    failed: int
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None


@dataclass(frozen=True, kw_only=True)
class Claim:
    """An item leased to one worker until `lease_until` (epoch seconds). `token` is the store's
    own handle on the lease (a row's lease id, a Redis stream entry id): pass the claim back
    whole to `finish` or `release`."""

    job_id: str
    item_id: str
    text: str
    spec: JobSpec
    token: str
    lease_until: float


@dataclass(frozen=True)
class Outcome:
    """What an item ended with: a result (the operation's JSON answer for it) or an error."""

    item_id: str
    result: Any = None
    error: ItemError | None = None


@dataclass(frozen=True)
class ResultPage:
    """Outcomes written after the cursor asked for, and the cursor to ask from next time."""

    outcomes: list[Outcome]
    cursor: str


class JobStore(Protocol):
    def create(
        self,
        spec: JobSpec,
        items: Sequence[Item],
        *,
        max_in_flight: int | None = None,
        job_id: str | None = None,
    ) -> Job:
        """Store a new job with its items (ids unique: the caller checked); TooManyJobs when
        `spec.owner` already has `max_in_flight` unfinished jobs. With `job_id`, the job of
        that id when it exists already (nothing created, no TooManyJobs)."""
        ...

    def get(self, job_id: str) -> Job | None:
        """The job, or None when there is none (never was, or purged)."""
        ...

    def claim(self, worker: str, limit: int, lease_s: float) -> list[Claim]:
        """Up to `limit` items for `worker`, leased for `lease_s` seconds, oldest job first."""
        ...

    def finish(self, claim: Claim, outcome: Outcome) -> bool:
        """Write the claimed item's outcome; False when one was written already."""
        ...

    def release(self, claims: Sequence[Claim]) -> None:
        """Hand claims back unfinished (a worker stopping): others may claim them at once."""
        ...

    def cancel(self, job_id: str) -> Job | None:
        """Mark the job cancelled (unless finished): items not yet claimed are never run;
        claimed ones may still finish and are written. The job after it, or None."""
        ...

    def results(self, job_id: str, cursor: str = "", limit: int = 1000) -> ResultPage:
        """Outcomes written after `cursor` ("" for the first), in writing order."""
        ...

    def purge(self, finished_before: float) -> int:
        """Delete jobs (with items and outcomes) finished before that epoch time; how many."""
        ...

    def close(self) -> None: ...
