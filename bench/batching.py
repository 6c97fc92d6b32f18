"""Batching: batch sizes under N concurrent callers.

    python -m bench batching                            # under a minute on 2 CPU cores
    python -m bench batching --device cuda --dtype float16

Builds the tiny demo models in a temporary directory and starts an `Engine` on them with the
default batching settings. For N = 1, 8, 32, 64 concurrent callers, each translating one
sentence (en-fr) through `tasks.translate_texts`, it counts the batches those sentences ran in and
their sizes. Prints them and writes batching.json under --out. Whether batching changes
outputs is `python -m bench invariance`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.report import save, table
from harness import workload
from harness.load import at_once
from harness.models import tiny_models
from service.core.config import Settings
from service.inference.engine import Engine
from service.inference.seq2seq import GenerationParams
from service.tasks import translate_texts

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
            n, lambda i: translate_texts(engine, [sentences[i % len(sentences)]], target="fr")[0]
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


def run(args: argparse.Namespace) -> int:
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        env = {"TORCH_THREADS": str(args.torch_threads), "DEVICE": args.device, "DTYPE": args.dtype}
        settings = Settings.from_env(tiny_models(Path(tmp)) | env)
        engine = Engine(settings).start()
        try:
            # The first generate call of a process pays one-off set-up costs; keep them out.
            for key in MODELS:
                warm_up = engine.model(key).encode(["Heavy rain."])[0]
                engine.submit(key, warm_up, GenerationParams(num_beams=1)).result()
            concurrency = concurrency_rows(engine)
        finally:
            engine.close(timeout=30)

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
    meta = {
        "device": str(engine.device),
        "dtype": str(engine.dtype).removeprefix("torch."),
        "max_batch_size": settings.max_batch_size,
        "max_batch_tokens": settings.max_batch_tokens,
        "max_wait_ms": settings.max_wait_ms,
        "torch_threads": engine.cpu_threads,
        "seconds": round(time.perf_counter() - began, 1),
    }
    save(args.out / "batching.json", {"meta": meta, "concurrency": concurrency})
    return 0
