"""How the engine forms batches under concurrent load, and whether batching changes outputs.

Run: `.venv/bin/python bench/batch_report.py` (under a minute on 2 cores; add `--device cuda
--dtype float16` on a GPU). It builds the tiny demo models in a temporary directory and starts an
`Engine` on them with the default batching settings. Then:

1. For N = 1, 8, 32, 64 concurrent callers, each translating one sentence (en-fr) through
   `tasks.translate`, it counts the batches the en-fr worker ran and the sizes it saw.
2. For each model, greedy and 4-beam: a batch of mixed-length inputs against each input run
   alone, output by output. Batching pads inputs together; this checks that padding does not
   leak into results ("identical: k/k").

The results are printed and written to bench/out/batch_report.json. The tiny models have random
weights, so the texts are meaningless; only counts and equality matter.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Run as a script (`python bench/batch_report.py`), the repository root is not on sys.path.
sys.path.insert(0, str(ROOT))
# No Hub access: the models are built locally (set before transformers is imported).
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from service.config import Settings  # noqa: E402
from service.demo_models import TRAINING_TEXT, build_demo_models  # noqa: E402
from service.inference.batching import BatchRecord  # noqa: E402
from service.inference.engine import Engine  # noqa: E402
from service.inference.seq2seq import GenerationParams  # noqa: E402
from service.metrics import Metrics  # noqa: E402
from service.tasks import translate  # noqa: E402
from service.text import split_sentences  # noqa: E402

OUT = ROOT / "bench" / "out" / "batch_report.json"
CONCURRENCY = (1, 8, 32, 64)
MODELS = ("summarize", "en-fr", "en-ar")
MIXED_TEXTS = (
    "Heavy rain.",
    "Scientists have published a study about coastal wetlands.",
    "Shares in technology companies fell sharply on Monday as investors worried about "
    "slowing demand for phones and computers, while oil prices rose for a third day.",
    "The city council approved a new budget on Tuesday.",
)


class RecordingMetrics(Metrics):
    """Metrics that also keep every batch record, for counting batches per model."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[BatchRecord] = []
        self._lock = threading.Lock()

    def record_batch(self, record: BatchRecord) -> None:
        super().record_batch(record)
        with self._lock:
            self.records.append(record)

    def take(self, model: str) -> list[BatchRecord]:
        with self._lock:
            taken = [r for r in self.records if r.batcher == model]
            self.records = [r for r in self.records if r.batcher != model]
        return taken


def concurrency_rows(engine: Engine, metrics: RecordingMetrics) -> list[dict[str, Any]]:
    """N callers at once, one sentence each: how many batches did the en-fr worker run?"""
    sentences = [s for paragraph in TRAINING_TEXT["en"] for s in split_sentences(paragraph)]
    rows = []
    for n in CONCURRENCY:
        metrics.take("en-fr")
        start = threading.Barrier(n)
        results: list[str | None] = [None] * n

        def caller(i: int, start: threading.Barrier = start, results: list = results) -> None:
            start.wait()
            results[i] = translate(engine, [sentences[i % len(sentences)]], target="fr")[0].text

        threads = [threading.Thread(target=caller, args=(i,)) for i in range(n)]
        began = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - began
        if any(result is None for result in results):
            raise RuntimeError(f"N={n}: some callers got no translation")
        sizes = [r.size for r in metrics.take("en-fr")]
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
        inputs = alone.model(key).encode(list(MIXED_TEXTS))
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help="where to write the JSON results")
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=1,
        help="TORCH_THREADS for the engines (0: one per core); 1 keeps timings steady on a "
        "shared machine",
    )
    parser.add_argument("--device", default="cpu", help="DEVICE for the engines (default cpu)")
    parser.add_argument("--dtype", default="auto", help="DTYPE for the engines (default auto)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        dirs = build_demo_models(Path(tmp), arch="tiny")
        settings = Settings.defaults(
            summarize_model=str(dirs["summarize"]),
            translate_models=(("en-fr", str(dirs["en-fr"])), ("en-ar", str(dirs["en-ar"]))),
            torch_threads=args.torch_threads,
            device=args.device,
            dtype=args.dtype,
        )
        metrics = RecordingMetrics()
        engine = Engine(settings, metrics=metrics).start()
        # A batch is cut only once all the mixed inputs are queued, never by time.
        batching = Engine(
            settings.replace(max_batch_size=len(MIXED_TEXTS), max_wait_ms=60_000)
        ).start()
        try:
            # The first generate call of a process pays one-off set-up costs; keep them out.
            for key in MODELS:
                warm_up = engine.model(key).encode(["Heavy rain."])[0]
                engine.submit(key, warm_up, GenerationParams(num_beams=1)).result()
            concurrency = concurrency_rows(engine, metrics)
            invariance = invariance_rows(engine, batching)
        finally:
            engine.close(timeout=30)
            batching.close(timeout=30)

    print(
        f"Batching at MAX_BATCH_SIZE={settings.max_batch_size}, "
        f"MAX_WAIT_MS={settings.max_wait_ms:g}, {engine.cpu_threads} torch thread(s); "
        "N callers translating one sentence each (en-fr):"
    )
    print(f"{'N':>4} {'batches':>8} {'mean size':>10} {'seconds':>8}  sizes (size: count)")
    for row in concurrency:
        histogram = ", ".join(f"{size}: {count}" for size, count in row["histogram"].items())
        print(
            f"{row['callers']:>4} {row['batches']:>8} {row['mean_size']:>10.1f} "
            f"{row['seconds']:>8.2f}  {histogram}"
        )
    print()
    dtype = str(engine.dtype).removeprefix("torch.")
    print(f"Batch invariance: mixed-length batch vs each input alone ({dtype}, {engine.device}):")
    for row in invariance:
        print(
            f"  {row['model']:<10} num_beams={row['num_beams']}  inputs {row['input_tokens']} "
            f"tokens, one batch: {row['one_batch']}, identical {row['identical']}/{row['items']}, "
            f"distinct outputs {row['distinct_outputs']}"
        )
    identical = sum(row["identical"] for row in invariance)
    items = sum(row["items"] for row in invariance)
    print(f"identical: {identical}/{items}")

    seconds = time.perf_counter() - began
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "settings": {
            "max_batch_size": settings.max_batch_size,
            "max_batch_tokens": settings.max_batch_tokens,
            "max_wait_ms": settings.max_wait_ms,
            "torch_threads": engine.cpu_threads,
        },
        "concurrency": concurrency,
        "invariance": invariance,
        "identical": identical,
        "items": items,
        "seconds": round(seconds, 1),
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {args.out} in {seconds:.1f} s")
    all_batched = all(row["one_batch"] for row in invariance)
    return 0 if identical == items and all_batched else 1


if __name__ == "__main__":
    sys.exit(main())
