"""SUMMARY_PARTIALS: how long each partial summary of a chunked text is (pure)."""

from __future__ import annotations

import pytest

from service.inference.seq2seq import GenerationParams
from service.tasks.summary_partials import (
    MIN_PARTIAL_TOKENS,
    PARTIAL_MODES,
    partial_params,
    shares_fit,
)

DEFAULTS = {"min_length": 56, "max_length": 142, "num_beams": 4}


@pytest.mark.parametrize("mode", PARTIAL_MODES)
def test_a_text_of_one_chunk_keeps_the_summary_s_params(mode: str) -> None:
    params = GenerationParams(num_beams=2, max_length=90)
    assert partial_params(params, DEFAULTS, 1, mode) == params


def test_resummarize_keeps_every_partial_as_long_as_a_summary() -> None:
    params = GenerationParams()
    assert partial_params(params, DEFAULTS, 3, "resummarize") == params


@pytest.mark.parametrize("chunks", [2, 3, 4, 5])
def test_share_divides_the_model_s_lengths_so_the_partials_fit_the_summary(chunks: int) -> None:
    shared = partial_params(GenerationParams(num_beams=4), DEFAULTS, chunks, "share")
    assert shared.num_beams == 4
    assert shared.max_length is not None and shared.min_length is not None
    assert shared.max_length * chunks <= DEFAULTS["max_length"]
    assert shared.max_length == DEFAULTS["max_length"] // chunks
    assert shared.min_length == DEFAULTS["min_length"] // chunks


def test_share_divides_the_lengths_a_request_asked_for() -> None:
    asked = GenerationParams(min_length=80, max_length=300)
    shared = partial_params(asked, DEFAULTS, 2, "share")
    assert (shared.min_length, shared.max_length) == (40, 150)


def test_a_share_too_short_to_say_anything_is_raised_to_the_floor() -> None:
    shared = partial_params(GenerationParams(max_length=60), DEFAULTS, 10, "share")
    assert shared.max_length == MIN_PARTIAL_TOKENS
    assert shared.min_length is not None and shared.min_length <= shared.max_length


def test_a_floor_never_exceeds_the_summary_length_asked_for() -> None:
    shared = partial_params(GenerationParams(min_length=5, max_length=10), DEFAULTS, 3, "share")
    assert shared.max_length == 10
    assert shared.min_length == 1


@pytest.mark.parametrize("chunks", [2, 3, 5])
def test_shares_above_the_floor_fit_the_summary_by_their_limits(chunks: int) -> None:
    assert shares_fit(GenerationParams(), DEFAULTS, chunks, "share")


def test_shares_at_the_floor_or_resummarize_or_one_chunk_do_not_fit_by_construction() -> None:
    assert not shares_fit(GenerationParams(max_length=60), DEFAULTS, 10, "share")
    assert not shares_fit(GenerationParams(), DEFAULTS, 2, "resummarize")
    assert not shares_fit(GenerationParams(), DEFAULTS, 1, "share")
