"""Job callbacks: when a job finishes, POST its summary to the `callback_url` its client gave,
signed, retried, and only to addresses a server-side request may reach.

The body is `{"event": "job.finished", "job": <the job as GET /v1/jobs/<id> answers it>}`. Each
attempt is signed anew with HMAC-SHA256 under JOBS_WEBHOOK_SECRET (`service.jobs.signing`:
the headers, and `verify`, what a receiver runs).

A callback is a request the server makes to an address a client chose, so it keeps the rules
of page fetching (`service.sources`): http(s) only, no credentials, every address the host
resolves to public unless JOBS_WEBHOOK_ALLOW names it, and the connection goes to the address
that was checked (no second lookup to rebind). The URL is checked when the job is submitted
(`check`: 400 there) and again when it is called.

Delivery never blocks the caller (the job runner's `on_finished`, a cancelling request): one
daemon thread per process sends callbacks from a queue, each attempt within `timeout_s`. A
connection error, a 408, a 429 or a 5xx is retried after `backoff(attempt)` seconds (doubling,
capped), at most `attempts` times in all; any other answer ends it (2xx: delivered). Callbacks
are held in memory: a process that stops drops those not yet sent (they are logged).
"""

from __future__ import annotations

import heapq
import http.client
import itertools
import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from service.core.errors import CallbackRefused
from service.jobs.progress import status_body
from service.jobs.signing import signed_headers
from service.jobs.store import Job
from service.sources.addresses import AddressPolicy, AddressRefused, Target, parse_target
from service.sources.fetch import Resolver, checked_address, connection, resolve

log = logging.getLogger(__name__)

USER_AGENT = "newsroom-nlp (job callback)"
# Answers worth trying again: the receiver was busy, timed out or failed.
_RETRIED = frozenset({408, 429})


def backoff(attempt: int, *, first_s: float, cap_s: float) -> float:
    """Seconds to wait after failed attempt number `attempt` (from 1): `first_s`, doubling,
    at most `cap_s`."""
    return min(first_s * 2 ** (attempt - 1), cap_s)


def retried(status: int) -> bool:
    """Whether an answer with this status is tried again."""
    return status in _RETRIED or status >= 500


def callback_body(job: Job, now: float) -> bytes:
    """The exact bytes POSTed for a finished job (the signature covers these)."""
    body = {"event": "job.finished", "job": status_body(job, now)}
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


@dataclass(frozen=True)
class _Callback:
    url: str
    job_id: str
    body: bytes
    attempt: int = 1


class Webhooks:
    """Checks callback URLs and delivers callbacks in the background (see the module)."""

    def __init__(
        self,
        secret: str,
        policy: AddressPolicy,
        *,
        resolver: Resolver = resolve,
        attempts: int = 6,
        first_backoff_s: float = 2.0,
        max_backoff_s: float = 300.0,
        timeout_s: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secret = secret
        self._policy = policy
        self._resolver = resolver
        self._attempts = attempts
        self._backoff = (first_backoff_s, max_backoff_s)
        self._timeout_s = timeout_s
        self._clock = clock
        self._due: list[tuple[float, int, _Callback]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._closed = False
        # Started by the first callback: an app that sends none holds no thread.
        self._thread: threading.Thread | None = None

    def check(self, url: str) -> None:
        """Refuse a `callback_url` the service will not call: CallbackRefused saying why."""
        if not self._secret:
            raise CallbackRefused(
                "callbacks are off here (no JOBS_WEBHOOK_SECRET to sign them with)",
                field="callback_url",
            )
        if not url.isascii():
            raise CallbackRefused(
                "callback_url must be ASCII: percent-encode its path and give an international "
                "host name in its xn-- form",
                field="callback_url",
            )
        try:
            self._address(parse_target(url))
        except AddressRefused as exc:
            raise CallbackRefused(f"callback_url: {exc}", field="callback_url") from None

    def on_finished(self, job: Job) -> None:
        """Queue the callback of a finished job, if it asked for one; returns at once."""
        if not job.spec.callback_url or not self._secret:
            return
        callback = _Callback(job.spec.callback_url, job.id, callback_body(job, self._clock()))
        self._schedule(callback, 0.0)

    def close(self, timeout: float = 5.0) -> None:
        """Stop the delivery thread; callbacks not yet sent are dropped (and logged)."""
        with self._wake:
            self._closed = True
            dropped = [callback.job_id for _, _, callback in self._due]
            self._due.clear()
            self._wake.notify_all()
        if dropped:
            log.warning("job callbacks not sent at shutdown", extra={"jobs": dropped})
        if self._thread is not None:
            self._thread.join(timeout)

    def _address(self, target: Target) -> str:
        deadline = time.monotonic() + self._timeout_s
        return checked_address(self._policy, self._resolver, target, deadline)

    def _schedule(self, callback: _Callback, delay_s: float) -> None:
        with self._wake:
            if self._closed:
                return
            due = time.monotonic() + delay_s
            heapq.heappush(self._due, (due, next(self._order), callback))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._deliver, name="job-webhooks", daemon=True
                )
                self._thread.start()
            self._wake.notify_all()

    def _next(self) -> _Callback | None:
        """The next callback when it is due; None once closed."""
        with self._wake:
            while not self._closed:
                if self._due and self._due[0][0] <= time.monotonic():
                    return heapq.heappop(self._due)[2]
                wait = self._due[0][0] - time.monotonic() if self._due else None
                self._wake.wait(wait)
            return None

    def _deliver(self) -> None:
        while (callback := self._next()) is not None:
            try:
                status = self._send(callback)
            except (AddressRefused, OSError, http.client.HTTPException) as exc:
                status, why = None, f"{type(exc).__name__}: {exc}"
            except Exception:  # one bad callback must not stop every later one's delivery
                log.exception("job callback failed", extra={"job": callback.job_id})
                continue
            else:
                why = f"answered {status}"
            if status is not None and 200 <= status < 300:
                log.info("job callback delivered", extra={"job": callback.job_id})
            elif (status is None or retried(status)) and callback.attempt < self._attempts:
                delay = backoff(callback.attempt, first_s=self._backoff[0], cap_s=self._backoff[1])
                log.info(
                    "job callback failed; retrying",
                    extra={"job": callback.job_id, "why": why, "retry_in_s": delay},
                )
                self._schedule(replace(callback, attempt=callback.attempt + 1), delay)
            else:
                log.warning(
                    "job callback given up",
                    extra={"job": callback.job_id, "why": why, "attempts": callback.attempt},
                )

    def _send(self, callback: _Callback) -> int:
        """One attempt: the URL checked again, POSTed to the checked address; the status."""
        target = parse_target(callback.url)
        conn = connection(target, self._address(target), self._timeout_s)
        headers = {
            "Host": target.host_header,
            "User-Agent": USER_AGENT,
            "Content-Type": "application/json",
            "Connection": "close",
            **signed_headers(self._secret, int(self._clock()), callback.body),
        }
        # The socket timeout bounds each read, not the exchange: a receiver that trickles bytes
        # would hold the one delivery thread; at the deadline the connection is closed under it.
        deadline = threading.Timer(self._timeout_s, _cut, (conn,))
        deadline.start()
        try:
            conn.request("POST", target.path, body=callback.body, headers=headers)
            response = conn.getresponse()
            response.read(64 * 1024)
            return response.status
        finally:
            deadline.cancel()
            conn.close()


def webhooks_for(secret: str, allow: tuple[str, ...]) -> Webhooks:
    """The webhooks JOBS_WEBHOOK_SECRET and JOBS_WEBHOOK_ALLOW describe."""
    return Webhooks(secret, AddressPolicy.from_allow_list(allow))


def _cut(conn: http.client.HTTPConnection) -> None:
    """End an exchange from another thread: shutting the socket down wakes a blocked read
    (closing it would not), which then fails as a dropped connection."""
    sock = conn.sock
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
