"""Request path: CPU time a translate request spends outside the model, step by step.

    python -m bench request-path

Every step here runs in a request thread (or, for decode, in the batch worker) and holds the
GIL, so on a fast accelerator, where a batch of 64 takes tens of milliseconds, K requests' worth
of these steps is serial work that the batch worker competes with. Each step is timed alone on
the real-shape Marian tokenizer with the throughput benchmark's sentences, one torch thread; the
median of --runs calls is reported in microseconds. Writes request-path-cpu.json under --out.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import torch

from bench.report import save, table
from harness import workload
from harness.models import PAIR, prepare_models
from service.http.bodies import decode_json, parse
from service.http.v1.schemas import TranslateRequest
from service.inference.registry import ModelSpec, load_model
from service.text import split_paragraphs, split_sentences

NEW_TOKENS = 16  # the length of the fake outputs decoded, as the throughput benchmark pins


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs", type=int, default=300, help="timed calls per step (default 300)")


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


def run(args: argparse.Namespace) -> int:
    torch.set_num_threads(1)
    source = prepare_models(args.out / "models").translate
    spec = ModelSpec(key=PAIR, task="translate", source=str(source))
    model = load_model(spec, torch.device("cpu"), torch.float32)
    sentences = workload.sentences()
    bodies = [json.dumps({"text": s, "source": "en", "target": "fr"}).encode() for s in sentences]
    outputs = [[model.pad_token_id, *range(100, 100 + NEW_TOKENS)] for _ in sentences]
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
    timings = {name: median_us(step, args.runs, len(sentences)) for name, step in steps.items()}
    total = sum(timings.values())
    print(table(["step", "median us"], [*map(list, timings.items()), ["total", total]]))
    save(args.out / "request-path-cpu.json", {"median_us": timings, "total_us": total})
    return 0
