"""Throughput: raw `generate` ceiling vs the engine vs HTTP, batching on and off.

    python -m bench                                          # CPU, quick profile
    python -m bench throughput --device cuda --dtype float16  # GPU, full profile

One run measures everything it compares, interleaved in rounds so that a noisy shared machine
hits every stage alike:

1. ceiling: `model.generate` on pre-tokenised, right-padded batches of 1..N (powers of two), no
   queue, no threads, no decode;
2. engine: K closed-loop threads calling `Engine.submit(...).result()` with one sentence each;
3. HTTP: gunicorn with the service, K keep-alive clients POSTing one sentence to /v1/translate,
   batching on (MAX_BATCH_SIZE=N) and off (1), then a lone client's latency on both;
4. summarisation, a thin slice: the ceiling and the engine, one article per item.

Output length is pinned (min_new_tokens == max_new_tokens, greedy) so random weights cost what
trained ones do. Prints tables; writes results-<device>.json and .png under --out.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
from prometheus_client import generate_latest

from bench import backends
from bench.ceiling import ceiling_curve, ceiling_pass, compare
from bench.report import cpu_model, log, save, throughput_plot, throughput_tables
from harness import workload
from harness.load import Window, closed_loop, latency_summary
from harness.models import PAIR, BenchModels, pin_generation, prepare_models
from harness.server import Connection, Server, get, model_metrics, rss_mib, worker_pid
from service.core.config import Settings
from service.inference.engine import Engine
from service.inference.registry import SUMMARIZE, load_model
from service.inference.seq2seq import GenerationParams, Seq2SeqModel

# Targets from the issue; benchmarks to compare against, not tests.
TARGET_VS_CEILING = 0.8
TARGET_LONE_LATENCY = 1.2
TARGET_ON_OFF_GPU_64 = 100.0
LONE_REQUESTS = 20  # per server, alternating between them
CEILING_REPS = 3  # generate calls per batch size per round

# Translation: K list, pinned output length, seconds of warm-up and window per load point.
# Summarisation (a thin slice): ceiling batch sizes, K list, output length, article, window.
# fmt: off
PROFILES: dict[str, dict[str, Any]] = {
    "quick": dict(
        clients=[1, 4, 16, 32], new_tokens=16, warmup=1.0, window=5.0,
        summarize_batch_sizes=[1, 2], summarize_clients=[1, 2], summarize_tokens=16,
        article_paragraphs=1, summarize_window=8.0,
    ),
    "full": dict(
        clients=[1, 8, 32, 64, 128], new_tokens=32, warmup=2.0, window=10.0,
        summarize_batch_sizes=[1, 2, 4, 8, 16], summarize_clients=[1, 4, 16], summarize_tokens=64,
        article_paragraphs=4, summarize_window=10.0,
    ),
}
# fmt: on
_COUNTERS = ("service_batch_size_count", "service_batch_size_sum", "service_generated_tokens_total")

# A stage runs K closed-loop clients: stage(K, warmup_s, window_s).
Stage = Callable[[int, float, float], Window]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    def ints(raw: str) -> list[int]:
        return [int(v) for v in raw.split(",") if v.strip()]

    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    parser.add_argument("--dtype", default="float32", help="float32 (default), float16 or bfloat16")
    parser.add_argument(
        "--profile", choices=PROFILES, help="settings: quick (default on CPU) or full (on CUDA)"
    )
    parser.add_argument(
        "--clients", type=ints, help="K list, e.g. 1,8,32 (ceiling: powers of 2 up to max K)"
    )
    parser.add_argument(
        "--rounds", type=int, default=2, help="interleaved rounds of every measurement (default 2)"
    )
    parser.add_argument("--window", type=float, help="seconds of each load window")
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=0,
        help="TORCH_THREADS for the engine and the servers (default 0: one per core)",
    )
    parser.add_argument(
        "--backends",
        type=backends.parse,
        default=[backends.BASELINE],
        help="HTTP stages for each, side by side: e.g. transformers,ctranslate2:int8 "
        "(default transformers)",
    )
    parser.add_argument("--no-http", action="store_true", help="skip the HTTP stages")
    parser.add_argument("--no-summarize", action="store_true", help="skip summarisation")


def _apply_profile(args: argparse.Namespace) -> None:
    """Fill what the command line left out from the profile; --window sets both windows."""
    args.profile = args.profile or ("full" if args.device.startswith("cuda") else "quick")
    if args.window is not None:
        args.summarize_window = args.window
    for name, value in PROFILES[args.profile].items():
        if getattr(args, name, None) is None:
            setattr(args, name, value)
    args.summarize_rounds = max(1, args.rounds // 2) if args.profile == "quick" else args.rounds
    top = max(args.clients)
    args.batch_sizes = sorted({2**i for i in range(top.bit_length())} | {top})
    args.max_batch_size = max(32, top)


# ----- stages and rounds -----------------------------------------------------------------------


def counters(exposition: str, key: str) -> tuple[float, ...]:
    """Batches, batched items and generated tokens of model `key` so far."""
    values = model_metrics(exposition)
    return tuple(values.get(name, {}).get(key, 0.0) for name in _COUNTERS)


def engine_stage(
    engine: Engine, key: str, pool: list[list[int]], params: GenerationParams
) -> Stage:
    """K threads, each submitting one pre-tokenised item at a time through Engine.submit."""

    def run(k: int, warmup: float, window: float) -> Window:
        def make_call(i: int) -> Callable[[], str]:
            positions = itertools.count(i, k)
            return lambda: engine.submit(key, pool[next(positions) % len(pool)], params).result()

        def probe() -> tuple[float, ...]:
            return counters(generate_latest(engine.metrics.registry).decode(), key)

        return closed_loop(k, make_call, warmup_s=warmup, window_s=window, probe=probe)

    return run


def http_stage(server: Server, bodies: list[bytes]) -> Stage:
    """K threads, each with its own keep-alive connection, POSTing one sentence at a time."""

    def run(k: int, warmup: float, window: float) -> Window:
        server.wait_ready()
        connections: list[Connection] = []

        def make_call(i: int) -> Callable[[], None]:
            connection = Connection(server.url, timeout=600)
            connections.append(connection)
            positions = itertools.count(i, k)

            def call() -> None:
                body = bodies[next(positions) % len(bodies)]
                reply = connection.request("POST", "/v1/translate", body)
                if reply.status != 200:
                    raise RuntimeError(f"HTTP {reply.status}: {reply.failure or reply.body!r:.200}")

            return call

        def probe() -> tuple[float, ...]:
            return counters(get(server.url, "/metrics").body, PAIR)

        try:
            return closed_loop(k, make_call, warmup_s=warmup, window_s=window, probe=probe)
        finally:
            for connection in connections:
                connection.close()

    return run


def figures(windows: list[Window], new_tokens: int) -> dict[str, Any]:
    """One K over one or more windows: latencies pooled, throughput K / pooled mean latency, the
    mean batch from the service's own counters over the windows."""
    k = windows[0].clients
    latencies = [s for w in windows for s in w.latencies()]
    seconds = sum(w.seconds for w in windows)
    batches, items, tokens = (
        sum(w.probes[1][i] - w.probes[0][i] for w in windows) for i in range(3)
    )
    items_per_s = k / statistics.fmean(latencies) if latencies else 0.0
    errors = [e for w in windows for e in w.errors()]
    return {
        "clients": k,
        "window_s": seconds,
        "items": len(latencies),
        "errors": len(errors),
        "items_per_s": items_per_s,
        "completed_per_s": sum(w.completed() for w in windows) / seconds,
        "tokens_per_s": items_per_s * new_tokens,
        "latency_ms": latency_summary(latencies),
        "mean_batch": items / batches if batches else None,
        "generated_tokens_per_item": tokens / items if items else None,
        "loadavg": max(w.loadavg for w in windows),
        "error_sample": repr(errors[0])[:300] if errors else None,
    }


def point(windows: list[Window], new_tokens: int, curve: list[dict[str, Any]]) -> dict[str, Any]:
    """A K's rounds pooled, with the ceiling at its mean batch size and at batch K (every
    client's item in one batch: the gap between the two is what smaller batches cost)."""
    result = figures(windows, new_tokens)
    result["rounds"] = len(windows)
    result["per_round"] = [figures([w], new_tokens) for w in windows]
    return result | compare(curve, result["items_per_s"], result["mean_batch"], result["clients"])


def measure(
    model: Seq2SeqModel,
    pool: list[list[int]],
    stages: dict[str, Stage],
    *,
    sizes: list[int],
    clients: list[int],
    rounds: int,
    new_tokens: int,
    warmup: float,
    window: float,
) -> dict[str, Any]:
    """Ceiling passes and every stage at every K, interleaved round by round.

    Each round runs one ceiling pass, then every K (up in one round, down in the next), and at
    each K every stage in an order that rotates with K and the round, so that a burst of load
    from elsewhere on the machine does not always land on the same stage.
    """
    log("warming up the ceiling and every stage")
    ceiling_pass(model, pool, sizes, new_tokens, reps=1)
    for stage in stages.values():
        stage(min(4, max(clients)), 0.2, 1.0)
    timings: dict[int, list[float]] = {}
    windows: dict[str, dict[int, list[Window]]] = {
        name: {k: [] for k in clients} for name in stages
    }
    for round_no in range(rounds):
        log(f"round {round_no + 1}/{rounds}: ceiling at batch sizes {sizes}")
        passed = ceiling_pass(
            model, pool, sizes, new_tokens, reps=CEILING_REPS, offset=5 * round_no
        )
        for size, seconds in passed.items():
            timings.setdefault(size, []).extend(seconds)
        for i, k in enumerate(clients if round_no % 2 == 0 else clients[::-1]):
            names = list(stages)
            shift = (i + round_no) % len(names)
            for name in names[shift:] + names[:shift]:
                result = stages[name](k, warmup, window)
                windows[name][k].append(result)
                now = figures([result], new_tokens)
                log(
                    f"  {name} K={k}: {now['items_per_s']:.2f} items/s, p50 "
                    f"{now['latency_ms'].get('p50', 0):.0f} ms, batch {now['mean_batch']}, "
                    f"errors {now['errors']}"
                )
    curve = ceiling_curve(timings, new_tokens)
    points = {
        name: [point(w[k], new_tokens, curve) for k in clients] for name, w in windows.items()
    }
    return {"ceiling": curve, **points}


def server_env(args: argparse.Namespace, models: BenchModels, max_batch_size: int) -> dict:
    """The service's settings for the engine and the servers; only MAX_BATCH_SIZE differs. The
    transformers backend, as the ceiling runs `model.generate` (`--backends` adds others)."""
    return {
        "BACKEND": "transformers",
        "SUMMARIZE_MODEL": str(models.summarize),
        "TRANSLATE_MODELS": f"{PAIR}={models.translate}",
        "DEVICE": args.device,
        "DTYPE": args.dtype,
        "TORCH_THREADS": str(args.torch_threads),
        "MAX_BATCH_SIZE": str(max_batch_size),
        # Closed-loop clients never overflow the queue, and nothing may time out.
        "MAX_QUEUE": "4096",
        "ITEM_TIMEOUT_S": "600",
        # As the ceiling pads: to each batch's longest input. `bench invariance` measures what
        # the default buckets cost on top.
        "BATCH_BUCKET_TOKENS": "0",
    }


def _load_copy(engine: Engine, key: str) -> Seq2SeqModel:
    """A second copy of the engine's model `key`, for the ceiling: the engine's own copy belongs
    to its batch worker."""
    assert engine.placement is not None
    spec = next(spec for spec in engine.specs if spec.key == key)
    return load_model(spec, engine.placement, engine.settings.backend)


def summarize(args: argparse.Namespace, engine: Engine) -> dict[str, Any]:
    model = _load_copy(engine, SUMMARIZE)
    pool = model.encode([workload.article(args.article_paragraphs)])
    tokens = args.summarize_tokens
    params = GenerationParams(num_beams=1, min_new_tokens=tokens, max_new_tokens=tokens)
    log(f"summarize: article of {len(pool[0])} tokens")
    result = measure(
        model,
        pool,
        {"engine": engine_stage(engine, SUMMARIZE, pool, params)},
        sizes=args.summarize_batch_sizes,
        clients=args.summarize_clients,
        rounds=args.summarize_rounds,
        new_tokens=tokens,
        warmup=0.0,
        window=args.summarize_window,
    )
    del model
    gc.collect()
    return {"article_tokens": len(pool[0]), "new_tokens": tokens, **result}


def lone_latency(servers: dict[str, Server], body: bytes) -> dict[str, dict[str, float]]:
    """One client, sequential requests, alternating between the servers request by request."""
    connections = {name: Connection(server.url, timeout=600) for name, server in servers.items()}
    seconds: dict[str, list[float]] = {name: [] for name in servers}
    for _ in range(LONE_REQUESTS):
        for name, connection in connections.items():
            reply = connection.request("POST", "/v1/translate", body)
            if reply.status != 200:
                raise RuntimeError(f"{name}: HTTP {reply.status}: {reply.failure or reply.body}")
            seconds[name].append(reply.seconds)
    for connection in connections.values():
        connection.close()
    return {name: latency_summary(values) for name, values in seconds.items()}


def translate(args: argparse.Namespace, engine: Engine, models: BenchModels) -> dict[str, Any]:
    model = _load_copy(engine, PAIR)
    sentences = workload.sentences()
    pool = model.encode(sentences)
    tokens = args.new_tokens
    params = GenerationParams(num_beams=1, min_new_tokens=tokens, max_new_tokens=tokens)
    stages: dict[str, Stage] = {"engine": engine_stage(engine, PAIR, pool, params)}
    bodies = [json.dumps({"text": s, "source": "en", "target": "fr"}).encode() for s in sentences]
    threads = max(args.clients) + 4  # a request thread per client, and room for /metrics
    servers = {}
    if not args.no_http:
        log(f"http: starting gunicorn for {', '.join(args.backends)}, batching on and off")
        for spec in args.backends:
            for batching, size in (("on", args.max_batch_size), ("off", 1)):
                name = backends.server_name(spec, batching)
                env = server_env(args, models, size) | backends.env(spec, args, models.summarize)
                logs = args.out / "logs"
                servers[name] = Server(f"batching-{name}", env, threads=threads, log_dir=logs)
                stages[f"http_{name}"] = http_stage(servers[name], bodies)
    try:
        result = measure(
            model,
            pool,
            stages,
            sizes=args.batch_sizes,
            clients=args.clients,
            rounds=args.rounds,
            new_tokens=tokens,
            warmup=args.warmup,
            window=args.window,
        )
        if servers:
            log(f"http: lone-request latency, {LONE_REQUESTS} sequential requests each")
            result["lone_latency_ms"] = lone_latency(servers, bodies[0])
            result["http_threads"] = threads
            result["http_logs"] = {name: str(s.log_path) for name, s in servers.items()}
            pids = {name: worker_pid(s.process.pid) for name, s in servers.items()}
            result["rss_mib"] = {name: pid and rss_mib(pid) for name, pid in pids.items()}
            result["backends"] = args.backends
            result["backend_ratios"] = backends.compare(result)
    finally:
        for server in servers.values():
            server.stop()
    result["sentence_tokens"] = sorted(len(ids) for ids in pool)
    return result


# ----- ratios ----------------------------------------------------------------------------------


def ratios(results: dict[str, Any]) -> dict[str, Any]:
    tr, sm = results["translate"], results.get("summarize")
    out: dict[str, Any] = {
        f"{stage}_vs_ceiling": {p["clients"]: p["vs_ceiling"] for p in tr[stage]}
        for stage in ("engine", "http_on", "http_off")
        if stage in tr
    }
    out["target_vs_ceiling"] = TARGET_VS_CEILING
    if sm:
        out["summarize_engine_vs_ceiling"] = {p["clients"]: p["vs_ceiling"] for p in sm["engine"]}
    if "http_on" in tr:
        out["batching_on_vs_off"] = {
            on["clients"]: on["items_per_s"] / off["items_per_s"] if off["items_per_s"] else None
            for on, off in zip(tr["http_on"], tr["http_off"], strict=True)
        }
        lone = tr["lone_latency_ms"]
        out["lone_p50_on_vs_off"] = lone["on"]["p50"] / lone["off"]["p50"]
        out["target_lone_p50_on_vs_off"] = TARGET_LONE_LATENCY
        out["target_on_vs_off_gpu_64_clients"] = TARGET_ON_OFF_GPU_64
    return out


def run(args: argparse.Namespace) -> int:
    _apply_profile(args)
    started = time.perf_counter()
    log(
        f"profile {args.profile}: K {args.clients}, batch sizes {args.batch_sizes}, "
        f"{args.new_tokens} new tokens, {args.rounds} rounds"
    )
    models = prepare_models(args.out / "models")
    pin_generation(models.translate, new_tokens=args.new_tokens)
    pin_generation(models.summarize, new_tokens=args.summarize_tokens)
    log("engine: loading the models through the registry")
    engine = Engine(Settings.from_env(server_env(args, models, args.max_batch_size))).start()
    assert engine.device is not None
    device = engine.device
    meta = {
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"CPU {cpu_model()}",
        "dtype": str(engine.dtype).removeprefix("torch."),
        "torch_threads": torch.get_num_threads(),
        "profile": args.profile,
        "new_tokens": args.new_tokens,
        "num_beams": 1,
        "words_per_sentence": workload.WORDS,
        "max_batch_size": args.max_batch_size,
        "max_wait_ms": engine.settings.max_wait_ms,
        "rounds": args.rounds,
        "warmup_s": args.warmup,
        "window_s": args.window,
    }
    results: dict[str, Any] = {"meta": meta}
    try:
        if not args.no_summarize:
            results["summarize"] = summarize(args, engine)
        results["translate"] = translate(args, engine, models)
    finally:
        engine.close(timeout=60)
    results["ratios"] = ratios(results)
    meta["wall_s"] = time.perf_counter() - started
    print(throughput_tables(results), flush=True)
    if len(results["translate"].get("backends", [])) > 1:
        print("\n" + backends.tables(results["translate"]), flush=True)
    suffix = device.type if device.type == "cpu" else f"{device.type}-{args.dtype}"
    throughput_plot(
        save(args.out / f"results-{suffix}.json", results), args.out / f"results-{suffix}.png"
    )
    log(f"done in {meta['wall_s']:.0f} s")
    return 0
