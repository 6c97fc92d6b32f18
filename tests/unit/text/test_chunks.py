"""Token-budget chunking (`service.text.chunks`, pure functions)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from transformers import AutoTokenizer

from service.ops.demo_models import TRAINING_TEXT
from service.text.chunks import plan_chunks, split_to_budget

Count = Callable[[list[str]], list[int]]


def word_count(texts: list[str]) -> list[int]:
    return [len(text.split()) for text in texts]


@pytest.fixture(scope="module", params=["summarize", "en-fr"])
def token_count(request: pytest.FixtureRequest, demo_models: dict[str, Path]) -> Count:
    """Token counts from a real (tiny) tokenizer: BART byte-level BPE or Marian sentencepiece."""
    tokenizer = AutoTokenizer.from_pretrained(demo_models[request.param])

    def count(texts: list[str]) -> list[int]:
        encoded = tokenizer(texts, add_special_tokens=False, verbose=False)
        return [len(ids) for ids in encoded["input_ids"]]

    return count


# ----- split_to_budget -----------------------------------------------------------------------


def test_a_sentence_within_budget_is_kept_whole() -> None:
    assert split_to_budget("a b c", 3, word_count) == ["a b c"]


def test_split_to_budget_prefers_clause_boundaries() -> None:
    sentence = "one two, three four; five six seven"
    assert split_to_budget(sentence, 4, word_count) == ["one two, three four;", "five six seven"]
    assert split_to_budget(sentence, 3, word_count) == ["one two,", "three four;", "five six seven"]


def test_split_to_budget_rejects_a_zero_budget() -> None:
    with pytest.raises(ValueError):
        split_to_budget("a b", 0, word_count)


@given(
    words=st.lists(st.sampled_from(["alpha", "beta,", "gamma;", "delta", "x:", "y"]), max_size=60),
    budget=st.integers(1, 12),
)
def test_split_to_budget_with_word_counts(words: list[str], budget: int) -> None:
    sentence = " ".join(words)
    pieces = split_to_budget(sentence, budget, word_count)
    assert all(n <= budget for n in word_count(pieces))
    assert " ".join(pieces).split() == sentence.split()


LONG_SENTENCE = " ".join(
    TRAINING_TEXT["en"][0].replace(".", "").replace(",", "").lower().split() * 6
)


@pytest.mark.parametrize("budget", [12, 17, 64])
def test_split_to_budget_with_a_real_tokenizer(token_count: Count, budget: int) -> None:
    sentence = TRAINING_TEXT["en"][1] + " " + LONG_SENTENCE
    assert token_count([sentence])[0] > budget
    assert max(token_count(sentence.split())) <= budget  # every word fits: none is cut
    pieces = split_to_budget(sentence, budget, token_count)
    assert len(pieces) > 1
    assert all(n <= budget for n in token_count(pieces))
    assert " ".join(pieces).split() == sentence.split()


def test_split_to_budget_below_word_size_cuts_words_but_keeps_characters(
    token_count: Count,
) -> None:
    sentence = TRAINING_TEXT["en"][1]
    pieces = split_to_budget(sentence, 3, token_count)
    assert all(n <= 3 for n in token_count(pieces))
    assert "".join("".join(pieces).split()) == "".join(sentence.split())


def test_split_to_budget_cuts_one_huge_word_between_characters(token_count: Count) -> None:
    url = "https://example.org/" + "abcdefghij" * 30
    pieces = split_to_budget(url, 16, token_count)
    assert len(pieces) > 1
    assert all(n <= 16 for n in token_count(pieces))
    assert "".join(pieces) == url


# ----- plan_chunks ---------------------------------------------------------------------------


def fewest_chunks(counts: list[int], budget: int) -> int:
    """Chunks a greedy fill needs: the fewest possible for consecutive groups."""
    chunks, total = 1, 0
    for c in counts:
        if total and total + c > budget:
            chunks, total = chunks + 1, 0
        total += c
    return chunks


def test_plan_chunks_of_nothing_is_nothing() -> None:
    assert plan_chunks([], 10) == []


def test_plan_chunks_refuses_an_item_over_budget() -> None:
    with pytest.raises(ValueError, match="exceeds the budget"):
        plan_chunks([3, 11, 2], 10)


def test_plan_chunks_evens_out_the_last_chunk() -> None:
    # A greedy fill gives 3+3+3+1 items; the plan keeps 4 chunks without the 1-item stub.
    chunks = plan_chunks([10] * 10, 30)
    assert len(chunks) == 4
    assert sorted(end - start for start, end in chunks) == [2, 2, 3, 3]
    assert plan_chunks([10] * 10, 60) == [(0, 5), (5, 10)]


def test_plan_chunks_keeps_one_chunk_when_everything_fits() -> None:
    assert plan_chunks([1, 2, 3], 6) == [(0, 3)]


@given(
    counts=st.lists(st.integers(1, 60), min_size=1, max_size=60),
    budget=st.integers(60, 300),
)
def test_plan_chunks_covers_in_order_within_budget(counts: list[int], budget: int) -> None:
    chunks = plan_chunks(counts, budget)
    assert chunks[0][0] == 0 and chunks[-1][1] == len(counts)
    assert all(start < end for start, end in chunks)
    assert all(a[1] == b[0] for a, b in zip(chunks, chunks[1:], strict=False))
    assert all(sum(counts[start:end]) <= budget for start, end in chunks)
    assert len(chunks) == fewest_chunks(counts, budget)


@given(n=st.integers(1, 80), size=st.integers(1, 30), budget=st.integers(30, 200))
def test_plan_chunks_of_equal_items_differ_by_at_most_one_item(
    n: int, size: int, budget: int
) -> None:
    chunks = plan_chunks([size] * n, budget)
    lengths = [end - start for start, end in chunks]
    assert max(lengths) - min(lengths) <= 1


@given(
    counts=st.lists(st.integers(1, 20), min_size=2, max_size=80),
    budget=st.integers(80, 200),
)
def test_plan_chunks_last_chunk_is_not_a_stub(counts: list[int], budget: int) -> None:
    # Items well under the budget (sentences in an article): the last chunk gets at least
    # half of an even share.
    chunks = plan_chunks(counts, budget)
    if len(chunks) > 1:
        even_share = sum(counts) / len(chunks)
        assert sum(counts[chunks[-1][0] :]) >= even_share / 2
