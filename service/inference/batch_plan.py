"""Which queued items the next batch takes: a pure function of their token costs and keys.

Kept apart from the worker thread in `batching.py` so it can be tested exhaustively without
threads or a model.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class BatchPlan:
    """Which queued items (by index) the next batch takes, and whether it is full."""

    indices: tuple[int, ...]
    full: bool


def plan_batch(
    costs: Sequence[int], keys: Sequence[Hashable], *, max_size: int, max_tokens: int
) -> BatchPlan:
    """Choose the next batch from a queue given each item's token cost and batch key.

    The head item is always taken, even if it alone exceeds `max_tokens`. The other items with
    the head's key are taken nearest the head's cost first (queue order among equals), each while
    the padded size (longest cost x count) stays within `max_tokens`: a batch of similar lengths
    wastes little on padding, and no item waits longer than until it is the head. `full` is true
    when the batch cannot grow: `max_size` reached or a compatible item was left out for the
    token budget.
    """
    if not costs:
        return BatchPlan((), False)
    head_cost, head_key = costs[0], keys[0]
    compatible = [i for i in range(1, len(costs)) if keys[i] == head_key]
    compatible.sort(key=lambda i: abs(costs[i] - head_cost))
    taken = [0]
    longest = head_cost
    left_out = False
    for i in compatible:
        if len(taken) >= max_size:
            break
        candidate = max(longest, costs[i])
        if candidate * (len(taken) + 1) > max_tokens:
            left_out = True
            continue
        taken.append(i)
        longest = candidate
    return BatchPlan(tuple(sorted(taken)), left_out or len(taken) >= max_size)
