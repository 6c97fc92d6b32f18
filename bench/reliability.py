"""Reliability: hostile input, concurrency, overload and soak against gunicorn.

    python -m bench reliability                     # about a minute on 2 CPU cores
    python -m bench reliability --soak-seconds 300

Nothing lost, nothing wrong, nothing unbounded. Builds the tiny demo models in a temporary
directory, starts gunicorn on 127.0.0.1 for the scenarios (as users start it; a second one with a
small queue for the overload burst), prints the figures and writes reliability.json under --out.
The scenarios are harness/scenarios.py's, which the system tests run too.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.report import log, save, table
from harness.models import tiny_models
from harness.scenarios import (
    Request,
    mixed_requests,
    reference_answers,
    run_concurrency,
    run_overload,
    run_soak,
)
from harness.server import Server, post
from harness.workload import text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--hostile", type=int, default=300, help="hostile inputs (default 300)")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients (default 32)")
    parser.add_argument("--per-client", type=int, default=5, help="requests each (default 5)")
    parser.add_argument("--burst", type=int, default=48, help="overload burst (default 48)")
    parser.add_argument("--soak-seconds", type=float, default=30, help="soak length (default 30)")


def hostile_inputs(count: int, seed: int = 0) -> list[tuple[str, bytes, str]]:
    """`count` seeded hostile requests (path, body bytes, content type): wrong types, control and
    bidi characters, lone surrogates, invalid UTF-8, deep nesting, wrong content types."""
    rng = random.Random(seed)
    specials = [
        "\x00",
        "\u200b\u200d\ufeff",
        "\u202e\u2066\u200f",
        "👩‍👩‍👧‍👦🇫🇷",
        "مرحبا world",
        " \t\n\u3000",
        "\ud800",
        "e\u0301\u0301",
        "..!?",
        "Hello world.",
    ]
    values: list[Callable[[], Any]] = [
        lambda: None,
        lambda: rng.choice([True, False]),
        lambda: rng.randint(-(2**40), 2**40),
        lambda: rng.uniform(-1e9, 1e9),
        lambda: rng.choice(specials),
        lambda: "".join(rng.choice(specials) for _ in range(rng.randint(0, 5))),
        lambda: [rng.choice(specials) for _ in range(rng.randint(0, 4))],
        lambda: {"nested": [rng.choice(specials)]},
        lambda: rng.choice(["fr", "ar", "en", "xx", "FR", ""]),
        lambda: rng.randint(1, 6),
    ]
    fields = ["text", "texts", "target", "source", "translate_to", "max_length", "num_beams"]
    paths = ["/v1/summarize", "/v1/translate", "/v1/articles"]
    inputs = []
    for _ in range(count):
        path = rng.choice(paths)
        roll = rng.random()
        if roll < 0.1:
            data = bytes(rng.randrange(256) for _ in range(rng.randint(0, 64)))
        elif roll < 0.15:
            depth = rng.randint(1_000, 100_000)
            data = b"[" * depth + b"]" * depth
        elif roll < 0.5:  # a well-formed request carrying hostile text
            hostile = "".join(rng.choice(specials) for _ in range(rng.randint(1, 4)))
            body = {"text": hostile}
            if path == "/v1/translate":
                body["target"] = rng.choice(["fr", "ar"])
            else:
                body["max_length"] = 6
            data = json.dumps(body).encode()
        else:
            body = {name: rng.choice(values)() for name in fields if rng.random() < 0.5}
            if path != "/v1/translate" and isinstance(body.get("max_length"), int):
                body["max_length"] = min(max(body["max_length"], -5), 8)
            data = json.dumps(body).encode()
        content_type = "application/json" if rng.random() < 0.9 else "text/plain"
        inputs.append((path, data, content_type))
    return inputs


def run_hostile(url: str, count: int) -> dict[str, Any]:
    """Send `count` hostile inputs; count outcomes, 5xx and malformed error bodies."""
    statuses: Counter[int] = Counter()
    bad_shape = 0
    for path, data, content_type in hostile_inputs(count):
        reply = post(url, path, data, content_type=content_type, timeout=60)
        statuses[reply.status] += 1
        if reply.status != 200:
            error = reply.body.get("error") if isinstance(reply.body, dict) else None
            if not isinstance(error, dict) or set(error) != {"code", "message", "field"}:
                bad_shape += 1
    good = post(url, "/v1/translate", {"text": "Good morning.", "target": "fr"})
    return {
        "inputs_tried": count,
        "statuses": dict(sorted(statuses.items())),
        "5xx": sum(n for status, n in statuses.items() if status >= 500 or status == 0),
        "bad_error_shape": bad_shape,
        "good_request_after": good.status,
    }


# ----- the command -----------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    report: dict[str, Any] = {}
    logs = args.out / "logs"
    with tempfile.TemporaryDirectory(prefix="reliability-") as tmp:
        base = tiny_models(Path(tmp)) | {"TORCH_THREADS": "1", "LOG_LEVEL": "WARNING"}
        server = Server("reliability", base, log_dir=logs)
        try:
            server.wait_ready()
            log(f"hostile input: {args.hostile} requests")
            report["hostile"] = run_hostile(server.url, args.hostile)
            requests = mixed_requests(30)
            references = reference_answers(server.url, requests)
            log(f"concurrency: {args.clients} x {args.per_client}")
            report["concurrency"] = run_concurrency(
                server.url, requests, references, clients=args.clients, per_client=args.per_client
            )
            log(f"soak: {args.soak_seconds} s")
            report["soak"] = run_soak(
                server.url,
                requests,
                references,
                seconds=args.soak_seconds,
                master_pid=server.process.pid,
            )
        finally:
            report["main_exit_code"] = server.stop()

        overload_env = base | {"MAX_QUEUE": "4", "MAX_BATCH_SIZE": "1", "MAX_WAIT_MS": "50"}
        server = Server("overload", overload_env, log_dir=logs)
        try:
            server.wait_ready()
            request: Request = ("/v1/summarize", {"text": text(40), "max_length": 40})
            (reference,) = reference_answers(server.url, [request])
            log(f"overload: burst of {args.burst}, MAX_QUEUE=4")
            report["overload"] = run_overload(
                server.url, request, reference, burst=args.burst, master_pid=server.process.pid
            )
        finally:
            report["overload_exit_code"] = server.stop()

    print(summary(report))
    save(args.out / "reliability.json", report)
    return 0


def summary(report: dict[str, Any]) -> str:
    """Every figure of every scenario as one table; the lists of examples are in the JSON."""
    rows = [
        [scenario, name, json.dumps(value, ensure_ascii=False)]
        for scenario in ("hostile", "concurrency", "overload", "soak")
        for name, value in report[scenario].items()
        if name not in ("failures", "wrong_examples")
    ]
    exits = [["exit code", name, report[f"{name}_exit_code"]] for name in ("main", "overload")]
    return table(["scenario", "figure", "value"], rows + exits)
