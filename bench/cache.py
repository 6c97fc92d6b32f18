"""cache: the output cache off, in memory and in Redis, side by side, on a Mastodon-like workload.

Posts of one to three sentences are translated by the real-shape en-fr model (random weights,
output pinned to --new-tokens, CTranslate2 int8 by default) over HTTP, one gunicorn per cache
setting, all three up at once and measured in turns (--rounds), each round starting with another
setup, so that load on the machine falls on each alike. A post is new with probability
1 - --repeat-share, else an earlier post drawn by Zipf (--zipf) over their order of appearance, as
a popular post is translated once per reader.
Each phase sends posts of its own (no phase hits another's entries):

- `repeats`: the Mastodon-like stream, at 1 and at --clients clients;
- `unique`: every post new, so every sentence misses: what a miss costs with the cache on.

Then the hit path alone, in-process: one sentence through `Engine.submit_many`, a miss (cache
off), a memory hit and a Redis hit. Needs Debian's redis-server for the Redis column (skipped
without it). Prints tables; writes cache.json.
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import socket
import statistics
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from bench.report import log, save, table
from harness.load import latency_summary
from harness.models import PAIR, pin_generation, prepare_models, tiny_models
from harness.server import Server, get, post
from harness.workload import text
from service.inference.seq2seq import GenerationParams
from service.ops.demo_models import TRAINING_TEXT

SETUPS = ("off", "memory", "redis")
_WORDS = sorted(set(re.findall(r"[a-z]+", " ".join(TRAINING_TEXT["en"]).lower())))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients (and 1)")
    parser.add_argument("--requests", type=int, default=96, help="requests per phase at 1 client")
    parser.add_argument("--rounds", type=int, default=2, help="turns over the three setups")
    parser.add_argument("--repeat-share", type=float, default=1 / 3, help="posts repeated")
    parser.add_argument("--zipf", type=float, default=1.1, help="Zipf exponent of repeats")
    parser.add_argument("--new-tokens", type=int, default=16, help="pinned output length")
    parser.add_argument("--compute-type", default="int8", help="CTranslate2 compute type")
    parser.add_argument("--threads", default="0", help="TORCH_THREADS of each server")
    parser.add_argument("--skip-http", action="store_true", help="the in-process part only")


def sentence(words: int, serial: int) -> str:
    """A sentence of `words` (at least 4) training words, another for every `serial`: its first
    three words spell `serial` in base len(_WORDS), the rest follow the training text."""
    digits = []
    for _ in range(3):
        serial, digit = divmod(serial, len(_WORDS))
        digits.append(_WORDS[digit])
    return " ".join(digits).capitalize() + " " + text(words - 3, offset=serial)[:-1].lower() + "."


def posts(count: int, repeat_share: float, zipf: float, *, seed: int, base: int) -> list[str]:
    """`count` posts: each new (1-3 sentences of 6-20 words, unique to this call's `base`) or,
    with probability `repeat_share`, an earlier one, the k-th earliest with weight 1/k^zipf."""
    rng = random.Random(seed)
    seen: list[str] = []
    stream = []
    for n in range(count):
        if seen and rng.random() < repeat_share:
            weights = [1 / (k + 1) ** zipf for k in range(len(seen))]
            stream.append(rng.choices(seen, weights)[0])
            continue
        sentences = [
            sentence(rng.randint(6, 20), base + 4 * n + i) for i in range(rng.randint(1, 3))
        ]
        seen.append(" ".join(sentences))
        stream.append(seen[-1])
    return stream


class _Redis:
    """A throwaway redis-server on a free 127.0.0.1 port."""

    def __init__(self, workdir: Path) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}"
        workdir.mkdir(parents=True, exist_ok=True)
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", str(workdir)]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def _cache_counts(url: str) -> tuple[float, float]:
    """(hits in any store, misses) of the translation model so far."""
    hits = misses = 0.0
    for family in text_string_to_metric_families(get(url, "/metrics").body):
        for sample in family.samples:
            if sample.labels.get("model") != PAIR:
                continue
            if sample.name == "service_cache_hits_total":
                hits += sample.value
            elif sample.name == "service_cache_misses_total":
                misses += sample.value
    return hits, misses


def _phase(url: str, stream: list[str], clients: int) -> dict[str, Any]:
    """Send `stream` in order from `clients` closed-loop clients; latency, rate, hit ratio."""
    before = _cache_counts(url)
    latencies: list[float] = []
    failures = 0
    lock = threading.Lock()
    cursor = iter(range(len(stream)))

    def client() -> None:
        nonlocal failures
        while True:
            with lock:
                n = next(cursor, None)
            if n is None:
                return
            reply = post(url, "/v1/translate", {"text": stream[n], "target": "fr"})
            with lock:
                latencies.append(reply.seconds)
                failures += reply.status != 200

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    after = _cache_counts(url)
    hits, misses = after[0] - before[0], after[1] - before[1]
    summary = latency_summary(latencies)
    return {
        "requests": len(stream),
        "failures": failures,
        "seconds": round(seconds, 2),
        "rps": round(len(stream) / seconds, 2),
        "p50_ms": round(summary["p50"], 1),
        "p95_ms": round(summary["p95"], 1),
        "sentence_hits": hits,
        "sentence_misses": misses,
        "hit_ratio": round(hits / (hits + misses), 3) if hits + misses else None,
    }


def _servers(args: argparse.Namespace, env: dict[str, str], redis_url: str | None) -> dict:
    setups = {
        "off": {"CACHE": "false"},
        "memory": {"CACHE": "true"},
        "redis": {"CACHE": "true", "CACHE_MEMORY_BYTES": "0", "CACHE_URL": redis_url or ""},
    }
    servers = {}
    for name, extra in setups.items():
        if name == "redis" and redis_url is None:
            continue
        servers[name] = Server(f"cache-{name}", env | extra, log_dir=args.out / "logs")
    for server in servers.values():
        server.wait_ready(timeout=600)
    return servers


def _http(args: argparse.Namespace, env: dict[str, str], redis_url: str | None) -> list[dict]:
    servers = _servers(args, env, redis_url)
    rows = []
    try:
        phases = [
            ("repeats", 1, args.requests, args.repeat_share),
            ("repeats", args.clients, 3 * args.requests, args.repeat_share),
            ("unique", 1, args.requests, 0.0),
            ("unique", args.clients, 3 * args.requests, 0.0),
        ]
        for round_no in range(args.rounds):
            for p, (workload, clients, count, share) in enumerate(phases):
                # Each round starts with another setup, so that no setup always runs last.
                turn = list(servers.items())
                turn = turn[round_no % len(turn) :] + turn[: round_no % len(turn)]
                for s, (name, server) in enumerate(turn):
                    base = 1_000_000 * (1 + round_no) + 100_000 * p + 10_000 * s
                    stream = posts(count, share, args.zipf, seed=round_no * 10 + p, base=base)
                    result = _phase(server.url, stream, clients)
                    row = {"round": round_no, "workload": workload, "clients": clients}
                    rows.append(row | {"cache": name} | result)
                    log(f"{workload} K={clients} {name}: {result}")
    finally:
        for server in servers.values():
            server.stop()
    return rows


def _engine_hit_path(args: argparse.Namespace, env: dict[str, str], redis_url: str | None):
    """Median ms of one sentence through `submit_many`: a miss, a memory hit, a Redis hit."""
    from service.core.config import Settings
    from service.inference.engine import Engine

    settings = Settings.from_env(env | {"EAGER_LOAD": "true"})
    sentence = text(12, offset=424242)
    results = []
    setups: list[tuple[str, dict[str, Any], int]] = [
        ("miss (cache off)", {"cache": False}, 20),
        ("memory hit", {"cache": True}, 300),
    ]
    if redis_url:
        setups.append(
            ("redis hit", {"cache": True, "cache_memory_bytes": 0, "cache_url": redis_url}, 300)
        )
    for name, changes, repeats in setups:
        engine = Engine(settings.replace(**changes)).start()
        try:
            model = engine.model(PAIR)
            ids = model.encode([sentence])

            def once(engine: Engine = engine, ids: list[list[int]] = ids) -> None:
                engine.submit_many(PAIR, ids, GenerationParams()).results()

            once()  # computes and keeps it where the cache is on
            if engine.cache is not None and engine.cache.redis is not None:
                engine.cache.redis.flush()
            results.append({"path": name, **_timed(once, repeats)})
            if engine.cache is not None:
                results += _miss_overhead(engine, name.split()[0], repeats)
        finally:
            engine.close(timeout=30)
    return results


def _miss_overhead(engine: Any, store: str, repeats: int) -> list[dict[str, Any]]:
    """What a miss costs with the cache on, beside the model: looking a never-seen sentence up
    (digest, memory, Redis), and keeping its output (digest, memory, the Redis queue)."""
    model = engine.model(PAIR)
    fresh = iter(model.encode([sentence(12, 5_000_000 + n) for n in range(2 * repeats + 2)]))
    params = GenerationParams()
    keys = engine._slots[PAIR].keys
    output = "Une phrase traduite de longueur moyenne, pour le cache."

    def look_up() -> None:
        engine._look_up(PAIR, [next(fresh)], params)

    def keep() -> None:
        engine.cache.store(PAIR, [(keys.digest({}, next(fresh)), output)])

    return [
        {"path": f"miss look-up ({store})", **_timed(look_up, repeats)},
        {"path": f"miss keep ({store})", **_timed(keep, repeats)},
    ]


def _timed(fn: Callable[[], None], repeats: int) -> dict[str, float]:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return {
        "repeats": repeats,
        "p50_ms": round(statistics.median(samples), 3),
        "p95_ms": round(samples[int(0.95 * (len(samples) - 1))], 3),
    }


def _summary(rows: list[dict]) -> list[dict]:
    """Per workload, clients and cache setting: medians over the rounds."""
    keys = sorted({(r["workload"], r["clients"], r["cache"]) for r in rows}, key=str)
    out = []
    for workload, clients, cache in keys:
        mine = [
            r
            for r in rows
            if (r["workload"], r["clients"], r["cache"]) == (workload, clients, cache)
        ]
        out.append(
            {
                "workload": workload,
                "clients": clients,
                "cache": cache,
                "rps": round(statistics.median(r["rps"] for r in mine), 2),
                "p50_ms": round(statistics.median(r["p50_ms"] for r in mine), 1),
                "p95_ms": round(statistics.median(r["p95_ms"] for r in mine), 1),
                "hit_ratio": mine[0]["hit_ratio"],
                "failures": sum(r["failures"] for r in mine),
            }
        )
    for row in out:
        off = next(
            r
            for r in out
            if (r["workload"], r["clients"], r["cache"]) == (row["workload"], row["clients"], "off")
        )
        row["rps_vs_off"] = round(row["rps"] / off["rps"], 3) if off["rps"] else None
    order = {name: i for i, name in enumerate(SETUPS)}
    return sorted(out, key=lambda r: (r["workload"], r["clients"], order[r["cache"]]))


def run(args: argparse.Namespace) -> int:
    root = args.out
    models = prepare_models(root / "models")
    pin_generation(models.translate, new_tokens=args.new_tokens)
    tiny = tiny_models(root / "models" / "tiny")
    env = {
        "SUMMARIZE_MODEL": tiny["SUMMARIZE_MODEL"],
        "TRANSLATE_MODELS": f"{PAIR}={models.translate}",
        "BACKEND": "ctranslate2",
        "COMPUTE_TYPE": args.compute_type,
        "CT2_CACHE_DIR": str(root / "ct2-cache"),
        "TORCH_THREADS": args.threads,
        "HF_HUB_OFFLINE": "1",
    }
    redis = _Redis(root / "redis") if shutil.which("redis-server") else None
    try:
        rows = [] if args.skip_http else _http(args, env, redis.url if redis else None)
        hit_path = _engine_hit_path(args, env, redis.url if redis else None)
    finally:
        if redis is not None:
            redis.stop()
    summary = _summary(rows)
    if summary:
        columns = ["workload", "clients", "cache", "rps", "rps_vs_off", "p50_ms", "p95_ms"]
        headers = ["workload", "clients", "cache", "req/s", "vs off", "p50 ms", "p95 ms"]
        rows_out = [[r[c] for c in columns] + [r["hit_ratio"]] for r in summary]
        print(table([*headers, "hit ratio"], rows_out))
    print()
    paths = [[h["path"], h["p50_ms"], h["p95_ms"], h["repeats"]] for h in hit_path]
    print(table(["one sentence", "p50 ms", "p95 ms", "n"], paths))
    save(
        root / "cache.json",
        {
            "settings": vars(args) | {"out": str(args.out)},
            "summary": summary,
            "hit_path": hit_path,
            "phases": rows,
        },
    )
    return 0
