"""Where the Redis job store keeps things and how its records read: key names, a job's hash
fields, an outcome's stream fields, lease tokens and results cursors. Pure (no Redis here), so
the encoding is tested on its own and the store's module holds only the commands.

Every key starts with the prefix, `{nlp-jobs}` by default: the braces are a Redis hash tag, so
all of a store's keys fall in one slot and its multi-key scripts keep to one shard.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from service.jobs.store import ItemError, Job, JobSpec, Outcome

DEFAULT_PREFIX = "{nlp-jobs}"
_STREAM_ID = re.compile(r"\d+-\d+")
_TOKEN_SEPARATOR = "@"


@dataclass(frozen=True)
class Keys:
    """The store's key names under one prefix."""

    prefix: str = DEFAULT_PREFIX

    @property
    def queue(self) -> str:
        """The stream of items waiting or leased, one entry per item, all jobs in order."""
        return f"{self.prefix}:queue"

    @property
    def finished(self) -> str:
        """Sorted set: finished job ids by their `finished_at` (what purge reads)."""
        return f"{self.prefix}:finished"

    def job(self, job_id: str) -> str:
        """Hash: the job's spec, status, counts and times."""
        return f"{self.prefix}:job:{job_id}"

    def written(self, job_id: str) -> str:
        """Set: ids of the job's items whose outcome is written."""
        return f"{self.prefix}:written:{job_id}"

    def results(self, job_id: str) -> str:
        """Stream: the job's outcomes in writing order; entry ids are the results cursor."""
        return f"{self.prefix}:results:{job_id}"

    def entries(self, job_id: str) -> str:
        """List: the queue entry ids of the job's items (what cancel deletes)."""
        return f"{self.prefix}:entries:{job_id}"

    def active(self, owner: str | None) -> str:
        """Set: the owner's queued or running job ids; jobs without an owner count together."""
        who = "anonymous" if owner is None else f"owner:{owner}"
        return f"{self.prefix}:active:{who}"


def spec_field(spec: JobSpec) -> str:
    """The spec as the one JSON field of the job's hash."""
    return json.dumps(
        {
            "task": spec.task,
            "options": dict(spec.options),
            "owner": spec.owner,
            "callback_url": spec.callback_url,
        }
    )


def read_spec(field: str) -> JobSpec:
    raw = json.loads(field)
    return JobSpec(
        task=raw["task"],
        options=raw["options"],
        owner=raw["owner"],
        callback_url=raw["callback_url"],
    )


def _time(fields: Mapping[str, str], name: str) -> float | None:
    value = fields.get(name)
    return float(value) if value else None


def read_job(job_id: str, fields: Mapping[str, str]) -> Job | None:
    """The job from its hash fields; None for an empty hash (no such job)."""
    if not fields:
        return None
    return Job(
        id=job_id,
        spec=read_spec(fields["spec"]),
        status=fields["status"],
        total=int(fields["total"]),
        done=int(fields["done"]),
        failed=int(fields["failed"]),
        created_at=float(fields["created_at"]),
        started_at=_time(fields, "started_at"),
        finished_at=_time(fields, "finished_at"),
    )


def outcome_fields(outcome: Outcome) -> list[str]:
    """An outcome as a results entry's fields after the item id: `result` (JSON) or the error's
    `code` and `message`. A flat list, as a script takes its arguments."""
    if outcome.error is not None:
        return ["code", outcome.error.code, "message", outcome.error.message]
    return ["result", json.dumps(outcome.result)]


def read_outcome(fields: Mapping[str, str]) -> Outcome:
    if "code" in fields:
        return Outcome(fields["item"], error=ItemError(fields["code"], fields["message"]))
    return Outcome(fields["item"], result=json.loads(fields["result"]))


def check_cursor(cursor: str) -> str:
    """The cursor as a stream id to read after, "" for the start. A cursor this store never
    gave is the caller's mistake (ValueError), not an empty page."""
    if cursor and not _STREAM_ID.fullmatch(cursor):
        raise ValueError(f"not a results cursor: {cursor!r}")
    return cursor


def token(entry_id: str, worker: str) -> str:
    """A claim's token: the queue entry and the consumer that holds it."""
    return f"{entry_id}{_TOKEN_SEPARATOR}{worker}"


def read_token(value: str) -> tuple[str, str]:
    """(entry id, worker) from a claim's token; ValueError for one this store never gave."""
    entry_id, separator, worker = value.partition(_TOKEN_SEPARATOR)
    if not separator or not _STREAM_ID.fullmatch(entry_id):
        raise ValueError(f"not a Redis job store token: {value!r}")
    return entry_id, worker


def pairs(flat: list[Any]) -> dict[str, str]:
    """A Lua script's flat [name, value, ...] reply (HGETALL inside a script) as a dict."""
    return {str(flat[n]): str(flat[n + 1]) for n in range(0, len(flat) - 1, 2)}
