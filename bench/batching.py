"""Batching: batch sizes under N concurrent callers, and whether batching changes outputs.

    python -m bench batching                            # under a minute on 2 CPU cores
    python -m bench batching --device cuda --dtype float16

Builds the tiny demo models in a temporary directory and starts an `Engine` on them with the
default batching settings. Then:

1. For N = 1, 8, 32, 64 concurrent callers, each translating one sentence (en-fr) through
   `tasks.translate`, it counts the batches those sentences ran in and their sizes.
2. For each model, greedy and 4-beam: a batch of mixed-length inputs against each input run
   alone, output by output. Batching pads inputs together; this checks that padding does not
   leak into results ("identical: k/k").

Prints both and writes batching.json under --out; exits 1 unless every output is identical. The
tiny models have random weights, so the texts are meaningless; only counts and equality matter.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench import workload
from bench.load import at_once
from bench.models import tiny_models
from bench.report import save, table
from service.config import Settings
from service.inference.engine import Engine
from service.inference.seq2seq import GenerationParams
from service.tasks import translate

CONCURRENCY = (1, 8, 32, 64)
MODELS = ("summarize", "en-fr", "en-ar")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="cpu", help="DEVICE for the engines (default cpu)")
    parser.add_argument("--dtype", default="auto", help="DTYPE for the engines (default auto)")
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=1,
        help="TORCH_THREADS (0: one per core); the default 1 keeps a shared machine steady",
    )


def concurrency_rows(engine: Engine) -> list[dict[str, Any]]:
    """N callers at once, one sentence each: how many batches did their sentences run in?"""
    sentences = workload.sentences(words=100)
    rows = []
    for n in CONCURRENCY:
        began = time.perf_counter()
        results = at_once(
            n, lambda i: translate(engine, [sentences[i % len(sentences)]], target="fr")[0]
        )
        seconds = time.perf_counter() - began
        sizes = sorted(Counter(b for result in results for b in result.batch_ids).values())
        rows.append(
            {
                "callers": n,
                "batches": len(sizes),
                "sizes": sizes,
                "histogram": dict(sorted(Counter(sizes).items())),
                "mean_size": sum(sizes) / len(sizes),
                "seconds": round(seconds, 3),
            }
        )
    return rows


def invariance_rows(alone: Engine, batching: Engine) -> list[dict[str, Any]]:
    """Each model, greedy and 4 beams: a mixed-length batch against each input run alone."""
    rows = []
    for key in MODELS:
        inputs = alone.model(key).encode(workload.mixed_lengths())
        for num_beams in (1, 4):
            params = GenerationParams(num_beams=num_beams)
            tickets = [batching.submit(key, ids, params) for ids in inputs]
            batched = [ticket.result() for ticket in tickets]
            single = [alone.submit(key, ids, params).result() for ids in inputs]
            rows.append(
                {
                    "model": key,
                    "num_beams": num_beams,
                    "input_tokens": [len(ids) for ids in inputs],
                    "one_batch": len({ticket.batch_id for ticket in tickets}) == 1,
                    "identical": sum(b == s for b, s in zip(batched, single, strict=True)),
                    "items": len(inputs),
                    "distinct_outputs": len(set(batched)),
                }
            )
    return rows


def run(args: argparse.Namespace) -> int:
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        env = {"TORCH_THREADS": str(args.torch_threads), "DEVICE": args.device, "DTYPE": args.dtype}
        settings = Settings.from_env(tiny_models(Path(tmp)) | env)
        engine = Engine(settings).start()
        # A batch is cut only once all the mixed inputs are queued, never by time.
        mixed = len(workload.mixed_lengths())
        batching = Engine(settings.replace(max_batch_size=mixed, max_wait_ms=60_000)).start()
        try:
            # The first generate call of a process pays one-off set-up costs; keep them out.
            for key in MODELS:
                warm_up = engine.model(key).encode(["Heavy rain."])[0]
                engine.submit(key, warm_up, GenerationParams(num_beams=1)).result()
            concurrency = concurrency_rows(engine)
            invariance = invariance_rows(engine, batching)
        finally:
            engine.close(timeout=30)
            batching.close(timeout=30)

    print(
        f"Batching at MAX_BATCH_SIZE={settings.max_batch_size}, "
        f"MAX_WAIT_MS={settings.max_wait_ms:g}, {engine.cpu_threads} torch thread(s); "
        "N callers translating one sentence each (en-fr):\n"
    )
    rows = [
        [r["callers"], r["batches"], r["mean_size"], r["seconds"]]
        + [", ".join(f"{size}: {count}" for size, count in r["histogram"].items())]
        for r in concurrency
    ]
    print(table(["N", "batches", "mean size", "seconds", "sizes (size: count)"], rows))
    dtype = str(engine.dtype).removeprefix("torch.")
    print(
        f"\nBatch invariance: mixed-length batch vs each input alone ({dtype}, {engine.device}):\n"
    )
    rows = [
        [r["model"], r["num_beams"], str(r["input_tokens"]), r["one_batch"]]
        + [f"{r['identical']}/{r['items']}", r["distinct_outputs"]]
        for r in invariance
    ]
    headers = ["model", "beams", "input tokens", "one batch", "identical", "distinct outputs"]
    print(table(headers, rows))
    identical = sum(row["identical"] for row in invariance)
    items = sum(row["items"] for row in invariance)
    print(f"\nidentical: {identical}/{items}")
    meta = {
        "device": str(engine.device),
        "dtype": dtype,
        "max_batch_size": settings.max_batch_size,
        "max_batch_tokens": settings.max_batch_tokens,
        "max_wait_ms": settings.max_wait_ms,
        "torch_threads": engine.cpu_threads,
        "seconds": round(time.perf_counter() - began, 1),
    }
    report = {"concurrency": concurrency, "invariance": invariance, "identical": identical}
    save(args.out / "batching.json", {"meta": meta, **report, "items": items})
    all_batched = all(row["one_batch"] for row in invariance)
    return 0 if identical == items and all_batched else 1
