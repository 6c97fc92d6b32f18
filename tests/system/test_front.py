"""The production front (`python -m service front`): the real nginx in front of gunicorn, on
127.0.0.1, with the tiny models.

The probes hold hundreds of slow, idle and silent connections, and send maximal requests, while
timing small ones; the bounds are generous (a loaded 2-core machine), `python -m bench front`
measures the precise figures. Skipped only where the nginx binary is missing (.ci/run installs
it).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.server import Server, get, post
from service.core.config import Settings
from service.ops.front import FrontOptions, find_nginx, render

pytestmark = pytest.mark.skipif(
    find_nginx() is None, reason="nginx is not installed (Debian: apt-get install nginx)"
)

SMALL = {"text": "The vote is on Sunday.", "target": "fr", "num_beams": 1}


@pytest.fixture(scope="module")
def front(demo_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One front for the read-only checks and the slow-client probe; clients may stall 30 s."""
    started = Server(
        "front",
        {**demo_env, "RATE_LIMIT": "1000/minute"},
        log_dir=tmp_path_factory.mktemp("front-logs"),
        args=["--client-timeout", "30", "--drain-delay", "0"],
        front=True,
    )
    try:
        started.wait_ready(timeout=120)
        yield started
    finally:
        started.stop()


def _open(port: int, first: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    if first:
        sock.sendall(first)
    return sock


def _translate(url: str, timeout: float = 60) -> tuple[int, float]:
    reply = post(url, "/v1/translate", SMALL, timeout=timeout)
    return reply.status, reply.seconds


# ----- the configuration -------------------------------------------------------------------


def test_the_rendered_configuration_holds_every_limit(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"MAX_BODY_BYTES": "1000", "ITEM_TIMEOUT_S": "20", "DOC_MAX_BYTES": "5000"}
    )
    text = render(settings, FrontOptions(bind="127.0.0.1:9", client_timeout_s=7), tmp_path)

    settings_lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    assert not [line for line in settings_lines if re.search(r"@[A-Z_]+@", line)]
    for line in (
        "listen 127.0.0.1:9;",
        "client_header_timeout 7s;",
        "client_body_timeout 7s;",
        "send_timeout 7s;",
        "client_max_body_size 1000;",
        f"client_max_body_size {5000 + 64 * 1024};",  # LibreTranslate's /translate_file
        "location = /v1/documents {",  # and the background document uploads
        "location = /v2/document {",
        "proxy_request_buffering on;",
        "proxy_buffering on;",
        "proxy_read_timeout 50s;",
        "worker_shutdown_timeout 30s;",
        f"server unix:{tmp_path}/gunicorn.sock;",
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
    ):
        assert line in text, line


# ----- what it serves ------------------------------------------------------------------------


def test_serves_the_api_and_the_probes(front: Server) -> None:
    reply = post(front.url, "/v1/translate", SMALL)
    assert reply.status == 200, reply.body
    assert reply.body["translation"] and reply.headers["X-Request-ID"]
    assert get(front.url, "/healthz").status == 200
    assert get(front.url, "/readyz").status == 200
    assert "gunicorn.sock" in front.output()  # gunicorn listens on the socket, not the port


def test_the_client_address_is_the_connection_not_a_forged_header(
    demo_env: dict[str, str], start_front
) -> None:
    """The app trusts one proxy, the front: a client's own X-Forwarded-For does not change the
    address its requests are counted under."""
    limited = start_front({"RATE_LIMIT": "2/minute"})
    statuses = []
    for forged in ("203.0.113.1", "203.0.113.2", "203.0.113.3"):
        conn = http.client.HTTPConnection("127.0.0.1", limited.port, timeout=60)
        conn.request("GET", "/v1/models", headers={"X-Forwarded-For": forged})
        statuses.append(conn.getresponse().status)
        conn.close()
    assert statuses == [200, 200, 429]


def test_a_body_over_the_limit_is_refused_by_the_front(front: Server) -> None:
    limit = Settings.defaults().max_body_bytes
    reply = post(front.url, "/v1/translate", b"{" + b" " * limit + b"}")
    assert reply.status == 413
    assert reply.body["error"]["code"] == "payload_too_large"


# ----- slow, idle and silent clients ---------------------------------------------------------


def test_slow_idle_and_silent_clients_do_not_stop_the_service(front: Server) -> None:
    """200 connections that sent a byte of a request header, 100 that sent the header and a byte
    of the body, 100 idle ones: /healthz and a small translation still answer, every time."""
    held: list[socket.socket] = []
    body_head = (
        b"POST /v1/translate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000\r\n\r\n{"
    )
    try:
        held += [_open(front.port, b"P") for _ in range(200)]
        held += [_open(front.port, body_head) for _ in range(100)]
        held += [_open(front.port, b"") for _ in range(100)]
        health, translations = [], []
        until = time.monotonic() + 8
        while time.monotonic() < until:
            reply = get(front.url, "/healthz", timeout=30)
            health.append((reply.status, reply.seconds))
            translations.append(_translate(front.url))
            time.sleep(0.5)
    finally:
        for sock in held:
            sock.close()
    assert len(health) >= 3
    assert all(status == 200 for status, _ in health), health
    assert all(status == 200 for status, _ in translations), translations
    assert max(seconds for _, seconds in health) < 5, health
    assert max(seconds for _, seconds in translations) < 20, translations


def test_clients_that_stop_reading_do_not_hold_the_app(front: Server) -> None:
    """64 clients pipeline requests for a large answer and never read: nginx takes every answer
    from gunicorn at once, so its threads are free."""
    request = b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n" * 50
    held = [_open(front.port, b"") for _ in range(64)]
    try:
        for sock in held:
            sock.sendall(request)
        time.sleep(1)
        reply = get(front.url, "/healthz", timeout=30)
        status, seconds = _translate(front.url)
    finally:
        for sock in held:
            sock.close()
    assert reply.status == 200 and reply.seconds < 5
    assert status == 200 and seconds < 20


# ----- maximal requests ---------------------------------------------------------------------


def test_maximal_requests_get_their_504_on_time_and_tiny_ones_still_succeed(start_front) -> None:
    """4 requests of 64 texts of 27,000 characters (1.7 MB, under MAX_BODY_BYTES): splitting and
    tokenising them would take far longer than ITEM_TIMEOUT_S, which covers preprocessing too,
    so each gets its 504 within ITEM_TIMEOUT_S x 1.1, and small translations sent meanwhile
    succeed (large inputs are preprocessed one at a time, so the model's worker keeps running)."""
    timeout_s = 5
    server = start_front({"ITEM_TIMEOUT_S": str(timeout_s)})
    paragraph = "The council approved the new bridge on Tuesday after a long debate. " * 400
    body = json.dumps({"texts": [paragraph] * 64, "target": "fr"}).encode()
    assert len(body) < Settings.defaults().max_body_bytes
    big: list[tuple[int, float]] = []

    def send_big() -> None:
        reply = post(server.url, "/v1/translate", body, timeout=120)
        big.append((reply.status, reply.seconds))

    threads = [threading.Thread(target=send_big) for _ in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    tiny = []
    for _ in range(3):
        tiny.append(_translate(server.url, timeout=60))
        time.sleep(0.3)
    for thread in threads:
        thread.join(120)

    assert [status for status, _ in big] == [504] * 4, big
    assert max(seconds for _, seconds in big) <= timeout_s * 1.1, big
    assert [status for status, _ in tiny] == [200] * 3, tiny


# ----- shutdown ------------------------------------------------------------------------------


@pytest.fixture
def start_front(demo_env: dict[str, str], tmp_path: Path):
    """Factory: start_front(env=None, args=()) -> a ready front of its own; stopped after."""
    fronts: list[Server] = []

    def start(env: dict[str, str] | None = None, args: tuple[str, ...] = ()) -> Server:
        server = Server(
            "front",
            {**demo_env, **(env or {})},
            log_dir=tmp_path,
            args=["--drain-delay", "0", *args],
            front=True,
        )
        fronts.append(server)
        server.wait_ready(timeout=120)
        return server

    yield start
    for server in fronts:
        server.stop()


def test_sigterm_turns_readyz_503_finishes_in_flight_and_exits_promptly(start_front) -> None:
    """SIGTERM with a request in flight and slow, silent and idle connections open: /readyz is
    503 at once while other requests are still served, the request in flight gets its answer,
    and the front exits 0 long before gunicorn's 120 s graceful timeout."""
    stopping = start_front(
        {"MAX_WAIT_MS": "1500"}, ("--client-timeout", "5", "--drain-delay", "1.5")
    )
    held = [_open(stopping.port, b"P") for _ in range(20)]
    held += [_open(stopping.port, b"") for _ in range(20)]
    answer: list[tuple[int, float]] = []
    in_flight = threading.Thread(target=lambda: answer.append(_translate(stopping.url)))
    in_flight.start()
    time.sleep(0.5)  # its item now waits 1.5 s in the batch queue
    started = time.monotonic()
    stopping.process.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    try:
        readyz = get(stopping.url, "/readyz", timeout=5)
        healthz = get(stopping.url, "/healthz", timeout=5)
        code = stopping.process.wait(60)
    finally:
        for sock in held:
            sock.close()
    took = time.monotonic() - started
    in_flight.join(30)

    assert readyz.status == 503 and readyz.body == {"status": "shutting down"}
    assert healthz.status == 200
    assert answer and answer[0][0] == 200, answer
    assert code == 0, stopping.output()
    assert took < 30, took
    assert "Shutting down: Master" in stopping.output()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", stopping.port), timeout=2).close()


def test_the_front_stops_when_gunicorn_dies(start_front) -> None:
    """A front whose gunicorn is gone stops nginx and exits non-zero, so it is restarted."""
    broken = start_front()
    children = Path(f"/proc/{broken.process.pid}/task/{broken.process.pid}/children")
    pids = [int(pid) for pid in children.read_text().split()]
    commands = {pid: Path(f"/proc/{pid}/cmdline").read_bytes() for pid in pids}
    [gunicorn] = [pid for pid, command in commands.items() if b"gunicorn" in command]
    os.kill(gunicorn, signal.SIGKILL)
    assert broken.process.wait(30) != 0
