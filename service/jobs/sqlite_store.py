"""The job store in one SQLite file: nothing to run, shared by every process on the host.

Why SQLite's transactions are the queue: a claim is "pick the oldest claimable items and stamp
my lease on them", which must not hand one item to two workers. `BEGIN IMMEDIATE` takes the
file's write lock before reading, so two claims (threads, gunicorn workers, a CLI) run one after
the other, never interleaved; WAL lets readers (status, results) go on while one writes, and the
busy timeout makes a writer wait for the lock instead of failing. Outcomes are rows with a unique
(job, item) key, so a second outcome for an item (a re-run after its lease expired) is dropped by
the database itself, and their autoincrement `seq` is the writing order the results cursor follows:
a row's seq is assigned inside the write lock, so a reader never sees seq 7 before seq 6 exists.

Each thread gets its own connection (sqlite3 connections are not shared across threads); a
process opens the store after fork (the app factory does), never before.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from service.jobs.store import (
    CANCELLED,
    DONE,
    FAILED,
    FINISHED,
    QUEUED,
    RUNNING,
    Claim,
    Item,
    ItemError,
    Job,
    JobSpec,
    Outcome,
    ResultPage,
    StoreUnavailable,
    TooManyJobs,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    task TEXT NOT NULL,
    options TEXT NOT NULL,
    owner TEXT,
    callback_url TEXT,
    status TEXT NOT NULL,
    total INTEGER NOT NULL,
    done INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL
);
CREATE INDEX IF NOT EXISTS jobs_owner ON jobs (owner, status);
CREATE INDEX IF NOT EXISTS jobs_finished ON jobs (finished_at);
CREATE TABLE IF NOT EXISTS items (
    job_seq INTEGER NOT NULL REFERENCES jobs (seq) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    item_id TEXT NOT NULL,
    text TEXT,
    written INTEGER NOT NULL DEFAULT 0,
    lease_token TEXT,
    lease_until REAL,
    PRIMARY KEY (job_seq, position)
);
CREATE INDEX IF NOT EXISTS items_claimable ON items (written, job_seq, position);
CREATE TABLE IF NOT EXISTS outcomes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    job_seq INTEGER NOT NULL REFERENCES jobs (seq) ON DELETE CASCADE,
    item_id TEXT NOT NULL,
    result TEXT,
    error_code TEXT,
    error_message TEXT,
    UNIQUE (job_seq, item_id)
);
"""

_JOB_COLUMNS = (
    "seq, id, task, options, owner, callback_url, status, total, done, failed, "
    "created_at, started_at, finished_at"
)


class SqliteJobStore:
    """`JobStore` on one SQLite file (see the module docstring for why this is safe).

    `busy_timeout_s` is how long a writer waits for another's transaction before the store
    reports `StoreUnavailable`; `clock` gives epoch seconds (leases, timestamps). Opening it
    touches nothing: the file and its tables are made on first use.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        busy_timeout_s: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self._busy_timeout_s = busy_timeout_s
        self._clock = clock
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._ready = False

    # -- connections and transactions -------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            with self._lock:
                if not self._ready:
                    self._prepare()
            conn = sqlite3.connect(
                self.path,
                timeout=self._busy_timeout_s,
                isolation_level=None,
                check_same_thread=False,
            )
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def _prepare(self) -> None:
        """Make the folder, the file and its tables, on first use (so a store that cannot be
        written yet does not stop the service from starting: its calls fail, and are retried)."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise sqlite3.OperationalError(f"cannot create {self.path.parent}: {exc}") from exc
        conn = sqlite3.connect(self.path, timeout=self._busy_timeout_s, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)
        finally:
            conn.close()
        self._ready = True

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Database errors become `StoreUnavailable` (the caller retries later)."""
        try:
            yield
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"job store {self.path}: {exc}") from exc

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction holding the file's write lock from its first read: all or
        nothing, and no other writer in between."""
        with self._guard():
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    # -- the contract --------------------------------------------------------------------------

    def create(
        self,
        spec: JobSpec,
        items: Sequence[Item],
        *,
        max_in_flight: int | None = None,
        job_id: str | None = None,
    ) -> Job:
        now = self._clock()
        with self._write() as conn:
            if job_id is not None and (row := _job_row(conn, "id", job_id)) is not None:
                return _job(row)
            job_id = job_id or uuid.uuid4().hex
            if max_in_flight is not None:
                (running,) = conn.execute(
                    "SELECT COUNT(*) FROM jobs WHERE owner IS ? AND status IN (?, ?)",
                    (spec.owner, QUEUED, RUNNING),
                ).fetchone()
                if running >= max_in_flight:
                    raise TooManyJobs(f"{running} jobs already queued or running")
            cur = conn.execute(
                "INSERT INTO jobs (id, task, options, owner, callback_url, status, total, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    job_id,
                    spec.task,
                    json.dumps(dict(spec.options)),
                    spec.owner,
                    spec.callback_url,
                    QUEUED,
                    len(items),
                    now,
                ),
            )
            job_seq = cur.lastrowid
            conn.executemany(
                "INSERT INTO items (job_seq, position, item_id, text, written) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    (job_seq, n, item.id, item.text, int(item.error is not None))
                    for n, item in enumerate(items)
                ),
            )
            failed = [item for item in items if item.error is not None]
            conn.executemany(
                "INSERT INTO outcomes (job_seq, item_id, error_code, error_message) "
                "VALUES (?, ?, ?, ?)",
                ((job_seq, i.id, i.error.code, i.error.message) for i in failed if i.error),
            )
            conn.execute("UPDATE jobs SET failed = ? WHERE seq = ?", (len(failed), job_seq))
            _settle(conn, job_seq, now)
            return _job(_job_row(conn, "seq", job_seq))

    def get(self, job_id: str) -> Job | None:
        with self._guard():
            row = _job_row(self._connection(), "id", job_id)
        return None if row is None else _job(row)

    def claim(self, worker: str, limit: int, lease_s: float) -> list[Claim]:
        now = self._clock()
        until = now + lease_s
        with self._write() as conn:
            rows = conn.execute(
                "SELECT i.job_seq, i.position, i.item_id, i.text, j.id FROM items i "
                "JOIN jobs j ON j.seq = i.job_seq "
                "WHERE i.written = 0 AND j.status IN (?, ?) "
                "AND (i.lease_until IS NULL OR i.lease_until <= ?) "
                "ORDER BY i.lease_until IS NOT NULL, i.job_seq, i.position LIMIT ?",
                (QUEUED, RUNNING, now, max(0, limit)),
            ).fetchall()
            claims: list[Claim] = []
            specs: dict[int, JobSpec] = {}
            for job_seq, position, item_id, text, job_id in rows:
                token = f"{worker}:{uuid.uuid4().hex}"
                conn.execute(
                    "UPDATE items SET lease_token = ?, lease_until = ? "
                    "WHERE job_seq = ? AND position = ?",
                    (token, until, job_seq, position),
                )
                if job_seq not in specs:
                    specs[job_seq] = _job(_job_row(conn, "seq", job_seq)).spec
                    conn.execute(
                        "UPDATE jobs SET status = ?, started_at = ? WHERE seq = ? AND status = ?",
                        (RUNNING, now, job_seq, QUEUED),
                    )
                claims.append(
                    Claim(
                        job_id=job_id,
                        item_id=item_id,
                        text=text or "",
                        spec=specs[job_seq],
                        token=token,
                        lease_until=until,
                    )
                )
            return claims

    def finish(self, claim: Claim, outcome: Outcome) -> bool:
        now = self._clock()
        error = outcome.error
        with self._write() as conn:
            row = conn.execute("SELECT seq FROM jobs WHERE id = ?", (claim.job_id,)).fetchone()
            if row is None:
                return False
            job_seq = row[0]
            cur = conn.execute(
                "INSERT OR IGNORE INTO outcomes (job_seq, item_id, result, error_code, "
                "error_message) VALUES (?, ?, ?, ?, ?)",
                (
                    job_seq,
                    claim.item_id,
                    None if error else json.dumps(outcome.result),
                    error.code if error else None,
                    error.message if error else None,
                ),
            )
            if cur.rowcount == 0:
                return False
            conn.execute(
                "UPDATE items SET written = 1, lease_token = NULL, lease_until = NULL "
                "WHERE job_seq = ? AND item_id = ?",
                (job_seq, claim.item_id),
            )
            column = "failed" if error else "done"
            conn.execute(f"UPDATE jobs SET {column} = {column} + 1 WHERE seq = ?", (job_seq,))
            _settle(conn, job_seq, now)
            return True

    def release(self, claims: Sequence[Claim]) -> None:
        if not claims:
            return
        with self._write() as conn:
            conn.executemany(
                "UPDATE items SET lease_token = NULL, lease_until = NULL "
                "WHERE lease_token = ? AND written = 0",
                ((claim.token,) for claim in claims),
            )

    def cancel(self, job_id: str) -> Job | None:
        now = self._clock()
        with self._write() as conn:
            conn.execute(
                "UPDATE jobs SET status = ?, finished_at = ? WHERE id = ? "
                "AND status NOT IN (?, ?, ?)",
                (CANCELLED, now, job_id, *sorted(FINISHED)),
            )
            row = _job_row(conn, "id", job_id)
        return None if row is None else _job(row)

    def results(self, job_id: str, cursor: str = "", limit: int = 1000) -> ResultPage:
        after = _cursor(cursor)
        with self._guard():
            rows = (
                self._connection()
                .execute(
                    "SELECT o.seq, o.item_id, o.result, o.error_code, o.error_message "
                    "FROM outcomes o JOIN jobs j ON j.seq = o.job_seq "
                    "WHERE j.id = ? AND o.seq > ? ORDER BY o.seq LIMIT ?",
                    (job_id, after, max(0, limit)),
                )
                .fetchall()
            )
        outcomes = [
            Outcome(item_id, error=ItemError(code, message))
            if code is not None
            else Outcome(item_id, result=json.loads(result))
            for _, item_id, result, code, message in rows
        ]
        return ResultPage(outcomes, str(rows[-1][0]) if rows else cursor)

    def purge(self, finished_before: float) -> int:
        with self._write() as conn:
            cur = conn.execute(
                "DELETE FROM jobs WHERE finished_at < ? AND status IN (?, ?, ?)",
                (finished_before, *sorted(FINISHED)),
            )
            return cur.rowcount

    def close(self) -> None:
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()
        self._local = threading.local()


def _cursor(cursor: str) -> int:
    """The last seen outcome's seq; "" is before the first. A cursor this store never gave
    is a caller's mistake (ValueError), not an empty page."""
    if cursor == "":
        return 0
    if not cursor.isdigit():
        raise ValueError(f"not a results cursor: {cursor!r}")
    return int(cursor)


def _job_row(conn: sqlite3.Connection, column: str, value: Any) -> tuple[Any, ...] | None:
    row: tuple[Any, ...] | None = conn.execute(
        f"SELECT {_JOB_COLUMNS} FROM jobs WHERE {column} = ?", (value,)
    ).fetchone()
    return row


def _settle(conn: sqlite3.Connection, job_seq: int, now: float) -> None:
    """Once every item has an outcome, the job is done (failed when every item failed); a
    cancelled job keeps its status."""
    conn.execute(
        "UPDATE jobs SET status = CASE WHEN failed = total AND total > 0 THEN ? ELSE ? END, "
        "finished_at = ? WHERE seq = ? AND done + failed >= total AND status IN (?, ?)",
        (FAILED, DONE, now, job_seq, QUEUED, RUNNING),
    )


def _job(row: tuple[Any, ...] | None) -> Job:
    assert row is not None, "the row was read in the same transaction that wrote it"
    (_, job_id, task, options, owner, callback_url, status, total, done, failed, *times) = row
    created_at, started_at, finished_at = times
    return Job(
        id=job_id,
        spec=JobSpec(
            task=task, options=json.loads(options), owner=owner, callback_url=callback_url
        ),
        status=status,
        total=total,
        done=done,
        failed=failed,
        created_at=created_at,
        started_at=started_at,
        finished_at=finished_at,
    )
