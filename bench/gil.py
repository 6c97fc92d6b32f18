"""gil: a tiny request's latency while 8 long translations run, per backend (GIL held?).

For each backend, a background thread keeps generating a batch of 8 long inputs (pinned output
length) on the real-shape Marian en-fr model, with one intra-op thread so that a core is left
for the rest of the process. Meanwhile the main thread times, idle and then busy, (a) a request's
Python side (tokenise a sentence, build the JSON answer) and (b) a tiny translation on a second,
tiny model of the same backend, as another model's worker would run it. A backend whose decode
loop holds the GIL makes both wait; one that releases it (CTranslate2 in C++) should not.
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from pathlib import Path
from typing import Any

import torch

from bench.report import save
from service.inference.registry import TRANSLATE, ModelSpec, load_model
from service.inference.seq2seq import GenerationParams, Placement, Seq2SeqModel
from service.ops.demo_models import build_marian

LONG = (
    "Officials said the plan would add two hundred buses to the network over the next three "
    "years and extend night services on the busiest routes, while opposition members argued "
    "that the spending was too high as rents continue to rise across the city."
)
TINY = "Heavy rain."
BACKENDS = ("transformers", "ctranslate2")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated")
    parser.add_argument("--compute-type", default="int8", help="CTranslate2 compute type")
    parser.add_argument("--new-tokens", type=int, default=128, help="long outputs' length")
    parser.add_argument("--repeats", type=int, default=30, help="timed tiny requests per phase")


def _times(fn: Any, repeats: int) -> dict[str, float]:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return {
        "p50_ms": round(statistics.median(samples), 2),
        "p90_ms": round(samples[int(0.9 * (len(samples) - 1))], 2),
        "max_ms": round(samples[-1], 2),
    }


def _measure(backend: str, args: argparse.Namespace, root: Path) -> dict[str, Any]:
    big_dir, tiny_dir = root / "models" / "marian-en-fr-real", root / "models" / "marian-tiny"
    if not (big_dir / "model.safetensors").is_file():
        build_marian(big_dir, arch="real")
    if not (tiny_dir / "model.safetensors").is_file():
        build_marian(tiny_dir, arch="tiny")
    placement = Placement(
        device=torch.device("cpu"),
        compute_type=args.compute_type if backend == "ctranslate2" else "float32",
        threads=1,
        cache_dir=root / "ct2-cache",
    )
    torch.set_num_threads(1)
    big = load_model(ModelSpec("en-fr", TRANSLATE, str(big_dir)), placement, backend)
    small = load_model(ModelSpec("en-fr", TRANSLATE, str(tiny_dir)), placement, backend)
    pinned = GenerationParams(
        num_beams=1, min_new_tokens=args.new_tokens, max_new_tokens=args.new_tokens
    )
    long_batch = big.encode([LONG] * 8)
    quick = GenerationParams(num_beams=1, max_new_tokens=8)

    def python_side(model: Seq2SeqModel = small) -> None:
        ids = model.encode([TINY])
        json.dumps({"translation": TINY, "ids": ids})

    def tiny_translation() -> None:
        small.generate(small.encode([TINY]), quick)

    result: dict[str, Any] = {"backend": backend, "compute_type": big.compute_type}
    result["idle"] = {
        "python_side": _times(python_side, args.repeats),
        "tiny_translation": _times(tiny_translation, args.repeats),
    }
    stop = threading.Event()
    batches: list[float] = []

    def keep_busy() -> None:
        while not stop.is_set():
            start = time.perf_counter()
            big.generate(long_batch, pinned)
            batches.append(time.perf_counter() - start)

    worker = threading.Thread(target=keep_busy, daemon=True)
    worker.start()
    time.sleep(1.0)  # into the first batch
    result["busy"] = {
        "python_side": _times(python_side, args.repeats),
        "tiny_translation": _times(tiny_translation, args.repeats),
    }
    stop.set()
    worker.join()
    result["long_batch_s"] = round(statistics.median(batches), 2)
    return result


def run(args: argparse.Namespace) -> int:
    results = [_measure(b, args, args.out) for b in args.backends.split(",")]
    print(f"tiny request latency (ms, p50 / p90) while 8 x {args.new_tokens}-token outputs run:")
    print("backend        compute   phase  python side       tiny translation   long batch")
    for r in results:
        for phase in ("idle", "busy"):
            py, tr = r[phase]["python_side"], r[phase]["tiny_translation"]
            batch = f"{r['long_batch_s']} s" if phase == "busy" else ""
            print(
                f"{r['backend']:<14} {r['compute_type']:<9} {phase:<6} "
                f"{py['p50_ms']:>6} / {py['p90_ms']:<8} {tr['p50_ms']:>7} / {tr['p90_ms']:<9}"
                f" {batch}"
            )
    save(args.out / "gil.json", {"new_tokens": args.new_tokens, "results": results})
    return 0
