"""The ceiling: plain `model.generate` on batches tokenised and padded beforehand.

Nothing of the service runs here but the model it loaded: no queue, no threads, no decode. What
the engine and HTTP reach at a given batch size is compared with this curve.
"""

from __future__ import annotations

import time

import torch

from service.inference.seq2seq import GenerationParams, Seq2SeqModel


def padded_batch(
    pool: list[list[int]], start: int, size: int, pad_id: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """`size` inputs from `pool` (cycling from `start`), right-padded as the engine pads them."""
    rows = [pool[(start + i) % len(pool)] for i in range(size)]
    longest = max(len(ids) for ids in rows)
    input_ids = torch.full((size, longest), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((size, longest), dtype=torch.long)
    for row, ids in enumerate(rows):
        input_ids[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        attention_mask[row, : len(ids)] = 1
    return input_ids.to(device), attention_mask.to(device)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_generate(
    model: Seq2SeqModel,
    batch: tuple[torch.Tensor, torch.Tensor],
    params: GenerationParams,
    new_tokens: int,
) -> float:
    """Seconds one `generate` call takes. Raises if the output length was not pinned."""
    input_ids, attention_mask = batch
    _sync(model.device)
    started = time.perf_counter()
    with torch.inference_mode():
        output = model.model.generate(
            input_ids=input_ids, attention_mask=attention_mask, **params.overrides()
        )
    _sync(model.device)
    seconds = time.perf_counter() - started
    # One decoder start token, then exactly the pinned number of new tokens.
    if output.shape[1] != new_tokens + 1:
        raise RuntimeError(f"output has {output.shape[1] - 1} new tokens, not {new_tokens}")
    return seconds


def ceiling_pass(
    model: Seq2SeqModel,
    pool: list[list[int]],
    batch_sizes: list[int],
    params: GenerationParams,
    *,
    new_tokens: int,
    reps: int,
    offset: int = 0,
) -> dict[int, list[float]]:
    """Time `reps` generate calls at each batch size; returns seconds per call by batch size.

    One untimed call first (the pass follows minutes of other work; its first call pays for
    cold caches), then the sizes in turn, `reps` times over, so a burst of outside load is
    spread over the sizes. Each call takes its rows from a different place in the pool, so
    padding waste is averaged over the same sentence mix the engine sees.
    """
    warm = padded_batch(pool, offset, batch_sizes[0], model.pad_token_id, model.device)
    time_generate(model, warm, params, new_tokens)
    timings: dict[int, list[float]] = {}
    for rep in range(reps):
        for size in batch_sizes:
            start = offset + rep * size
            batch = padded_batch(pool, start, size, model.pad_token_id, model.device)
            timings.setdefault(size, []).append(time_generate(model, batch, params, new_tokens))
    return timings
