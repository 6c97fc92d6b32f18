"""Token-budget chunking: cut over-long sentences and group sentences into chunks that fit a
model's input. Pure functions: token counts come from a callable, so no model or torch is needed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

# Clause punctuation, Latin and Arabic: the first place an over-long sentence is cut.
_CLAUSE_RE = re.compile(r"(?<=[,;:\u060c\u061b])\s+")


def split_to_budget(
    sentence: str, budget: int, count: Callable[[list[str]], list[int]]
) -> list[str]:
    """Split an over-long sentence into pieces of at most `budget` tokens each.

    Cuts at clause punctuation first, then between words, then (for a single huge "word" such as
    a URL) between characters. `count` gives token counts for a list of strings. Nothing is
    dropped: the pieces joined with spaces hold every word of the sentence.
    """
    if budget < 1:
        raise ValueError("budget must be >= 1")
    if count([sentence])[0] <= budget:
        return [sentence]
    for splitter in (_CLAUSE_RE.split, str.split):
        parts = [p for p in splitter(sentence) if p]
        if len(parts) > 1:
            return _pack_parts(parts, budget, count)
    half = len(sentence) // 2
    if half == 0:
        return [sentence]
    return split_to_budget(sentence[:half], budget, count) + split_to_budget(
        sentence[half:], budget, count
    )


def _pack_parts(
    parts: list[str], budget: int, count: Callable[[list[str]], list[int]]
) -> list[str]:
    fitting: list[str] = []
    for part, n in zip(parts, count(parts), strict=True):
        fitting.extend(split_to_budget(part, budget, count) if n > budget else [part])
    pieces: list[str] = []
    for start, end in plan_chunks(count(fitting), budget):
        piece = " ".join(fitting[start:end])
        if end - start > 1 and count([piece])[0] > budget:
            # Joining changed the count (tokenizer context effects): pack the halves apart.
            mid = (start + end) // 2
            pieces.extend(_pack_parts(fitting[start:mid], budget, count))
            pieces.extend(_pack_parts(fitting[mid:end], budget, count))
        else:
            pieces.append(piece)
    return pieces


def plan_chunks(counts: Sequence[int], budget: int) -> list[tuple[int, int]]:
    """Group consecutive items into chunks of at most `budget` tokens, evenly sized.

    Returns half-open index ranges covering every item once, in order. Uses the fewest chunks a
    greedy fill needs, then evens them out so the last chunk is not a stub (a tiny last chunk
    would get a summary as long as a full one). Raises ValueError if one item exceeds the budget.
    """
    if any(c > budget for c in counts):
        raise ValueError("an item exceeds the budget; split it first")
    if not counts:
        return []
    # needed[i]: the fewest chunks that hold counts[i:], found by a greedy fill from i.
    needed = [0] * (len(counts) + 1)
    end, window = len(counts), 0
    for i in range(len(counts) - 1, -1, -1):
        window += counts[i]
        while window > budget:
            end -= 1
            window -= counts[end]
        needed[i] = 1 + needed[end]
    # Cut where the chunk comes nearest to an even share of what is left, as long as the rest
    # still fits in the chunks left; the budget may force a cut earlier.
    chunks: list[tuple[int, int]] = []
    start, total, rest = 0, 0, sum(counts)
    for i, c in enumerate(counts):
        left = needed[0] - len(chunks)
        nearer = abs(total * left - rest) < abs((total + c) * left - rest)
        if i > start and (total + c > budget or (nearer and needed[i] < left)):
            chunks.append((start, i))
            rest -= total
            start, total = i, 0
        total += c
    chunks.append((start, len(counts)))
    return chunks
