"""CPU time one translation request spends outside the model, step by step.

    .venv/bin/python -m bench.request_path

Every step here runs in a request thread (or, for decode, in the batch worker) and holds the
GIL, so on a fast accelerator, where a batch of 64 takes tens of milliseconds, K requests' worth
of these steps is serial work that the batch worker competes with. Each step is timed alone on
the real-shape Marian tokenizer with the benchmark's sentences; the median of many runs is
reported in microseconds. Writes bench/out/request-path-cpu.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402
from transformers.utils import logging as transformers_logging  # noqa: E402

from bench import report, workload  # noqa: E402
from bench.models import prepare_models  # noqa: E402
from bench.run import BENCH_DIR, PAIR  # noqa: E402
from service.http.schemas import TranslateRequest, decode_json, parse  # noqa: E402
from service.inference.registry import ModelSpec, load_model  # noqa: E402
from service.text import split_paragraphs, split_sentences  # noqa: E402


def median_us(step: Callable[[int], object], runs: int, inputs: int) -> float:
    """Median microseconds of `step(i)` over `runs` calls, cycling i over the inputs."""
    for i in range(min(runs, 20)):
        step(i % inputs)
    seconds = []
    for i in range(runs):
        started = time.perf_counter()
        step(i % inputs)
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds) * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.request_path", description=__doc__)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--words", type=int, default=10)
    parser.add_argument("--new-tokens", type=int, default=16)
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "out")
    args = parser.parse_args(argv)
    transformers_logging.set_verbosity_error()
    torch.set_num_threads(1)
    models = prepare_models(
        args.out / "models", translate_tokens=args.new_tokens, summarize_tokens=16, num_beams=1
    )
    model = load_model(
        ModelSpec(key=PAIR, task="translate", source=str(models.translate)),
        torch.device("cpu"),
        torch.float32,
    )
    sentences = workload.sentences(args.words)
    bodies = [json.dumps({"text": s, "source": "en", "target": "fr"}).encode() for s in sentences]
    outputs = [[model.pad_token_id, *range(100, 100 + args.new_tokens)] for _ in sentences]
    n = len(sentences)
    steps: dict[str, Callable[[int], object]] = {
        "json decode + validate (schemas.parse)": lambda i: parse(
            TranslateRequest, decode_json(bodies[i])
        ),
        "split_paragraphs + split_sentences": lambda i: [
            split_sentences(p) for p in split_paragraphs(sentences[i])[::2]
        ],
        "encode (tokenizer, under its lock)": lambda i: model.encode([sentences[i]]),
        "decode one output (batch worker)": lambda i: model.tokenizer.batch_decode(
            [outputs[i]], skip_special_tokens=True
        ),
        "json encode response": lambda i: json.dumps(
            {"source": "en", "target": "fr", "model": "x", "translation": sentences[i]}
        ),
    }
    timings = {name: median_us(step, args.runs, n) for name, step in steps.items()}
    total = sum(timings.values())
    rows = [[name, us] for name, us in timings.items()] + [["total", total]]
    print(report.table(["step", "median us"], rows))
    out = args.out / "request-path-cpu.json"
    out.write_text(
        json.dumps(
            {"loadavg": list(os.getloadavg()), "median_us": timings, "total_us": total}, indent=2
        )
        + "\n"
    )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
