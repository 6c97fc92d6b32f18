"""How long each partial summary of a chunked text is: the SUMMARY_PARTIALS setting.

A text longer than the summariser's input is cut into n chunks and each chunk is summarised (a
partial); the partials joined are the summary, or, while longer than the summary length, are
summarised again (`tasks.summarize`).

- `share` (the default): each partial gets its share of the summary's length, the length limits
  divided by n (at least `MIN_PARTIAL_TOKENS`). Joined, they fit the summary, so one round of n
  short partials is the whole work: each chunk costs half the decoding steps or less, and the
  second, sequential round is gone. Every chunk keeps 1/n of the summary: each part of the
  article is covered, in order, with less detail per part.
- `resummarize`: every partial as long as a whole summary, then their join summarised again (the
  only behaviour before this setting): the model chooses across the parts what to keep, and can
  drop a part; it costs a second round that waits for the first.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from service.core.setting_values import PARTIAL_MODES
from service.inference.seq2seq import GenerationParams

__all__ = ["MIN_PARTIAL_TOKENS", "PARTIAL_MODES", "partial_params", "shares_fit"]
# Below this a partial is too short to say anything; more chunks than the summary length allows
# at this size make partials this long, and their join is summarised again, as `resummarize`.
MIN_PARTIAL_TOKENS = 24


def partial_params(
    params: GenerationParams, defaults: Mapping[str, Any], chunks: int, mode: str
) -> GenerationParams:
    """The generation params for each of a text's `chunks` partial summaries.

    `params` are the summary's (request overrides; None keeps the model's `defaults`). A text
    of one chunk, or `mode` `resummarize`, gets them unchanged. Lengths count as transformers
    counts them (the decoder start token included).
    """
    if mode == "resummarize" or chunks <= 1:
        return params
    longest = params.max_length or int(defaults.get("max_length") or 142)
    shortest = params.min_length
    if shortest is None:
        shortest = int(defaults.get("min_length") or 0)
    max_length = min(longest, max(longest // chunks, MIN_PARTIAL_TOKENS))
    min_length = min(shortest // chunks, max_length)
    return dataclasses.replace(params, max_length=max_length, min_length=min_length)


def shares_fit(
    params: GenerationParams, defaults: Mapping[str, Any], chunks: int, mode: str
) -> bool:
    """Whether the partials `partial_params` gives fit the summary joined, by their limits
    (`share`, with shares above the floor): their join is then the summary, with no second
    round, whatever its text tokenises to again (a partial's decoded text can tokenise to a few
    more tokens than were generated)."""
    if mode != "share" or chunks <= 1:
        return False
    longest = params.max_length or int(defaults.get("max_length") or 142)
    shared = partial_params(params, defaults, chunks, mode).max_length or longest
    return shared * chunks <= longest
