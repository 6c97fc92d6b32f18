"""The ceiling: plain `model.generate` on batches tokenised and right-padded beforehand.

Nothing of the service runs here but the model it loaded: no queue, no threads, no decode. The
engine and HTTP are compared with this curve at the batch size they actually ran.
"""

from __future__ import annotations

import math
import statistics
import time
from typing import Any

import numpy as np
import torch

from service.inference.seq2seq import Seq2SeqModel


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def ceiling_pass(
    model: Seq2SeqModel,
    pool: list[list[int]],
    sizes: list[int],
    new_tokens: int,
    *,
    reps: int,
    offset: int = 0,
) -> dict[int, list[float]]:
    """Seconds per `generate` call at each batch size, `reps` calls each.

    One untimed call first (it pays for cold caches), then the sizes in turn, `reps` times over,
    so a burst of outside load is spread over the sizes. Each call takes its rows (cycling) from
    a different place in the pool, right-padded as the engine pads them, so padding waste is
    averaged over the sentence mix the engine sees.
    """
    overrides = {"num_beams": 1, "min_new_tokens": new_tokens, "max_new_tokens": new_tokens}

    def seconds(start: int, size: int) -> float:
        rows = [pool[(start + i) % len(pool)] for i in range(size)]
        input_ids = torch.full((size, max(map(len, rows))), model.pad_token_id, dtype=torch.long)
        mask = torch.zeros_like(input_ids)
        for row, ids in enumerate(rows):
            input_ids[row, : len(ids)] = torch.tensor(ids)
            mask[row, : len(ids)] = 1
        input_ids, mask = input_ids.to(model.device), mask.to(model.device)
        _sync(model.device)
        started = time.perf_counter()
        with torch.inference_mode():
            output = model.model.generate(input_ids=input_ids, attention_mask=mask, **overrides)
        _sync(model.device)
        elapsed = time.perf_counter() - started
        # One decoder start token, then exactly the pinned number of new tokens.
        if output.shape[1] != new_tokens + 1:
            raise RuntimeError(f"output has {output.shape[1] - 1} new tokens, not {new_tokens}")
        return elapsed

    seconds(offset, sizes[0])
    timings: dict[int, list[float]] = {}
    for rep in range(reps):
        for size in sizes:
            timings.setdefault(size, []).append(seconds(offset + rep * size, size))
    return timings


def ceiling_curve(timings: dict[int, list[float]], new_tokens: int) -> list[dict[str, Any]]:
    """Median seconds per call at each batch size -> items/s and tokens/s, sorted by size."""
    curve = []
    for size, runs in sorted(timings.items()):
        seconds = statistics.median(runs)
        curve.append(
            {
                "batch_size": size,
                "runs": len(runs),
                "median_s": seconds,
                "min_s": min(runs),
                "max_s": max(runs),
                "items_per_s": size / seconds,
                "tokens_per_s": size * new_tokens / seconds,
                "runs_s": runs,
            }
        )
    return curve


def interpolate(curve: list[dict[str, Any]], batch: float) -> float | None:
    """Ceiling items/s at a fractional batch size: linear in log2(batch) between measured sizes;
    None outside them (no extrapolation)."""
    xs = [math.log2(p["batch_size"]) for p in curve]
    x = math.log2(batch)
    if not xs or not xs[0] - 1e-9 <= x <= xs[-1] + 1e-9:
        return None
    return float(np.interp(x, xs, [p["items_per_s"] for p in curve]))


def compare(
    curve: list[dict[str, Any]], items_per_s: float, mean_batch: float | None, clients: int
) -> dict[str, float | None]:
    """The ceiling at the mean batch a stage ran and its share of it; also at batch K (every
    client's item in one batch): the gap between the two is what smaller batches cost."""
    result: dict[str, float | None] = {}
    for name, size in (("ceiling", mean_batch), ("ceiling_at_k", clients)):
        ceiling = interpolate(curve, size) if size else None
        result[f"{name}_items_per_s"] = ceiling
        result["vs_" + name] = items_per_s / ceiling if ceiling else None
    return result
