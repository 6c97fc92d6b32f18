"""The job store on Redis (`JOBS_STORE=redis://host:port[/db]`): what several replicas share, so
any replica works on any job and a job outlives the replica that took it.

Redis's own queue machinery, not a hand-made one: every item is an entry of one stream (all jobs,
oldest first) read through one consumer group. XREADGROUP hands an entry to one consumer and
keeps it in the group's pending list until XACK; an entry whose consumer died stays pending, and
XAUTOCLAIM with `min-idle-time` = the lease hands it to another once the lease is over. A lease is
the entry's idle time in the pending list, kept by Redis (and by its AOF across a restart).
Everything that must not be half-done is one Lua script, which Redis runs atomically: creating a
job with its items (and the owner's in-flight count), writing an outcome (the item's "written"
mark, the results entry, the counts, the status, the ack), cancelling (the status and deleting
the job's waiting entries), and the first claim's `running`. Outcomes go to a stream per job, so
the results cursor is a stream id and paging is XRANGE after it. Finished jobs sit in a sorted
set by finish time, which purge reads.

Timestamps (created, started, finished, `lease_until`) come from this host's clock; lease expiry
is measured by Redis's. Every connection or timeout error, and Redis refusing writes (loading,
out of memory, a read-only replica), becomes `StoreUnavailable`; redis-py does not retry.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from service.jobs.redis_layout import (
    DEFAULT_PREFIX,
    Keys,
    check_cursor,
    outcome_fields,
    pairs,
    read_job,
    read_outcome,
    read_spec,
    read_token,
    spec_field,
    token,
)
from service.jobs.store import (
    Claim,
    Item,
    Job,
    JobSpec,
    Outcome,
    ResultPage,
    StoreUnavailable,
    TooManyJobs,
)

GROUP = "workers"
# A released entry is marked idle this long, so the next claim's XAUTOCLAIM takes it at once.
_RELEASED_IDLE_MS = 365 * 24 * 3600 * 1000
# How often one claim reads again after entries it had to skip (jobs cancelled or purged).
_CLAIM_ROUNDS = 8
_PURGE_BATCH = 500
# Redis out of reach, or refusing commands for a while (not a bug of ours): loading its data,
# out of memory, a read-only replica, a cluster down, failing to save, running a long script.
_UNAVAILABLE = (
    redis.ConnectionError,
    redis.TimeoutError,
    redis.exceptions.ReadOnlyError,
    redis.exceptions.OutOfMemoryError,
    redis.exceptions.ClusterDownError,
    redis.exceptions.TryAgainError,
)
_UNAVAILABLE_REPLIES = ("MISCONF ", "BUSY ", "NOREPLICAS ")

# KEYS: job, active, queue, written, results, finished, entries.
# ARGV: job id, spec, now, max in flight ("" for none), total, n to run, then (item id, text)
# per item to run, then (item id, code, message) per item that arrived with an error.
_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {'job', redis.call('HGETALL', KEYS[1])}
end
local most = tonumber(ARGV[4])
if most then
  local running = redis.call('SCARD', KEYS[2])
  if running >= most then return {'too_many', running} end
end
local total, to_run = tonumber(ARGV[5]), tonumber(ARGV[6])
redis.call('HSET', KEYS[1], 'spec', ARGV[2], 'status', 'queued', 'total', total,
  'done', 0, 'failed', total - to_run, 'created_at', ARGV[3])
local at = 7
for _ = 1, to_run do
  local id = redis.call('XADD', KEYS[3], '*', 'job', ARGV[1], 'item', ARGV[at],
    'text', ARGV[at + 1])
  redis.call('RPUSH', KEYS[7], id)
  at = at + 2
end
while at <= #ARGV do
  redis.call('SADD', KEYS[4], ARGV[at])
  redis.call('XADD', KEYS[5], '*', 'item', ARGV[at], 'code', ARGV[at + 1],
    'message', ARGV[at + 2])
  at = at + 3
end
if to_run == 0 then
  local status = 'done'
  if total > 0 then status = 'failed' end
  redis.call('HSET', KEYS[1], 'status', status, 'finished_at', ARGV[3])
  redis.call('ZADD', KEYS[6], ARGV[3], ARGV[1])
else
  redis.call('SADD', KEYS[2], ARGV[1])
end
return {'job', redis.call('HGETALL', KEYS[1])}
"""

# KEYS: queue, then the job's hash and written set per job (2j, 2j + 1).
# ARGV: group, now, then (entry id, job index j, item id) per entry read.
# Replies the job's spec per entry to run, "" per entry skipped (acked and deleted).
_TAKE = """
local specs = {}
for at = 3, #ARGV, 3 do
  local j = tonumber(ARGV[at + 1])
  local job, written = KEYS[2 * j], KEYS[2 * j + 1]
  local status = redis.call('HGET', job, 'status')
  if (status == 'queued' or status == 'running')
      and redis.call('SISMEMBER', written, ARGV[at + 2]) == 0 then
    if status == 'queued' then
      redis.call('HSET', job, 'status', 'running', 'started_at', ARGV[2])
    end
    specs[#specs + 1] = redis.call('HGET', job, 'spec')
  else
    redis.call('XACK', KEYS[1], ARGV[1], ARGV[at])
    redis.call('XDEL', KEYS[1], ARGV[at])
    specs[#specs + 1] = ''
  end
end
return specs
"""

# KEYS: job, written, results, queue, finished, active, entries.
# ARGV: group, entry id, job id, item id, now, count ('done' or 'failed'), outcome fields...
_FINISH = """
redis.call('XACK', KEYS[4], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[4], ARGV[2])
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('SADD', KEYS[2], ARGV[4]) == 0 then return 0 end
redis.call('XADD', KEYS[3], '*', 'item', ARGV[4], unpack(ARGV, 7))
redis.call('HINCRBY', KEYS[1], ARGV[6], 1)
local f = redis.call('HMGET', KEYS[1], 'status', 'total', 'done', 'failed')
local total, done, failed = tonumber(f[2]), tonumber(f[3]), tonumber(f[4])
if done + failed >= total and (f[1] == 'queued' or f[1] == 'running') then
  local status = 'done'
  if failed == total then status = 'failed' end
  redis.call('HSET', KEYS[1], 'status', status, 'finished_at', ARGV[5])
  redis.call('ZADD', KEYS[5], ARGV[5], ARGV[3])
  redis.call('SREM', KEYS[6], ARGV[3])
  redis.call('DEL', KEYS[7])
end
return 1
"""

# KEYS: queue. ARGV: group, idle ms, then (entry id, worker) per claim. Only the consumer that
# still holds an entry hands it back: a lease another worker took over stays with it.
_RELEASE = """
for at = 3, #ARGV, 2 do
  local held = redis.pcall('XPENDING', KEYS[1], ARGV[1], ARGV[at], ARGV[at], 1, ARGV[at + 1])
  if type(held) == 'table' and held.err == nil and #held > 0 then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[at + 1], 0, ARGV[at], 'IDLE', ARGV[2], 'JUSTID')
  end
end
return 0
"""

# KEYS: job, active, finished, entries, queue. ARGV: job id, now.
_CANCEL = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {} end
if status == 'queued' or status == 'running' then
  redis.call('HSET', KEYS[1], 'status', 'cancelled', 'finished_at', ARGV[2])
  redis.call('SREM', KEYS[2], ARGV[1])
  redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
  local ids = redis.call('LRANGE', KEYS[4], 0, -1)
  for n = 1, #ids, 1000 do
    redis.call('XDEL', KEYS[5], unpack(ids, n, math.min(n + 999, #ids)))
  end
  redis.call('DEL', KEYS[4])
end
return redis.call('HGETALL', KEYS[1])
"""


class RedisJobStore:
    """`JobStore` on one Redis (see the module docstring for the design).

    `client` is a redis-py client without `decode_responses` (the store decodes); build it
    with `from_url` for short timeouts and no retries. `prefix` starts every key, so stores
    with different prefixes share a Redis without seeing each other's jobs.
    """

    def __init__(self, client: redis.Redis, *, prefix: str = DEFAULT_PREFIX) -> None:
        self._client = client
        self.keys = Keys(prefix)
        self._create = client.register_script(_CREATE)
        self._take = client.register_script(_TAKE)
        self._finish = client.register_script(_FINISH)
        self._release = client.register_script(_RELEASE)
        self._cancel = client.register_script(_CANCEL)
        self._group_ready = False

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        timeout_s: float = 2.0,
    ) -> RedisJobStore:
        """A store on the Redis at `url`. Each call waits at most `timeout_s` (the URL's
        `?socket_timeout=` and `?socket_connect_timeout=` win); nothing is retried here, the
        caller retries on `StoreUnavailable`. Connects lazily: Redis may be down at start."""
        client = redis.Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=0,
        )
        return cls(client, prefix=prefix)

    # -- the contract --------------------------------------------------------------------------

    def create(
        self,
        spec: JobSpec,
        items: Sequence[Item],
        *,
        max_in_flight: int | None = None,
        job_id: str | None = None,
    ) -> Job:
        # The script returns the job as it is when its hash exists (a replayed job_id).
        job_id = job_id or uuid.uuid4().hex
        k = self.keys
        to_run = [item for item in items if item.error is None]
        args: list[Any] = [job_id, spec_field(spec), repr(time.time())]
        args += ["" if max_in_flight is None else max_in_flight, len(items), len(to_run)]
        for item in to_run:
            args += [item.id, item.text or ""]
        for item in items:
            if item.error is not None:
                args += [item.id, item.error.code, item.error.message]
        keys = [k.job(job_id), k.active(spec.owner), k.queue, k.written(job_id)]
        keys += [k.results(job_id), k.finished, k.entries(job_id)]
        with _reachable():
            tag, value = self._create(keys=keys, args=args)
        if _text(tag) == "too_many":
            raise TooManyJobs(f"{value} jobs already queued or running")
        return _job(job_id, value)

    def get(self, job_id: str) -> Job | None:
        with _reachable():
            fields = self._client.hgetall(self.keys.job(job_id))
        return read_job(job_id, {_text(n): _text(v) for n, v in fields.items()})

    def claim(self, worker: str, limit: int, lease_s: float) -> list[Claim]:
        if limit <= 0:
            return []
        lease_until = time.time() + lease_s
        with _reachable():
            try:
                return self._claim(worker, limit, lease_s, lease_until)
            except redis.ResponseError as exc:
                if not str(exc).startswith("NOGROUP"):
                    raise
                self._group_ready = False  # Redis lost the group (flushed): make it again
                return self._claim(worker, limit, lease_s, lease_until)

    def finish(self, claim: Claim, outcome: Outcome) -> bool:
        entry_id, _ = read_token(claim.token)
        k, job_id = self.keys, claim.job_id
        keys = [k.job(job_id), k.written(job_id), k.results(job_id), k.queue, k.finished]
        keys += [k.active(claim.spec.owner), k.entries(job_id)]
        count = "failed" if outcome.error is not None else "done"
        args = [GROUP, entry_id, job_id, claim.item_id, repr(time.time()), count]
        with _reachable():
            written = self._finish(keys=keys, args=args + outcome_fields(outcome))
        return bool(written)

    def release(self, claims: Sequence[Claim]) -> None:
        if not claims:
            return
        args: list[Any] = [GROUP, _RELEASED_IDLE_MS]
        for claim in claims:
            args += read_token(claim.token)
        with _reachable():
            self._release(keys=[self.keys.queue], args=args)

    def cancel(self, job_id: str) -> Job | None:
        k = self.keys
        with _reachable():
            spec = self._client.hget(k.job(job_id), "spec")
            if spec is None:
                return None
            owner = read_spec(_text(spec)).owner
            keys = [k.job(job_id), k.active(owner), k.finished, k.entries(job_id), k.queue]
            fields = self._cancel(keys=keys, args=[job_id, repr(time.time())])
        return _job(job_id, fields) if fields else None

    def results(self, job_id: str, cursor: str = "", limit: int = 1000) -> ResultPage:
        after = check_cursor(cursor)
        if limit <= 0:
            return ResultPage([], cursor)
        with _reachable():
            entries = self._client.xrange(
                self.keys.results(job_id), min=f"({after}" if after else "-", count=limit
            )
        outcomes = [read_outcome(_fields(fields)) for _, fields in entries]
        return ResultPage(outcomes, _text(entries[-1][0]) if entries else cursor)

    def purge(self, finished_before: float) -> int:
        k, purged = self.keys, 0
        with _reachable():
            while True:
                ids = self._client.zrangebyscore(
                    k.finished, "-inf", f"({finished_before!r}", start=0, num=_PURGE_BATCH
                )
                if not ids:
                    break
                pipe = self._client.pipeline(transaction=True)
                for job_id in map(_text, ids):
                    pipe.zrem(k.finished, job_id)
                    pipe.delete(k.job(job_id), k.written(job_id), k.results(job_id))
                    pipe.delete(k.entries(job_id))
                purged += sum(pipe.execute()[0::3])
            self._forget_consumers(idle_ms=max(0.0, time.time() - finished_before) * 1000)
        return purged

    def close(self) -> None:
        self._client.close()

    # -- claiming ------------------------------------------------------------------------------

    def _claim(self, worker: str, limit: int, lease_s: float, lease_until: float) -> list[Claim]:
        self._ensure_group()
        claims: list[Claim] = []
        for _ in range(_CLAIM_ROUNDS):
            need = limit - len(claims)
            entries = self._stale(worker, need, min_idle_ms=max(0, int(lease_s * 1000)))
            if len(entries) < need:
                entries += self._new(worker, need - len(entries))
            if not entries:
                break
            taken = self._take_entries(worker, entries, lease_until)
            claims += taken
            if len(taken) == len(entries):
                break  # all it asked for, or all there was: no need to read again
        return claims

    def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            self._client.xgroup_create(self.keys.queue, GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if not str(exc).startswith("BUSYGROUP"):
                raise
        self._group_ready = True

    def _stale(self, worker: str, need: int, *, min_idle_ms: int) -> list[tuple[str, dict]]:
        """Entries whose consumer has held them past the lease (or handed them back), taken
        over with XAUTOCLAIM, oldest first."""
        taken: list[tuple[str, dict]] = []
        start = "0-0"
        while len(taken) < need:
            reply = self._client.xautoclaim(
                self.keys.queue, GROUP, worker, min_idle_ms, start, count=need - len(taken)
            )
            start = _text(reply[0])
            taken += [(_text(i), _fields(f)) for i, f in reply[1] if f]
            if start == "0-0":
                break
        return taken

    def _new(self, worker: str, need: int) -> list[tuple[str, dict]]:
        reply = self._client.xreadgroup(GROUP, worker, {self.keys.queue: ">"}, count=need)
        return [(_text(i), _fields(f)) for _, entries in reply or [] for i, f in entries if f]

    def _take_entries(
        self, worker: str, entries: list[tuple[str, dict]], lease_until: float
    ) -> list[Claim]:
        """Claims for the entries whose job still runs; the others are acked and deleted."""
        jobs: dict[str, int] = {}
        keys = [self.keys.queue]
        args: list[Any] = [GROUP, repr(time.time())]
        for entry_id, fields in entries:
            job_id = fields["job"]
            if job_id not in jobs:
                jobs[job_id] = len(jobs) + 1
                keys += [self.keys.job(job_id), self.keys.written(job_id)]
            args += [entry_id, jobs[job_id], fields["item"]]
        specs = self._take(keys=keys, args=args)
        claims: list[Claim] = []
        read: dict[str, JobSpec] = {}
        for (entry_id, fields), spec in zip(entries, map(_text, specs), strict=True):
            if not spec:
                continue
            claims.append(
                Claim(
                    job_id=fields["job"],
                    item_id=fields["item"],
                    text=fields["text"],
                    spec=read.setdefault(spec, read_spec(spec)),
                    token=token(entry_id, worker),
                    lease_until=lease_until,
                )
            )
        return claims

    def _forget_consumers(self, *, idle_ms: float) -> None:
        """Consumers (worker names) that hold nothing and were not seen for the retention:
        gone processes, which the group would otherwise list for ever."""
        try:
            consumers = self._client.xinfo_consumers(self.keys.queue, GROUP)
        except redis.ResponseError:
            return  # no queue or group yet
        for consumer in consumers:
            if consumer["pending"] == 0 and consumer["idle"] > idle_ms:
                self._client.xgroup_delconsumer(self.keys.queue, GROUP, consumer["name"])


@contextmanager
def _reachable() -> Iterator[None]:
    """Redis out of reach, or refusing commands for a while, becomes `StoreUnavailable`."""
    try:
        yield
    except redis.RedisError as exc:
        if isinstance(exc, _UNAVAILABLE) or str(exc).startswith(_UNAVAILABLE_REPLIES):
            raise StoreUnavailable(f"job store (Redis): {exc}") from exc
        raise


def _text(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _fields(raw: dict) -> dict[str, str]:
    return {_text(name): _text(value) for name, value in raw.items()}


def _job(job_id: str, flat: list[Any]) -> Job:
    job = read_job(job_id, pairs([_text(v) for v in flat]))
    assert job is not None, "the script read the job it wrote"
    return job
