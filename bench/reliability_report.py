"""Reliability scenarios against the service under gunicorn: hostile input, concurrency, overload,
soak. Nothing lost, nothing wrong, nothing unbounded.

    .venv/bin/python -m bench.reliability_report             # ~1 min on 2 cores
    .venv/bin/python -m bench.reliability_report --soak-seconds 300

Builds the tiny demo models in a temporary directory, starts gunicorn on 127.0.0.1 for each
scenario (as users start it), prints the figures and writes them to bench/out/reliability.json.
The scenario functions take a base URL and are also what tests/test_concurrency.py,
tests/test_overload.py and tests/test_soak.py run and assert on.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.server import Reply, Server, get, model_metrics, post, rss_mib, worker_pid

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "reliability.json"

Request = tuple[str, dict[str, Any]]

_WORDS = (
    "the city council approved a new budget on tuesday after a long debate about public "
    "transport housing and school repairs officials said the plan would add two hundred buses "
    "to the network over the next three years heavy rain caused flooding in several northern "
    "towns over the weekend forcing hundreds of families to leave their homes"
).split()


def queue_depths(url: str) -> dict[str, float]:
    """service_queue_depth per model, scraped from /metrics."""
    return model_metrics(get(url, "/metrics").body).get("service_queue_depth", {})


# ----- workloads -------------------------------------------------------------------------------


def text(words: int, offset: int = 0) -> str:
    """A sentence of `words` words from a fixed vocabulary; `offset` varies the words."""
    return " ".join(_WORDS[(offset + i) % len(_WORDS)] for i in range(words)).capitalize() + "."


def mixed_requests(count: int) -> list[Request]:
    """`count` distinct requests over every endpoint: single texts and lists, 1 to ~60 words,
    summaries kept short (max_length) so a request costs milliseconds on the tiny models."""
    requests: list[Request] = []
    for i in range(count):
        words = 1 + (i * 13) % 60
        kind = i % 6
        if kind == 0:
            requests.append(("/v1/summarize", {"text": text(words, i), "max_length": 12}))
        elif kind == 1:
            requests.append(("/v1/translate", {"text": text(words, i), "target": "fr"}))
        elif kind == 2:
            requests.append(("/v1/translate", {"text": text(words, i), "target": "ar"}))
        elif kind == 3:
            texts = [text(1 + (words + k * 7) % 30, i + k) for k in range(1 + i % 4)]
            requests.append(("/v1/translate", {"texts": texts, "target": "ar"}))
        elif kind == 4:
            texts = [text(1 + (words + k * 5) % 40, i + k) for k in range(1 + i % 3)]
            requests.append(("/v1/summarize", {"texts": texts, "max_length": 10}))
        else:
            body = {"text": text(words, i), "translate_to": ["fr", "ar"], "max_length": 10}
            requests.append(("/v1/articles", body))
    return requests


def reference_answers(url: str, requests: Sequence[Request]) -> list[Any]:
    """Each request's answer when it runs alone (sequentially). Raises if one is not a 200."""
    answers = []
    for path, body in requests:
        reply = post(url, path, body)
        if reply.status != 200:
            raise RuntimeError(f"reference {path} {body}: {reply.status} {reply.body}")
        answers.append(reply.body)
    return answers


def _percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# ----- scenarios -------------------------------------------------------------------------------


def run_concurrency(
    url: str,
    requests: Sequence[Request],
    references: Sequence[Any],
    *,
    clients: int = 32,
    per_client: int = 5,
) -> dict[str, Any]:
    """`clients` threads each send `per_client` requests at once, all endpoints mixed.

    Every reply is compared with the answer its input got alone: `wrong` counts 200s with a
    different answer, `misrouted` the wrong ones that carry another input's answer, `lost`
    requests without a 200.
    """
    plan = [
        [(c * per_client + k) % len(requests) for k in range(per_client)] for c in range(clients)
    ]
    start = threading.Barrier(clients)

    def client(indices: list[int]) -> list[tuple[int, Reply]]:
        start.wait()
        return [(i, post(url, *requests[i])) for i in indices]

    began = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = [r for rs in pool.map(client, plan) for r in rs]
    seconds = time.perf_counter() - began
    answered = [(i, r) for i, r in results if r.status == 200]
    wrong = [(i, r) for i, r in answered if r.body != references[i]]
    misrouted = [
        (i, r) for i, r in wrong if any(r.body == ref for j, ref in enumerate(references) if j != i)
    ]
    return {
        "clients": clients,
        "sent": clients * per_client,
        "replies": len(results),
        "answered": len(answered),
        "lost": clients * per_client - len(answered),
        "wrong": len(wrong),
        "misrouted": len(misrouted),
        "statuses": dict(Counter(r.status for _, r in results)),
        "failures": [r.failure or r.body for _, r in results if r.status != 200][:5],
        "wrong_examples": [
            {"request": requests[i], "expected": references[i], "got": r.body} for i, r in wrong[:3]
        ],
        "seconds": round(seconds, 2),
    }


def run_overload(
    url: str,
    request: Request,
    reference: Any,
    *,
    burst: int = 48,
    master_pid: int | None = None,
    recovery_timeout: float = 120,
) -> dict[str, Any]:
    """Fire `burst` copies of `request` at once, beyond what the queue admits.

    Admitted requests must get `reference`; the others a 503 `overloaded` with Retry-After.
    Then probes the service until the first correct answer (`recovery_s`, from the last burst
    reply) and checks that a few more in a row are correct (`after_recovery_ok`).
    """
    pid = worker_pid(master_pid) if master_pid else None
    rss_before = rss_mib(pid) if pid else None
    start = threading.Barrier(burst)

    def one(_: int) -> Reply:
        start.wait()
        return post(url, *request)

    began = time.perf_counter()
    with ThreadPoolExecutor(burst) as pool:
        replies = list(pool.map(one, range(burst)))
    burst_end = time.perf_counter()
    admitted = [r for r in replies if r.status == 200]
    rejected = [r for r in replies if _is_overloaded(r)]
    other = [r for r in replies if r.status != 200 and not _is_overloaded(r)]
    recovery_s = None
    while time.perf_counter() - burst_end < recovery_timeout:
        probe = post(url, *request)
        if probe.status == 200 and probe.body == reference:
            recovery_s = time.perf_counter() - burst_end
            break
        time.sleep(0.05)
    after = [post(url, *request) for _ in range(5)]
    rss_after = rss_mib(pid) if pid else None
    return {
        "burst": burst,
        "admitted": len(admitted),
        "admitted_wrong": sum(r.body != reference for r in admitted),
        "rejected": len(rejected),
        "rejected_with_retry_after": sum("Retry-After" in r.headers for r in rejected),
        "retry_after_values": sorted({r.headers.get("Retry-After", "") for r in rejected}),
        "rejected_error": rejected[0].body["error"] if rejected else None,
        "other": dict(Counter(r.status for r in other)),
        "admitted_p50_s": _round(statistics.median([r.seconds for r in admitted] or [0])),
        "rejected_p50_s": _round(_percentile([r.seconds for r in rejected], 0.5)),
        "rejected_max_s": _round(max((r.seconds for r in rejected), default=None)),
        "burst_s": _round(burst_end - began),
        "recovery_s": _round(recovery_s),
        "after_recovery_ok": sum(r.status == 200 and r.body == reference for r in after),
        "queue_depth_after": queue_depths(url),
        "rss_before_mib": _round(rss_before),
        "rss_after_mib": _round(rss_after),
    }


def _is_overloaded(reply: Reply) -> bool:
    error = reply.body.get("error") if isinstance(reply.body, dict) else None
    return reply.status == 503 and isinstance(error, dict) and error.get("code") == "overloaded"


def run_soak(
    url: str,
    requests: Sequence[Request],
    references: Sequence[Any],
    *,
    seconds: float,
    clients: int = 4,
    master_pid: int | None = None,
    warmup_s: float = 3,
) -> dict[str, Any]:
    """Steady closed-loop load for `seconds` after `warmup_s`; RSS sampled every ~0.5 s.

    Compares the last quarter of the run with the first: mean RSS and median latency.
    """
    pid = worker_pid(master_pid) if master_pid else None
    stop = threading.Event()
    samples: list[tuple[float, float, int, bool]] = []  # (t, latency, status, correct)
    rss: list[tuple[float, float]] = []
    lock = threading.Lock()
    began = time.perf_counter()
    measure_from = began + warmup_s
    end = measure_from + seconds

    def client(c: int) -> None:
        n = c
        while not stop.is_set() and time.perf_counter() < end:
            i = n % len(requests)
            n += clients
            reply = post(url, *requests[i])
            now = time.perf_counter()
            if now >= measure_from:
                with lock:
                    ok = reply.status == 200 and reply.body == references[i]
                    samples.append((now - measure_from, reply.seconds, reply.status, ok))

    def sampler() -> None:
        while not stop.wait(0.5):
            now = time.perf_counter()
            if pid and now >= measure_from:
                value = rss_mib(pid)
                if value is not None:
                    rss.append((now - measure_from, value))

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    threads.append(threading.Thread(target=sampler))
    for thread in threads:
        thread.start()
    try:
        while time.perf_counter() < end:
            time.sleep(0.2)
    finally:
        stop.set()
        for thread in threads:
            thread.join()

    def quarter(rows: list[tuple], first: bool) -> list[tuple]:
        cut = seconds / 4
        return [r for r in rows if (r[0] < cut if first else r[0] >= seconds - cut)]

    latency_first = [r[1] for r in quarter(samples, True)]
    latency_last = [r[1] for r in quarter(samples, False)]
    rss_first = [r[1] for r in quarter(rss, True)]
    rss_last = [r[1] for r in quarter(rss, False)]
    return {
        "seconds": seconds,
        "clients": clients,
        "requests": len(samples),
        "errors": sum(status != 200 for _, _, status, _ in samples),
        "wrong": sum(status == 200 and not ok for _, _, status, ok in samples),
        "p50_first_quarter_s": _round(_percentile(latency_first, 0.5)),
        "p50_last_quarter_s": _round(_percentile(latency_last, 0.5)),
        "p99_s": _round(_percentile([r[1] for r in samples], 0.99)),
        "rss_first_quarter_mib": _round(statistics.mean(rss_first) if rss_first else None),
        "rss_last_quarter_mib": _round(statistics.mean(rss_last) if rss_last else None),
        "rss_max_mib": _round(max((r[1] for r in rss), default=None)),
        "rss_samples": len(rss),
    }


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


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


# ----- the report ------------------------------------------------------------------------------


def _serve(env: dict[str, str], logs: Path, name: str) -> Server:
    server = Server(name, env, log_dir=logs)
    server.wait_ready()
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hostile", type=int, default=300, help="hostile inputs to send")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--per-client", type=int, default=5)
    parser.add_argument("--burst", type=int, default=48)
    parser.add_argument("--soak-seconds", type=float, default=30)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)

    from service.demo_models import build_demo_models

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="reliability-") as tmp:
        models = build_demo_models(Path(tmp) / "models", arch="tiny")
        logs = Path(tmp)
        base = {
            "SUMMARIZE_MODEL": str(models["summarize"]),
            "TRANSLATE_MODELS": f"en-fr={models['en-fr']},en-ar={models['en-ar']}",
            "HF_HUB_OFFLINE": "1",
            "TORCH_THREADS": "1",
            "LOG_LEVEL": "WARNING",
        }

        server = _serve(base, logs, "main")
        try:
            print(f"hostile input: {args.hostile} requests ...", flush=True)
            report["hostile"] = run_hostile(server.url, args.hostile)
            requests = mixed_requests(30)
            references = reference_answers(server.url, requests)
            print(f"concurrency: {args.clients} x {args.per_client} ...", flush=True)
            report["concurrency"] = run_concurrency(
                server.url, requests, references, clients=args.clients, per_client=args.per_client
            )
            print(f"soak: {args.soak_seconds} s ...", flush=True)
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
        server = _serve(overload_env, logs, "overload")
        try:
            request: Request = ("/v1/summarize", {"text": text(40), "max_length": 40})
            (reference,) = reference_answers(server.url, [request])
            print(f"overload: burst of {args.burst}, MAX_QUEUE=4 ...", flush=True)
            report["overload"] = run_overload(
                server.url, request, reference, burst=args.burst, master_pid=server.process.pid
            )
        finally:
            report["overload_exit_code"] = server.stop()

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(_summary(report))
    print(f"\nwritten to {args.out}")
    return 0


def _summary(report: dict[str, Any]) -> str:
    h, c, o, s = (report[k] for k in ("hostile", "concurrency", "overload", "soak"))
    return "\n".join(
        [
            "",
            "hostile input",
            f"  inputs tried        {h['inputs_tried']}",
            f"  statuses            {h['statuses']}",
            f"  5xx / no answer     {h['5xx']}",
            f"  bad error shape     {h['bad_error_shape']}",
            f"  good request after  HTTP {h['good_request_after']}",
            f"concurrency ({c['clients']} clients)",
            f"  sent / answered     {c['sent']} / {c['answered']}",
            f"  lost / wrong        {c['lost']} / {c['wrong']} (misrouted {c['misrouted']})",
            f"  wall time           {c['seconds']} s",
            f"overload (burst {o['burst']}, MAX_QUEUE=4)",
            f"  admitted / rejected {o['admitted']} / {o['rejected']} (other {o['other']})",
            f"  admitted wrong      {o['admitted_wrong']}",
            f"  Retry-After on 503  {o['rejected_with_retry_after']} / {o['rejected']}",
            f"  p50 admitted        {o['admitted_p50_s']} s, rejected {o['rejected_p50_s']} s",
            f"  recovery            {o['recovery_s']} s to the first good answer; "
            f"{o['after_recovery_ok']}/5 good after",
            f"  queue depth after   {o['queue_depth_after']}",
            f"  RSS before / after  {o['rss_before_mib']} / {o['rss_after_mib']} MiB",
            f"soak ({s['seconds']} s, {s['clients']} clients)",
            f"  requests / errors   {s['requests']} / {s['errors']} (wrong {s['wrong']})",
            f"  p50 first / last q  {s['p50_first_quarter_s']} / {s['p50_last_quarter_s']} s",
            f"  RSS first / last q  {s['rss_first_quarter_mib']} / {s['rss_last_quarter_mib']} MiB"
            f" (max {s['rss_max_mib']})",
            f"exit codes            main {report['main_exit_code']}, "
            f"overload {report['overload_exit_code']}",
        ]
    )


if __name__ == "__main__":
    raise SystemExit(main())
