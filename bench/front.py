"""Front: slow, silent and non-reading clients, maximal requests and shutdown, gunicorn vs nginx.

    python -m bench front              # a few minutes on 2 CPU cores

The issue's attacks, each against gunicorn alone (`make run`) and the production front (`make
serve`), on 127.0.0.1 with the tiny demo models: while N connections misbehave, how long
/healthz and a small translation take (0 = no answer within --probe-timeout); maximal requests'
504s against ITEM_TIMEOUT_S; and SIGTERM with slow connections open: what a new client gets and
how long the process takes to exit. Prints a table and writes front.json under --out.
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.report import log, save, table
from harness.models import tiny_models
from harness.server import Server, get, post

SMALL = {"text": "The vote is on Sunday.", "target": "fr", "num_beams": 1}
BODY_HEAD = (
    b"POST /v1/translate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b"Content-Length: 1000\r\n\r\n{"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--clients", type=int, default=64, help="misbehaving clients (64)")
    parser.add_argument("--maximal", type=int, default=8, help="maximal requests (8)")
    parser.add_argument("--item-timeout", type=float, default=3, help="ITEM_TIMEOUT_S (3)")
    parser.add_argument("--probe-timeout", type=float, default=10, help="probe wait (10 s)")
    parser.add_argument("--stop-wait", type=float, default=40, help="longest exit wait (40 s)")


def _connect(port: int, first: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    if first:
        sock.sendall(first)
    return sock


def _no_close(port: int) -> socket.socket:
    """A client that asks for `Connection: close`, reads its answer, and never closes."""
    sock = _connect(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    sock.recv(65536)
    return sock


def _not_reading(port: int) -> socket.socket:
    """A client that pipelines requests for a large answer and never reads one."""
    return _connect(port, b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n" * 50)


def _probe(url: str, timeout: float) -> dict[str, Any]:
    health = get(url, "/healthz", timeout=timeout)
    small = post(url, "/v1/translate", SMALL, timeout=timeout)
    return {
        "healthz": [health.status, round(health.seconds, 2)],
        "translate": [small.status, round(small.seconds, 2)],
    }


def _while_held(server: Server, open_one: Callable[[int], socket.socket], n: int, timeout: float):
    held = [open_one(server.port) for _ in range(n)]
    try:
        time.sleep(1)
        return _probe(server.url, timeout)
    finally:
        for sock in held:
            sock.close()
        time.sleep(1)


def _maximal(server: Server, count: int) -> dict[str, Any]:
    paragraph = "The council approved the new bridge on Tuesday after a long debate. " * 400
    body = json.dumps({"texts": [paragraph] * 64, "target": "fr"}).encode()
    big: list[list[float]] = []

    def send() -> None:
        reply = post(server.url, "/v1/translate", body, timeout=600)
        big.append([reply.status, round(reply.seconds, 2)])

    threads = [threading.Thread(target=send) for _ in range(count)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    tiny = []
    for _ in range(3):
        reply = post(server.url, "/v1/translate", SMALL, timeout=600)
        tiny.append([reply.status, round(reply.seconds, 2)])
        time.sleep(0.3)
    for thread in threads:
        thread.join()
    return {"body_bytes": len(body), "maximal": sorted(big), "tiny": tiny}


def _shutdown(server: Server, slow: int, stop_wait: float) -> dict[str, Any]:
    held = [_connect(server.port, b"P") for _ in range(slow)]
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    readyz = get(server.url, "/readyz", timeout=5)
    try:
        server.process.wait(stop_wait)
        exit_s: float | str = round(time.monotonic() - started, 2)
    except subprocess.TimeoutExpired:
        exit_s = f">{stop_wait:g} (killed)"
        server.process.kill()
    for sock in held:
        sock.close()
    server.stop()
    return {"readyz_after_sigterm": [readyz.status, readyz.failure], "exit_s": exit_s}


def _measure(kind: str, env: dict[str, str], args: argparse.Namespace, out: Path) -> dict:
    front = kind == "front"
    options = ["--drain-delay", "1"] if front else []
    server = Server(kind, env, log_dir=out / "logs", front=front, args=options)
    server.wait_ready(timeout=180)
    n, timeout = args.clients, args.probe_timeout
    results: dict[str, Any] = {"idle": _probe(server.url, timeout)}
    scenarios: dict[str, Callable[[int], socket.socket]] = {
        "silent (1 byte sent)": lambda port: _connect(port, b"P"),
        "slow body (header + 1 byte)": lambda port: _connect(port, BODY_HEAD),
        "not reading (50 pipelined answers)": _not_reading,
        "never closing after Connection: close": _no_close,
    }
    for name, open_one in scenarios.items():
        log(f"{kind}: {n} x {name}")
        results[name] = _while_held(server, open_one, n, timeout)
    log(f"{kind}: {args.maximal} maximal requests")
    results["maximal requests"] = _maximal(server, args.maximal)
    log(f"{kind}: SIGTERM with {n} silent connections")
    results["shutdown"] = _shutdown(server, n, args.stop_wait)
    return results


def run(args: argparse.Namespace) -> int:
    out: Path = args.out
    with tempfile.TemporaryDirectory() as models:
        env = {
            **tiny_models(Path(models)),
            "HF_HUB_OFFLINE": "1",
            "TORCH_THREADS": "1",
            "ITEM_TIMEOUT_S": str(args.item_timeout),
        }
        results = {kind: _measure(kind, env, args, out) for kind in ("gunicorn", "front")}
    rows = []
    for name in [k for k in results["gunicorn"] if k not in ("maximal requests", "shutdown")]:
        rows += [[name, *(_cell(results[k][name]) for k in results)]]
    big = {k: results[k]["maximal requests"] for k in results}
    rows.append(["maximal: 504s (status, s)", *(str(big[k]["maximal"]) for k in big)])
    rows.append(["maximal: tiny alongside", *(str(big[k]["tiny"]) for k in big)])
    stop = {k: results[k]["shutdown"] for k in results}
    rows.append(["SIGTERM: /readyz then", *(str(stop[k]["readyz_after_sigterm"]) for k in stop)])
    rows.append(["SIGTERM: exit after (s)", *(str(stop[k]["exit_s"]) for k in stop)])
    print(table(["scenario", "gunicorn alone", "production front"], rows))
    save(out / "front.json", {"clients": args.clients, "results": results})
    return 0


def _cell(probe: dict[str, Any]) -> str:
    return "healthz {} in {}s, translate {} in {}s".format(*probe["healthz"], *probe["translate"])
