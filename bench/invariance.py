"""Invariance: how often co-batching changes an output, and what exact batches cost.

    python -m bench invariance                       # CPU, every backend: ~15 minutes on 2 cores
    python -m bench invariance --device cuda         # GPU: half precision on both backends
    python -m bench invariance --no-cost --inputs 96 # the rates only

1. rate: for each backend and numeric type (`--backends`), with BATCH_BUCKET_TOKENS=0 (each batch
   padded to its longest input, as before the setting) and with buckets (`--buckets`), `--inputs`
   mixed-length texts (1 to 90 words) each run alone, then all queued at once and run in the
   batches the engine forms; it counts the outputs that differ. Models: the tiny demo
   summariser (its default 4-beam search, summaries cut to 24..40 tokens), its near-tie copy
   (`service.ops.demo_models.build_near_ties`, which turns any change in an input's float sums into
   a different output) and the en-fr translator (4 beams).
2. cost: the real-shape en-fr model (opus-mt-en-fr's), output pinned (greedy, `--new-tokens`),
   K closed-loop threads calling the engine with sentences of 4 to 40 words, for each bucket
   width in `--cost-buckets` (0 = padding to the longest input), interleaved in rounds: items/s
   and the ratio to width 0 at equal K.

Prints both and writes invariance.json under --out. Exits 1 when an output differs with buckets
on a backend and type where invariance is exact (`EXACT`).
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.report import log, save, table
from harness import workload
from harness.invariance import alone_and_co_batched, differences, mixed_texts
from harness.load import closed_loop
from harness.models import PAIR, pin_generation, prepare_models, tiny_models
from service.core.config import Settings
from service.inference.engine import Engine
from service.inference.seq2seq import GenerationParams
from service.ops.demo_models import build_near_ties

CPU_BACKENDS = "transformers:float32,ctranslate2:float32,ctranslate2:int8"
CUDA_BACKENDS = (
    "transformers:float16,transformers:bfloat16,ctranslate2:float16,ctranslate2:int8_float16"
)
# Where buckets make outputs exact (see README, Batch invariance).
EXACT = {("cpu", "transformers:float32"), ("cpu", "ctranslate2:int8")}
SUMMARY = GenerationParams(min_length=24, max_length=40)
TRANSLATION = GenerationParams(num_beams=4)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    def ints(raw: str) -> list[int]:
        return [int(v) for v in raw.split(",") if v.strip()]

    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    parser.add_argument(
        "--backends", help=f"backend:type list (CPU: {CPU_BACKENDS}; CUDA: {CUDA_BACKENDS})"
    )
    parser.add_argument("--inputs", type=int, default=200, help="texts per rate (default 200)")
    parser.add_argument(
        "--buckets", type=int, default=128, help="bucket width for the rates (default 128)"
    )
    parser.add_argument(
        "--cost-buckets", type=ints, default=[0, 32, 128], help="widths (default 0,32,128)"
    )
    parser.add_argument("--clients", type=ints, default=[1, 32], help="K list (default 1,32)")
    parser.add_argument("--new-tokens", type=int, default=16, help="pinned output (default 16)")
    parser.add_argument("--window", type=float, default=8.0, help="seconds per load window")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds (default 2)")
    parser.add_argument("--torch-threads", type=int, default=0, help="TORCH_THREADS (0: all)")
    parser.add_argument("--no-cost", action="store_true", help="skip the cost measurement")


# ----- the command -------------------------------------------------------------------------------


def _backend_env(spec: str) -> dict[str, str]:
    backend, _, numeric = spec.partition(":")
    if backend == "transformers":
        return {"BACKEND": backend, "DTYPE": numeric or "auto"}
    return {"BACKEND": backend, "COMPUTE_TYPE": numeric or "auto"}


def rate_rows(args: argparse.Namespace, specs: list[str], root: Path) -> list[dict[str, Any]]:
    models = tiny_models(root)
    near_ties = build_near_ties(Path(models["SUMMARIZE_MODEL"]), root / "near-ties")
    texts = mixed_texts(args.inputs)
    base = {
        **models,
        "DEVICE": args.device,
        "TORCH_THREADS": str(args.torch_threads),
        "CT2_CACHE_DIR": str(root / "ct2"),
    }
    rows = []
    for spec in specs:
        for bucket in (0, args.buckets):
            env = {**base, **_backend_env(spec), "BATCH_BUCKET_TOKENS": str(bucket)}
            cases = [
                ("summarize", "summarize", SUMMARY, env),
                (
                    "summarize near-ties",
                    "summarize",
                    SUMMARY,
                    env | {"SUMMARIZE_MODEL": str(near_ties)},
                ),
                ("en-fr", "en-fr", TRANSLATION, env),
            ]
            for name, key, params, case_env in cases:
                began = time.perf_counter()
                settings = Settings.from_env(case_env)
                alone, co_batched, extra = alone_and_co_batched(settings, key, texts, params)
                row = {
                    "backend": spec,
                    "bucket_tokens": bucket,
                    "model": name,
                    "differ": differences(alone, co_batched),
                    "inputs": len(texts),
                    "extra_batches": extra,
                    "seconds": round(time.perf_counter() - began, 1),
                }
                log(f"rate {row}")
                rows.append(row)
    return rows


def cost_rows(args: argparse.Namespace, specs: list[str], root: Path) -> list[dict[str, Any]]:
    models = prepare_models(root / "models")
    pin_generation(models.translate, new_tokens=args.new_tokens)
    tiny = tiny_models(root / "tiny")
    pool_texts = [workload.text(words, words * 7) for words in range(4, 41)]
    rows = []
    for spec in specs:
        env = {
            **tiny,
            **_backend_env(spec),
            "TRANSLATE_MODELS": f"{PAIR}={models.translate}",
            "DEVICE": args.device,
            "TORCH_THREADS": str(args.torch_threads),
            "CT2_CACHE_DIR": str(root / "ct2"),
            "MAX_BATCH_SIZE": str(max(args.clients)),
            "MAX_QUEUE": "1024",
        }
        engines = {
            width: Engine(Settings.from_env(env | {"BATCH_BUCKET_TOKENS": str(width)})).start()
            for width in args.cost_buckets
        }
        try:
            pool = engines[args.cost_buckets[0]].model(PAIR).encode(pool_texts)
            params = GenerationParams()
            windows: dict[tuple[int, int], list[tuple[float, float]]] = {}
            for _ in range(args.rounds):
                for k, width in itertools.product(args.clients, args.cost_buckets):
                    window = closed_loop(
                        k,
                        _caller(engines[width], pool, params, k),
                        warmup_s=1.0,
                        window_s=args.window,
                    )
                    if window.errors():
                        raise RuntimeError(f"{spec} width {width}: {window.errors()[0]!r}")
                    p50 = statistics.median(window.latencies())
                    windows.setdefault((k, width), []).append(
                        (window.completed() / window.seconds, p50)
                    )
            for k, width in itertools.product(args.clients, args.cost_buckets):
                rate = statistics.median(r for r, _ in windows[(k, width)])
                base = statistics.median(r for r, _ in windows[(k, args.cost_buckets[0])])
                rows.append(
                    {
                        "backend": spec,
                        "clients": k,
                        "bucket_tokens": width,
                        "items_per_s": round(rate, 2),
                        "vs_first": round(rate / base, 3),
                        "p50_s": round(statistics.median(p for _, p in windows[(k, width)]), 4),
                    }
                )
                log(f"cost {rows[-1]}")
        finally:
            for engine in engines.values():
                engine.close(timeout=30)
    return rows


def _caller(
    engine: Engine, pool: list[list[int]], params: GenerationParams, k: int
) -> Callable[[int], Callable[[], str]]:
    def make_call(i: int) -> Callable[[], str]:
        positions = itertools.count(i, k)
        return lambda: engine.submit(PAIR, pool[next(positions) % len(pool)], params).result()

    return make_call


def run(args: argparse.Namespace) -> int:
    began = time.perf_counter()
    default = CUDA_BACKENDS if args.device.startswith("cuda") else CPU_BACKENDS
    specs = [s.strip() for s in (args.backends or default).split(",") if s.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        rates = rate_rows(args, specs, Path(tmp))
    print(f"\nAlone vs co-batched, {args.inputs} mixed-length inputs ({args.device}):\n")
    print(
        table(
            ["backend", "BATCH_BUCKET_TOKENS", "model", "differ", "extra batches", "seconds"],
            [
                [r["backend"], r["bucket_tokens"], r["model"], f"{r['differ']}/{r['inputs']}"]
                + [r["extra_batches"], r["seconds"]]
                for r in rates
            ],
        )
    )
    costs: list[dict[str, Any]] = []
    if not args.no_cost:
        costs = cost_rows(args, specs, args.out)
        print(f"\nCost: real-shape {PAIR}, {args.new_tokens} tokens pinned, engine, items/s:\n")
        print(
            table(
                ["backend", "K", "BATCH_BUCKET_TOKENS", "items/s", "vs first width", "p50 s"],
                [
                    [r["backend"], r["clients"], r["bucket_tokens"], r["items_per_s"]]
                    + [r["vs_first"], r["p50_s"]]
                    for r in costs
                ],
            )
        )
    meta = {"device": args.device, "seconds": round(time.perf_counter() - began, 1)}
    save(args.out / "invariance.json", {"meta": meta, "rates": rates, "costs": costs})
    broken = [
        r
        for r in rates
        if r["bucket_tokens"] and (args.device.split(":")[0], r["backend"]) in EXACT and r["differ"]
    ]
    return 1 if broken else 0
