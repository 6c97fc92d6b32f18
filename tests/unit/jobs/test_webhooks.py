"""Job callbacks: the signature (pure), which URLs are refused, and delivery to a real HTTP
server on 127.0.0.1 (allowed by the policy, as JOBS_WEBHOOK_ALLOW would): signed, retried
after a 500, given up after a 4xx or when attempts run out."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import socket
import threading
import time
from dataclasses import replace

import pytest

from service.core.errors import CallbackRefused
from service.jobs.signing import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    signature,
    signed_headers,
    verify,
)
from service.jobs.store import Job, JobSpec
from service.jobs.webhooks import Webhooks, _Callback, backoff, callback_body, retried
from service.sources.addresses import AddressPolicy

SECRET = "webhook-secret-of-the-desk"
LOCAL = AddressPolicy.from_allow_list(("127.0.0.1",))


def test_the_signature_is_hmac_sha256_of_the_timestamp_and_the_exact_body() -> None:
    body = b'{"event": "job.finished"}'
    expected = hmac.new(SECRET.encode(), b"1700000000." + body, hashlib.sha256).hexdigest()
    assert signature(SECRET, 1700000000, body) == f"sha256={expected}"
    assert signed_headers(SECRET, 1700000000, body) == {
        TIMESTAMP_HEADER: "1700000000",
        SIGNATURE_HEADER: f"sha256={expected}",
    }


def test_verify_accepts_only_the_same_body_timestamp_and_secret_when_fresh() -> None:
    body = b'{"job": {"id": "j1"}}'
    given = signature(SECRET, 1000, body)
    assert verify(SECRET, body, "1000", given, now=1000)
    assert verify(SECRET, body, "1000", given, now=1300)
    assert not verify(SECRET, body, "1000", given, now=1301)  # a replay, too late
    assert not verify(SECRET, body, "1000", given, now=699)
    assert not verify(SECRET, body + b" ", "1000", given, now=1000)
    assert not verify(SECRET, body, "1001", given, now=1000)
    assert not verify("another-secret", body, "1000", given, now=1000)
    assert not verify(SECRET, body, "-1000", given, now=1000)
    assert not verify(SECRET, body, "", given, now=1000)
    # Forged headers are refused, never raised on (a receiver would crash on them).
    assert not verify(SECRET, body, "\u00b2", given, now=1000)  # a digit int() refuses
    assert not verify(SECRET, body, "1000", "sha256=\u00e9", now=1000)


def test_backoff_doubles_up_to_its_cap() -> None:
    waits = [backoff(attempt, first_s=2, cap_s=20) for attempt in range(1, 6)]
    assert waits == [2, 4, 8, 16, 20]


@pytest.mark.parametrize(
    ("status", "again"),
    [
        (500, True),
        (503, True),
        (429, True),
        (408, True),
        (400, False),
        (404, False),
        (410, False),
        (200, False),
    ],
)
def test_what_is_retried(status: int, again: bool) -> None:
    assert retried(status) is again


def _job(callback_url: str | None = "http://127.0.0.1:9/hook") -> Job:
    return Job(
        id="j1",
        spec=JobSpec(task="translate", options={"target": "fr"}, callback_url=callback_url),
        status="done",
        total=3,
        done=2,
        failed=1,
        created_at=1000.0,
        started_at=1001.0,
        finished_at=1010.5,
    )


def test_the_body_is_the_jobs_status() -> None:
    body = json.loads(callback_body(_job(), now=2000))
    assert body["event"] == "job.finished"
    assert body["job"]["id"] == "j1"
    assert (body["job"]["status"], body["job"]["done"], body["job"]["failed"]) == ("done", 2, 1)
    assert body["job"]["finished_at"] == "1970-01-01T00:16:50.500Z"


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://127.0.0.1/hook", "loopback"),
        ("http://10.1.2.3/hook", "private"),
        ("http://169.254.169.254/latest", "link-local"),
        ("http://[::ffff:127.0.0.1]/hook", "loopback"),
        ("ftp://example.com/hook", "only http and https"),
        ("https://user:pw@example.com/hook", "credentials"),
        ("http:///hook", "no host"),
        ("http://93.184.215.14/hook/\u00e9", "must be ASCII"),
        ("http://\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444/hook", "must be ASCII"),
    ],
)
def test_a_callback_url_is_refused_as_a_fetch_would_be(url: str, why: str) -> None:
    hooks = Webhooks(SECRET, AddressPolicy(), resolver=lambda host, port: [host])
    with pytest.raises(CallbackRefused) as refused:
        hooks.check(url)
    assert why in refused.value.message
    assert refused.value.field == "callback_url"


def test_every_address_a_name_resolves_to_is_checked() -> None:
    hooks = Webhooks(
        SECRET, AddressPolicy(), resolver=lambda host, port: ["93.184.215.14", "10.0.0.1"]
    )
    with pytest.raises(CallbackRefused, match="private"):
        hooks.check("https://hooks.example/x")
    public = Webhooks(SECRET, AddressPolicy(), resolver=lambda host, port: ["93.184.215.14"])
    public.check("https://hooks.example/x")


def test_without_a_secret_no_callback_is_accepted() -> None:
    with pytest.raises(CallbackRefused, match="JOBS_WEBHOOK_SECRET"):
        Webhooks("", LOCAL).check("http://127.0.0.1:9/hook")


def _hooks(**kw) -> Webhooks:
    return Webhooks(SECRET, LOCAL, first_backoff_s=0.05, max_backoff_s=0.2, timeout_s=5, **kw)


def test_a_callback_arrives_signed_and_verifiable(webhook_receiver) -> None:
    receiver = webhook_receiver
    hooks = _hooks()
    hooks.on_finished(_job(receiver.url))
    receiver.wait_for(1)
    headers, body = receiver.got[0]
    assert verify(
        SECRET, body, headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER], now=time.time()
    )
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body)["job"]["id"] == "j1"
    hooks.close()


def test_a_failed_callback_is_retried_and_signed_anew(webhook_receiver) -> None:
    receiver = webhook_receiver
    receiver.answers = [500, 503]
    hooks = _hooks()
    hooks.on_finished(_job(receiver.url))
    receiver.wait_for(3)
    bodies = {body for _, body in receiver.got}
    assert len(bodies) == 1  # the same body every time
    for headers, body in receiver.got:
        assert verify(
            SECRET, body, headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER], now=time.time()
        )
    hooks.close()
    assert len(receiver.got) == 3  # delivered at the third: no fourth


def test_a_client_error_is_not_retried_and_attempts_are_bounded(webhook_receiver) -> None:
    receiver = webhook_receiver
    receiver.answers = [410]
    hooks = _hooks(attempts=3)
    hooks.on_finished(_job(receiver.url))
    receiver.wait_for(1)
    receiver.answers = [500] * 10
    hooks.on_finished(_job(receiver.url))
    receiver.wait_for(4)
    time.sleep(0.5)  # room for a fifth attempt that must not come
    hooks.close()
    assert len(receiver.got) == 4  # one for the 410, three for the 500s


def test_a_job_without_a_callback_sends_nothing(webhook_receiver) -> None:
    receiver = webhook_receiver
    hooks = _hooks()
    hooks.on_finished(_job(None))
    hooks.on_finished(_job(receiver.url))
    receiver.wait_for(1)
    hooks.close()
    assert len(receiver.got) == 1


def test_one_callback_that_cannot_be_sent_stops_no_other(webhook_receiver) -> None:
    """A URL stored before it was checked as now (non-ASCII) fails in http.client; the one
    delivery thread goes on with the next job's callback."""
    receiver = webhook_receiver
    hooks = _hooks()
    hooks.on_finished(_job(receiver.url + "/\u00e9"))
    hooks.on_finished(replace(_job(receiver.url), id="j2"))
    receiver.wait_for(1)
    assert json.loads(receiver.got[0][1])["job"]["id"] == "j2"
    hooks.close()


def test_an_attempt_ends_at_its_timeout_even_if_the_receiver_trickles_bytes() -> None:
    """Each byte would reset a socket timeout; the attempt's deadline cuts the exchange."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def trickle() -> None:
        conn, _ = listener.accept()
        conn.recv(65536)
        try:
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 40:
                conn.send(bytes([byte]))
                time.sleep(0.1)
            conn.send(b"\r\nContent-Length: 0\r\n\r\n")
        except OSError:
            pass
        conn.close()

    threading.Thread(target=trickle, daemon=True).start()
    hooks = Webhooks(SECRET, LOCAL, timeout_s=0.5)
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
    with pytest.raises((OSError, http.client.HTTPException)):
        hooks._send(_Callback(url, "j1", b"{}"))  # the whole answer takes about 6 s
    listener.close()
