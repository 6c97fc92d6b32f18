"""Benchmark the service: raw `generate` ceiling vs the engine vs HTTP, batching on and off.

    .venv/bin/python -m bench.run                      # CPU, quick (default), ~10 min on 2 cores
    .venv/bin/python -m bench.run --device cuda --dtype float16   # GPU, full profile

One run measures everything it compares, interleaved in rounds so that a noisy shared machine
hits every stage alike:

1. ceiling: `model.generate` on pre-tokenised, padded batches of 1..N (powers of two);
2. engine: K closed-loop threads calling `Engine.submit(...).result()` with one sentence each;
3. HTTP: gunicorn with the service, K keep-alive clients POSTing one sentence to /v1/translate,
   batching on (MAX_BATCH_SIZE=N) and off (MAX_BATCH_SIZE=1), plus a lone client's latency;
4. (summarisation, a thin slice) ceiling at batch 1..2 and the engine at K=1..2, one article each.

Output length is pinned (min_new_tokens == max_new_tokens, greedy) so random weights cost what
trained ones do. Prints tables; writes JSON and a PNG plot under --out.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402
import transformers  # noqa: E402
from prometheus_client import generate_latest  # noqa: E402
from transformers.utils import logging as transformers_logging  # noqa: E402

from bench import report, workload  # noqa: E402
from bench.ceiling import ceiling_pass  # noqa: E402
from bench.measure import Counters, LoadResult, closed_loop, latency_summary  # noqa: E402
from bench.models import BenchModels, prepare_models  # noqa: E402
from bench.server import Connection, Server, get, model_metrics  # noqa: E402
from service.config import Settings  # noqa: E402
from service.inference.engine import Engine  # noqa: E402
from service.inference.registry import SUMMARIZE, ModelSpec, load_model  # noqa: E402
from service.inference.seq2seq import GenerationParams, Seq2SeqModel  # noqa: E402

BENCH_DIR = Path(__file__).resolve().parent
PAIR = "en-fr"

PROFILES: dict[str, dict[str, Any]] = {
    "quick": {
        "clients": [1, 4, 16, 32],
        "new_tokens": 16,
        "rounds": 2,
        "warmup": 1.0,
        "window": 5.0,
        "ceiling_reps": 3,
        "summarize_batch_sizes": [1, 2],
        "summarize_clients": [1, 2],
        "summarize_tokens": 16,
        "article_paragraphs": 1,
        "summarize_window": 8.0,
    },
    "full": {
        "clients": [1, 8, 32, 64, 128],
        "new_tokens": 32,
        "rounds": 2,
        "warmup": 2.0,
        "window": 10.0,
        "ceiling_reps": 3,
        "summarize_batch_sizes": [1, 2, 4, 8, 16],
        "summarize_clients": [1, 4, 16],
        "summarize_tokens": 64,
        "article_paragraphs": 4,
        "summarize_window": 10.0,
    },
}


def _ints(raw: str) -> list[int]:
    return [int(v) for v in raw.split(",") if v.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    parser.add_argument("--dtype", default="float32", help="float32, float16 or bfloat16")
    profile = parser.add_mutually_exclusive_group()
    profile.add_argument(
        "--quick",
        dest="profile",
        action="store_const",
        const="quick",
        help="small settings (default on CPU)",
    )
    profile.add_argument(
        "--full",
        dest="profile",
        action="store_const",
        const="full",
        help="large settings (default on CUDA)",
    )
    parser.add_argument("--clients", type=_ints, help="K list, e.g. 1,8,32,64,128")
    parser.add_argument(
        "--batch-sizes", type=_ints, help="ceiling batch sizes (default: powers of 2 up to max K)"
    )
    parser.add_argument("--new-tokens", type=int, help="pinned translation output length")
    parser.add_argument("--words", type=int, default=10, help="words per sentence (default 10)")
    parser.add_argument("--num-beams", type=int, default=1, help="beams (default 1, greedy)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds of every measurement")
    parser.add_argument("--warmup", type=float, help="seconds before each load window")
    parser.add_argument("--window", type=float, help="seconds of each load window")
    parser.add_argument("--ceiling-reps", type=int, help="generate calls per batch size per pass")
    parser.add_argument(
        "--max-batch-size",
        type=int,
        help="engine MAX_BATCH_SIZE with batching on (default max(32, max K))",
    )
    parser.add_argument("--max-wait-ms", type=float, help="engine MAX_WAIT_MS (service default)")
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=0,
        help="TORCH_THREADS for the engine and servers (0: one per core)",
    )
    parser.add_argument("--no-http", action="store_true", help="skip the HTTP stage")
    parser.add_argument(
        "--lone-requests",
        type=int,
        default=20,
        help="sequential requests per server for lone-request latency",
    )
    parser.add_argument("--no-summarize", action="store_true", help="skip summarisation")
    parser.add_argument("--summarize-batch-sizes", type=_ints)
    parser.add_argument("--summarize-clients", type=_ints)
    parser.add_argument("--summarize-tokens", type=int, help="pinned summary length")
    parser.add_argument("--article-paragraphs", type=int, help="paragraphs per article")
    parser.add_argument("--summarize-window", type=float)
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "out", help="output folder")
    parser.add_argument("--models-dir", type=Path, default=BENCH_DIR / "out" / "models")
    args = parser.parse_args(argv)
    if args.profile is None:
        args.profile = "full" if args.device.startswith("cuda") else "quick"
    for name, value in PROFILES[args.profile].items():
        if getattr(args, name, None) is None:
            setattr(args, name, value)
    if args.batch_sizes is None:
        top = max(args.clients)
        args.batch_sizes = [2**i for i in range(top.bit_length()) if 2**i <= top]
        if args.batch_sizes[-1] < top:
            args.batch_sizes.append(top)
    if args.max_batch_size is None:
        args.max_batch_size = max(32, max(args.clients))
    if args.max_wait_ms is None:
        args.max_wait_ms = Settings.defaults().max_wait_ms
    return args


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')} load {os.getloadavg()[0]:.2f}] {message}", flush=True)


# ----- metadata --------------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or "unknown"
    for line in out.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def _git_commit() -> str | None:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=BENCH_DIR,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def metadata(args: argparse.Namespace, engine: Engine) -> dict[str, Any]:
    device = engine.device
    assert device is not None
    device_name = (
        torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU {_cpu_model()}"
    )
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join([Path(sys.executable).name, "-m", "bench.run", *sys.argv[1:]]),
        "git_commit": _git_commit(),
        "device": str(device),
        "device_name": device_name,
        "dtype": str(engine.dtype).removeprefix("torch."),
        "cpu_model": _cpu_model(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "profile": args.profile,
        "new_tokens": args.new_tokens,
        "num_beams": args.num_beams,
        "words_per_sentence": args.words,
        "max_batch_size": args.max_batch_size,
        "max_wait_ms": args.max_wait_ms,
        "rounds": args.rounds,
        "warmup_s": args.warmup,
        "window_s": args.window,
        "loadavg_start": list(os.getloadavg()),
    }


# ----- stages ----------------------------------------------------------------------------------


def counters(exposition: str, key: str) -> Counters:
    """Batch and token counters of model `key` from a Prometheus exposition."""
    values = model_metrics(exposition)
    return Counters(
        *(
            values.get(name, {}).get(key, 0.0)
            for name in (
                "service_batch_size_count",
                "service_batch_size_sum",
                "service_generated_tokens_total",
            )
        )
    )


def engine_counters(engine: Engine, key: str) -> Counters:
    return counters(generate_latest(engine.metrics.registry).decode(), key)


def server_counters(server: Server, key: str) -> Counters:
    return counters(get(server.url, "/metrics").body, key)


def engine_load(
    engine: Engine,
    key: str,
    pool: list[list[int]],
    params: GenerationParams,
    clients: int,
    *,
    warmup: float,
    window: float,
    new_tokens: int,
) -> LoadResult:
    """K threads, each submitting one pre-tokenised item at a time through Engine.submit."""

    def make_call(index: int):
        position = [index]

        def call() -> None:
            ids = pool[position[0] % len(pool)]
            position[0] += clients
            engine.submit(key, ids, params).result()

        return call

    return closed_loop(
        clients,
        make_call,
        warmup_s=warmup,
        window_s=window,
        new_tokens=new_tokens,
        counters=lambda: engine_counters(engine, key),
    )


def http_load(
    server: Server,
    bodies: list[bytes],
    clients: int,
    *,
    warmup: float,
    window: float,
    new_tokens: int,
) -> LoadResult:
    """K threads, each with its own keep-alive connection, POSTing one sentence at a time."""
    connections: list[Connection] = []

    def make_call(index: int):
        client = Connection(server.url, timeout=600)
        connections.append(client)
        position = [index]

        def call() -> None:
            body = bodies[position[0] % len(bodies)]
            position[0] += clients
            reply = client.request("POST", "/v1/translate", body)
            if reply.status != 200:
                raise RuntimeError(f"HTTP {reply.status}: {reply.failure or reply.body!r:.200}")

        return call

    try:
        return closed_loop(
            clients,
            make_call,
            warmup_s=warmup,
            window_s=window,
            new_tokens=new_tokens,
            counters=lambda: server_counters(server, PAIR),
        )
    finally:
        for connection in connections:
            connection.close()


def lone_latency(servers: list[Server], body: bytes, requests: int) -> dict[str, list[float]]:
    """One client, sequential requests, alternating between the servers request by request."""
    clients = {server.name: Connection(server.url, timeout=600) for server in servers}
    seconds: dict[str, list[float]] = {server.name: [] for server in servers}
    try:
        for _ in range(requests):
            for server in servers:
                started = time.perf_counter()
                clients[server.name].request("POST", "/v1/translate", body)
                seconds[server.name].append(time.perf_counter() - started)
    finally:
        for client in clients.values():
            client.close()
    return seconds


def merge_rounds(results: list[LoadResult], new_tokens: int) -> dict[str, Any]:
    """Pool one load point's rounds: latencies pooled, throughput K / pooled mean latency."""
    window = sum(r.window_s for r in results)
    batches = [(r.mean_batch, r.items) for r in results if r.mean_batch is not None]
    weight = sum(n for _, n in batches)
    samples = [s for r in results for s in r.latency_samples]
    per_item = [r.generated_tokens_per_item for r in results if r.generated_tokens_per_item]
    clients = results[0].clients
    items_per_s = clients / (sum(samples) / len(samples)) if samples else 0.0
    return {
        "clients": clients,
        "rounds": len(results),
        "window_s": window,
        "items": len(samples),
        "errors": sum(r.errors for r in results),
        "items_per_s": items_per_s,
        "completed_per_s": sum(r.completed_per_s * r.window_s for r in results) / window,
        "tokens_per_s": items_per_s * new_tokens,
        "latency_ms": latency_summary(samples),
        "mean_batch": (sum(b * n for b, n in batches) / weight) if weight else None,
        "generated_tokens_per_item": (sum(per_item) / len(per_item)) if per_item else None,
        "loadavg": [max(r.loadavg[0] for r in results)],
        "per_round": [r.to_json() for r in results],
        "error_sample": next((r.error_sample for r in results if r.error_sample), None),
    }


def _order(values: list[int], round_no: int) -> list[int]:
    """Forward on even rounds, backward on odd ones, so drift hits both ends alike."""
    return list(values) if round_no % 2 == 0 else list(reversed(values))


def run_summarize_inprocess(args, engine: Engine, models: BenchModels) -> dict[str, Any]:
    assert engine.device is not None and engine.dtype is not None
    spec = ModelSpec(key=SUMMARIZE, task=SUMMARIZE, source=str(models.summarize))
    model = load_model(spec, engine.device, engine.dtype)
    text = workload.article(args.article_paragraphs)
    pool = model.encode([text])
    params = GenerationParams(
        num_beams=args.num_beams,
        min_new_tokens=args.summarize_tokens,
        max_new_tokens=args.summarize_tokens,
    )
    sizes = args.summarize_batch_sizes
    log(f"summarize: article of {len(pool[0])} tokens; warming up")
    ceiling_pass(model, pool, sizes[:1], params, new_tokens=args.summarize_tokens, reps=1)
    engine.submit(SUMMARIZE, pool[0], params).result()
    timings: dict[int, list[float]] = {}
    per_k: dict[int, list[LoadResult]] = {k: [] for k in args.summarize_clients}
    rounds = max(1, args.rounds // 2) if args.profile == "quick" else args.rounds
    for round_no in range(rounds):
        log(f"summarize round {round_no + 1}/{rounds}: ceiling {sizes}")
        for size, seconds in ceiling_pass(
            model, pool, sizes, params, new_tokens=args.summarize_tokens, reps=args.ceiling_reps
        ).items():
            timings.setdefault(size, []).extend(seconds)
        for k in _order(args.summarize_clients, round_no):
            result = engine_load(
                engine,
                SUMMARIZE,
                pool,
                params,
                k,
                warmup=0.0,
                window=args.summarize_window,
                new_tokens=args.summarize_tokens,
            )
            log(f"  engine K={k}: {result.items_per_s:.3f} items/s, batch {result.mean_batch}")
            per_k[k].append(result)
    curve = report.ceiling_curve(timings, args.summarize_tokens)
    points = [
        report.with_ceiling_ratio(merge_rounds(per_k[k], args.summarize_tokens), curve)
        for k in args.summarize_clients
    ]
    del model
    gc.collect()
    return {
        "article_tokens": len(pool[0]),
        "new_tokens": args.summarize_tokens,
        "ceiling": curve,
        "engine": points,
    }


def server_env(args, models: BenchModels, *, max_batch_size: int) -> dict[str, str]:
    return {
        "SUMMARIZE_MODEL": str(models.summarize),
        "TRANSLATE_MODELS": f"{PAIR}={models.translate}",
        "TRANSLATE_PREFIXES": "",
        "DEVICE": args.device,
        "DTYPE": args.dtype,
        "TORCH_THREADS": str(args.torch_threads),
        "MAX_BATCH_SIZE": str(max_batch_size),
        "MAX_WAIT_MS": str(args.max_wait_ms),
        "MAX_QUEUE": "4096",
        "ITEM_TIMEOUT_S": "600",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }


def start_servers(args, models: BenchModels) -> dict[str, Server]:
    """gunicorn with batching on (MAX_BATCH_SIZE=N) and off (1), both loading at once."""
    # One request thread per client plus room for the /metrics scrapes.
    threads = max(args.clients) + 4
    log_dir = args.out / "logs"
    return {
        "http_on": Server(
            "batching-on",
            server_env(args, models, max_batch_size=args.max_batch_size),
            threads=threads,
            log_dir=log_dir,
        ),
        "http_off": Server(
            "batching-off",
            server_env(args, models, max_batch_size=1),
            threads=threads,
            log_dir=log_dir,
        ),
    }


def run_translation(
    args, engine: Engine, models: BenchModels, model: Seq2SeqModel, pool, params, sentences
) -> dict[str, Any]:
    """Ceiling passes, the engine and HTTP on/off, interleaved round by round.

    Each round runs one ceiling pass, then every K, and at each K every stage in an order that
    rotates with K and the round, so that a burst of load from elsewhere on the machine does not
    always land on the same stage.
    """
    servers = {} if args.no_http else start_servers(args, models)
    bodies = [json.dumps({"text": s, "source": "en", "target": "fr"}).encode() for s in sentences]

    def measure(stage: str, k: int) -> LoadResult:
        if stage == "engine":
            return engine_load(
                engine,
                PAIR,
                pool,
                params,
                k,
                warmup=args.warmup,
                window=args.window,
                new_tokens=args.new_tokens,
            )
        return http_load(
            servers[stage],
            bodies,
            k,
            warmup=args.warmup,
            window=args.window,
            new_tokens=args.new_tokens,
        )

    stages = ["engine", *servers]
    per: dict[str, dict[int, list[LoadResult]]] = {s: {k: [] for k in args.clients} for s in stages}
    timings: dict[int, list[float]] = {}
    try:
        log("translate: warming up the ceiling and the engine")
        ceiling_pass(model, pool, args.batch_sizes, params, new_tokens=args.new_tokens, reps=1)
        engine_load(
            engine,
            PAIR,
            pool,
            params,
            max(args.clients),
            warmup=0.5,
            window=1.0,
            new_tokens=args.new_tokens,
        )
        if servers:
            log("http: waiting for gunicorn, batching on and off")
            for server in servers.values():
                server.wait_ready()
                http_load(server, bodies, 4, warmup=0.2, window=1.0, new_tokens=args.new_tokens)
        for round_no in range(args.rounds):
            log(f"round {round_no + 1}/{args.rounds}: ceiling {args.batch_sizes}")
            for size, seconds in ceiling_pass(
                model,
                pool,
                args.batch_sizes,
                params,
                new_tokens=args.new_tokens,
                reps=args.ceiling_reps,
                offset=round_no * 5,
            ).items():
                timings.setdefault(size, []).extend(seconds)
            for i, k in enumerate(_order(args.clients, round_no)):
                shift = (i + round_no) % len(stages)
                for stage in stages[shift:] + stages[:shift]:
                    result = measure(stage, k)
                    log(
                        f"  {stage} K={k}: {result.items_per_s:.2f} items/s, p50 "
                        f"{result.latency_ms.get('p50', 0):.0f} ms, batch {result.mean_batch}, "
                        f"errors {result.errors}"
                    )
                    per[stage][k].append(result)
        lone = {}
        if servers:
            log(f"http: lone-request latency, {args.lone_requests} sequential requests each")
            lone = lone_latency(
                [servers["http_on"], servers["http_off"]], bodies[0], args.lone_requests
            )
    finally:
        for server in servers.values():
            server.stop()
    curve = report.ceiling_curve(timings, args.new_tokens)
    translate: dict[str, Any] = {"ceiling": curve}
    for stage in ("engine", "http_on", "http_off"):
        translate[stage] = (
            [
                report.with_ceiling_ratio(merge_rounds(per[stage][k], args.new_tokens), curve)
                for k in args.clients
            ]
            if stage in per
            else []
        )
    if servers:
        translate["lone_latency_ms"] = {
            "on": latency_summary(lone["batching-on"]),
            "off": latency_summary(lone["batching-off"]),
        }
        translate["http_threads"] = max(args.clients) + 4
        translate["http_logs"] = {name: str(s.log_path) for name, s in servers.items()}
    return translate


# ----- ratios and output -----------------------------------------------------------------------


def ratios(results: dict[str, Any]) -> dict[str, Any]:
    tr = results["translate"]
    out: dict[str, Any] = {
        "engine_vs_ceiling": {p["clients"]: p["vs_ceiling"] for p in tr["engine"]},
        "target_vs_ceiling": report.TARGET_VS_CEILING,
    }
    if tr.get("http_on"):
        out["http_on_vs_ceiling"] = {p["clients"]: p["vs_ceiling"] for p in tr["http_on"]}
        out["http_off_vs_ceiling"] = {p["clients"]: p["vs_ceiling"] for p in tr["http_off"]}
        out["batching_on_vs_off"] = {
            on["clients"]: on["items_per_s"] / off["items_per_s"] if off["items_per_s"] else None
            for on, off in zip(tr["http_on"], tr["http_off"], strict=True)
        }
        lone = tr["lone_latency_ms"]
        out["lone_p50_on_vs_off"] = lone["on"]["p50"] / lone["off"]["p50"]
        out["target_lone_p50_on_vs_off"] = report.TARGET_LONE_LATENCY
        out["target_on_vs_off_gpu_64_clients"] = report.TARGET_ON_OFF_GPU_64
    if results.get("summarize"):
        out["summarize_engine_vs_ceiling"] = {
            p["clients"]: p["vs_ceiling"] for p in results["summarize"]["engine"]
        }
    return out


def ratio_lines(r: dict[str, Any]) -> list[str]:
    def verdict(value: float | None, target: float, higher_is_better: bool = True) -> str:
        if value is None:
            return "n/a"
        ok = value >= target if higher_is_better else value <= target
        return (
            f"{value:.2f} ({'meets' if ok else 'MISSES'} {'>=' if higher_is_better else '<='}"
            f" {target})"
        )

    lines = []
    for name in (
        "engine_vs_ceiling",
        "http_on_vs_ceiling",
        "http_off_vs_ceiling",
        "summarize_engine_vs_ceiling",
    ):
        for k, value in (r.get(name) or {}).items():
            lines.append(f"{name} K={k}: {verdict(value, report.TARGET_VS_CEILING)}")
    for k, value in (r.get("batching_on_vs_off") or {}).items():
        lines.append(f"batching_on_vs_off K={k}: " + ("n/a" if value is None else f"{value:.2f}x"))
    if "lone_p50_on_vs_off" in r:
        lines.append(
            "lone_p50_on_vs_off: "
            + verdict(r["lone_p50_on_vs_off"], report.TARGET_LONE_LATENCY, False)
        )
    return lines


def print_tables(results: dict[str, Any]) -> str:
    tr = results["translate"]
    parts = [
        f"## Translation ceiling (model.generate, {results['meta']['new_tokens']} new tokens)",
        report.ceiling_table(tr["ceiling"]),
        "## Translation under load",
        report.load_table(tr["engine"], "engine"),
    ]
    if tr.get("http_on"):
        parts += [
            report.load_table(tr["http_on"], "http on"),
            report.load_table(tr["http_off"], "http off"),
        ]
        lone = tr["lone_latency_ms"]
        parts.append(
            f"Lone request p50: batching on {lone['on']['p50']:.1f} ms, off "
            f"{lone['off']['p50']:.1f} ms"
        )
    if results.get("summarize"):
        sm = results["summarize"]
        parts += [
            f"## Summarisation ceiling ({sm['article_tokens']}-token article, "
            f"{sm['new_tokens']} new tokens)",
            report.ceiling_table(sm["ceiling"]),
            report.load_table(sm["engine"], "engine"),
        ]
    parts += ["## Ratios vs targets", "\n".join(ratio_lines(results["ratios"]))]
    text = "\n\n".join(parts)
    print(text, flush=True)
    return text


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    log(
        f"profile {args.profile}: K {args.clients}, batch sizes {args.batch_sizes}, "
        f"{args.new_tokens} new tokens, {args.rounds} rounds"
    )
    models = prepare_models(
        args.models_dir,
        translate_tokens=args.new_tokens,
        summarize_tokens=args.summarize_tokens,
        num_beams=args.num_beams,
    )
    settings = Settings.defaults(
        summarize_model=str(models.summarize),
        translate_models=((PAIR, str(models.translate)),),
        translate_prefixes=(),
        device=args.device,
        dtype=args.dtype,
        torch_threads=args.torch_threads,
        max_batch_size=args.max_batch_size,
        max_wait_ms=args.max_wait_ms,
        max_queue=4096,
        item_timeout_s=600,
    )
    log("engine: loading the models through the registry")
    engine = Engine(settings).start()
    assert engine.device is not None and engine.dtype is not None
    meta = metadata(args, engine)
    model = load_model(
        ModelSpec(key=PAIR, task="translate", source=str(models.translate)),
        engine.device,
        engine.dtype,
    )
    sentences = workload.sentences(args.words)
    pool = model.encode(sentences)
    meta["sentence_tokens"] = sorted(len(ids) for ids in pool)
    params = GenerationParams(
        num_beams=args.num_beams, min_new_tokens=args.new_tokens, max_new_tokens=args.new_tokens
    )
    results: dict[str, Any] = {"meta": meta}
    try:
        results["summarize"] = (
            None if args.no_summarize else run_summarize_inprocess(args, engine, models)
        )
        results["translate"] = run_translation(args, engine, models, model, pool, params, sentences)
    finally:
        engine.close(timeout=60)
    results["ratios"] = ratios(results)
    meta["loadavg_end"] = list(os.getloadavg())
    meta["wall_s"] = time.perf_counter() - started
    suffix = engine_suffix(args)
    json_path = args.out / f"results-{suffix}.json"
    png_path = args.out / f"results-{suffix}.png"
    print_tables(results)
    json_path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    report.plot(results, png_path)
    log(f"wrote {json_path} and {png_path} in {meta['wall_s']:.0f} s")
    return 0


def engine_suffix(args: argparse.Namespace) -> str:
    device = args.device.split(":")[0]
    return device if device == "cpu" else f"{device}-{args.dtype}"


if __name__ == "__main__":
    sys.exit(main())
