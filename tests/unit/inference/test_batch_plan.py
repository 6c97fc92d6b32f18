"""Batch planning (`service.inference.batch_plan`): which queued items the next batch takes."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from service.inference.batch_plan import plan_batch


def test_plan_of_empty_queue_is_empty() -> None:
    assert plan_batch([], [], max_size=4, max_tokens=100).indices == ()


def test_plan_cuts_at_max_size() -> None:
    plan = plan_batch([1] * 10, ["k"] * 10, max_size=4, max_tokens=100)
    assert plan.indices == (0, 1, 2, 3)
    assert plan.full


def test_plan_cuts_at_padded_token_budget() -> None:
    # Padded size is longest x count: 10x2 fits 25, 10x3 does not.
    plan = plan_batch([10, 10, 10, 10], ["k"] * 4, max_size=8, max_tokens=25)
    assert plan.indices == (0, 1)
    assert plan.full
    # A short head with a long follower: 20x2 = 40 > 30 even though 5 + 20 fits.
    assert plan_batch([5, 20], ["k", "k"], max_size=8, max_tokens=30).indices == (0,)


def test_plan_takes_everything_that_fits_and_is_not_full() -> None:
    plan = plan_batch([20, 5, 5], ["k"] * 3, max_size=8, max_tokens=60)
    assert plan.indices == (0, 1, 2)
    assert not plan.full


def test_plan_always_takes_the_head_even_over_budget() -> None:
    assert plan_batch([500], ["k"], max_size=8, max_tokens=10).indices == (0,)
    assert plan_batch([500, 1], ["k", "k"], max_size=8, max_tokens=10).indices == (0,)


def test_plan_takes_only_items_with_the_head_key() -> None:
    plan = plan_batch([1] * 5, ["a", "b", "a", "b", "a"], max_size=8, max_tokens=100)
    assert plan.indices == (0, 2, 4)
    # Other keys do not count towards the size limit.
    plan = plan_batch([1] * 5, ["a", "b", "b", "a", "a"], max_size=2, max_tokens=100)
    assert plan.indices == (0, 3)
    assert plan.full


@example(items=[(10, "a")] * 4, max_size=8, max_tokens=30)  # fills the budget exactly
@given(
    items=st.lists(st.tuples(st.integers(1, 50), st.sampled_from("abc")), max_size=30),
    max_size=st.integers(1, 10),
    max_tokens=st.integers(1, 200),
)
def test_plan_properties(items: list[tuple[int, str]], max_size: int, max_tokens: int) -> None:
    costs = [cost for cost, _ in items]
    keys = [key for _, key in items]
    plan = plan_batch(costs, keys, max_size=max_size, max_tokens=max_tokens)
    if not items:
        assert plan.indices == ()
        return
    taken = plan.indices
    assert taken[0] == 0
    assert list(taken) == sorted(set(taken))
    assert len(taken) <= max_size
    assert all(keys[i] == keys[0] for i in taken)
    if len(taken) > 1:
        assert max(costs[i] for i in taken) * len(taken) <= max_tokens
    compatible = [i for i in range(len(items)) if keys[i] == keys[0]]
    left = [i for i in compatible if i not in taken]
    longest = max(costs[i] for i in taken)
    if not plan.full:
        assert list(taken) == compatible
    elif len(taken) < max_size:
        # Full below the size limit: no item left out would fit the budget.
        assert left
        assert all(max(longest, costs[i]) * (len(taken) + 1) > max_tokens for i in left)
    else:
        # Full at the size limit: an item left out is no nearer the head's cost than those
        # taken, unless it was left out for the budget.
        farthest = max(abs(costs[i] - costs[0]) for i in taken)
        for i in left:
            over_budget = max(longest, costs[i]) * len(taken) > max_tokens
            assert abs(costs[i] - costs[0]) >= farthest or over_budget


def test_plan_takes_items_nearest_the_head_length_first() -> None:
    # Short and long inputs alternate in the queue; the batch behind a short head is short ones.
    costs = [10, 500, 10, 500, 10, 500, 10]
    plan = plan_batch(costs, ["k"] * 7, max_size=8, max_tokens=1100)
    assert plan.indices == (0, 2, 4, 6)
    assert plan.full  # the long ones were left out for the budget
    # Among equal lengths, queue order decides.
    assert plan_batch([5, 9, 5, 5], ["k"] * 4, max_size=2, max_tokens=100).indices == (0, 2)


def test_an_item_that_fills_the_budget_exactly_is_taken() -> None:
    plan = plan_batch([10, 10, 10], ["k"] * 3, max_size=8, max_tokens=30)
    assert plan.indices == (0, 1, 2) and not plan.full
    plan = plan_batch([10, 10, 10, 10], ["k"] * 4, max_size=8, max_tokens=30)
    assert plan.indices == (0, 1, 2) and plan.full


def test_an_interactive_item_heads_the_batch_before_older_background_ones() -> None:
    plan = plan_batch([1] * 4, ["k"] * 4, max_size=1, max_tokens=100, background=[1, 1, 0, 1])
    assert (plan.head, plan.indices) == (2, (2,))


def test_background_items_fill_only_the_room_interactive_ones_leave() -> None:
    low = [True, True, True, False, False]
    plan = plan_batch([1] * 5, ["k"] * 5, max_size=3, max_tokens=100, background=low)
    assert plan.head == 3
    assert plan.indices == (0, 3, 4)
    assert plan.full


def test_background_items_with_another_key_stay_queued() -> None:
    plan = plan_batch(
        [1] * 4, ["a", "b", "a", "a"], max_size=8, max_tokens=100, background=[1, 1, 1, 0]
    )
    assert (plan.head, plan.indices) == (3, (0, 2, 3))


def test_a_queue_of_only_background_items_is_planned_as_before() -> None:
    costs, keys = [10, 500, 10, 500], ["k"] * 4
    low = plan_batch(costs, keys, max_size=8, max_tokens=1100, background=[True] * 4)
    assert low == plan_batch(costs, keys, max_size=8, max_tokens=1100)


@given(
    items=st.lists(
        st.tuples(st.integers(1, 50), st.sampled_from("ab"), st.booleans()), min_size=1, max_size=30
    ),
    max_size=st.integers(1, 10),
    max_tokens=st.integers(1, 200),
)
def test_plan_never_takes_a_background_item_over_a_fitting_interactive_one(
    items: list[tuple[int, str, bool]], max_size: int, max_tokens: int
) -> None:
    costs = [cost for cost, _, _ in items]
    keys = [key for _, key, _ in items]
    low = [is_low for _, _, is_low in items]
    plan = plan_batch(costs, keys, max_size=max_size, max_tokens=max_tokens, background=low)
    interactive = [i for i in range(len(items)) if not low[i]]
    assert plan.head == (interactive[0] if interactive else 0)
    assert plan.head in plan.indices
    assert all(keys[i] == keys[plan.head] for i in plan.indices)
    taken_low = [i for i in plan.indices if low[i]]
    left_high = [i for i in interactive if i not in plan.indices and keys[i] == keys[plan.head]]
    if taken_low and left_high:
        # An interactive item left out while a background one was taken: it did not fit.
        longest = max(costs[i] for i in plan.indices)
        assert all(max(longest, costs[i]) * len(plan.indices) > max_tokens for i in left_high)


def test_at_most_max_background_batch_job_items_join_a_batch() -> None:
    low = [True] * 6
    plan = plan_batch([1] * 6, ["k"] * 6, max_size=8, max_tokens=100, background=low,
                      max_background_batch=2)  # fmt: skip
    assert plan.indices == (0, 1) and plan.full
    # Behind a request: the request, every other request, then at most two job items.
    low = [True, True, False, True, False, True]
    plan = plan_batch([1] * 6, ["k"] * 6, max_size=8, max_tokens=100, background=low,
                      max_background_batch=2)  # fmt: skip
    assert plan.indices == (0, 1, 2, 4) and plan.full
    plan = plan_batch([1] * 6, ["k"] * 6, max_size=8, max_tokens=100, background=low,
                      max_background_batch=0)  # fmt: skip
    assert plan.indices == (2, 4)
