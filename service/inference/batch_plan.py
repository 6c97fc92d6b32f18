"""Which queued items the next batch takes: a pure function of their token costs and keys.

Kept apart from the worker thread in `batching.py` so it can be tested exhaustively without
threads or a model.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class BatchPlan:
    """Which queued items (by index) the next batch takes, whether it is full, and its head
    (the item it was built around: the oldest interactive one, else the oldest)."""

    indices: tuple[int, ...]
    full: bool
    head: int = 0


def plan_batch(
    costs: Sequence[int],
    keys: Sequence[Hashable],
    *,
    max_size: int,
    max_tokens: int,
    background: Sequence[bool] = (),
    max_background_batch: int | None = None,
) -> BatchPlan:
    """Choose the next batch from a queue given each item's token cost and batch key, and
    which items are `background` (a job's; none when empty).

    The head is the oldest interactive item (the oldest item when all are background), and it is
    always taken, even if it alone exceeds `max_tokens`. The other items with the head's key are
    taken interactive ones first, then background ones to fill the rest, each group nearest the
    head's cost first (queue order among equals), each while the padded size (longest cost x
    count) stays within `max_tokens`: a batch of similar lengths wastes little on padding, no
    interactive item waits longer than until it is the head, and a job uses only the room
    requests leave. At most `max_background_batch` background items join one batch (None: no
    limit beyond `max_size`): on a CPU a batch's time grows with its size, and a request that
    arrives while a job's batch runs waits for all of it. `full` is true when the batch cannot
    grow: `max_size` reached or a compatible item was left out for the token budget or the
    background limit.
    """
    if not costs:
        return BatchPlan((), False)
    low = list(background) if background else [False] * len(costs)
    head = next((i for i, is_low in enumerate(low) if not is_low), 0)
    head_cost, head_key = costs[head], keys[head]
    compatible = [i for i in range(len(costs)) if i != head and keys[i] == head_key]
    compatible.sort(key=lambda i: (low[i], abs(costs[i] - head_cost)))
    taken = [head]
    longest = head_cost
    left_out = False
    room_low = len(costs) if max_background_batch is None else max_background_batch - low[head]
    for i in compatible:
        if len(taken) >= max_size:
            break
        if low[i] and room_low <= 0:
            left_out = True
            break  # only background items remain, and the batch has its share of them
        candidate = max(longest, costs[i])
        if candidate * (len(taken) + 1) > max_tokens:
            left_out = True
            continue
        taken.append(i)
        longest = candidate
        room_low -= low[i]
    return BatchPlan(tuple(sorted(taken)), left_out or len(taken) >= max_size, head)
