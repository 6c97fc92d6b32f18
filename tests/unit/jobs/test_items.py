"""Reading a job's items from a JSON list and from JSON Lines; writing and reading result lines."""

from __future__ import annotations

import json

import pytest

from service.core.errors import InvalidRequest, PayloadTooLarge
from service.jobs.items import (
    INVALID_ITEM,
    WrittenOutcomes,
    items_from_json,
    items_from_lines,
    outcome_line,
    read_outcomes,
)
from service.jobs.store import Item, ItemError, Outcome

BIG = 10_000


def lines(*values: object) -> bytes:
    return b"".join(json.dumps(v).encode() + b"\n" for v in values)


def from_lines(body: bytes, max_items: int = BIG, max_bytes: int = 10**9) -> list[Item]:
    return items_from_lines(body, max_items=max_items, max_bytes=max_bytes)


def refusal(call, *args, **kw) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        call(*args, **kw)
    return caught.value


# ----- ids -----------------------------------------------------------------------------------


def test_ids_are_the_clients_and_texts_kept_verbatim() -> None:
    body = lines({"id": "a-1", "text": " One.\n\nTwo. "}, {"id": "b", "text": "Trois."})
    assert from_lines(body) == [Item("a-1", " One.\n\nTwo. "), Item("b", "Trois.")]


def test_an_integer_id_is_its_decimal_string() -> None:
    assert from_lines(lines({"id": 7, "text": "x"}, {"id": -3, "text": "y"})) == [
        Item("7", "x"),
        Item("-3", "y"),
    ]


def test_missing_ids_default_to_the_index_among_items_not_the_line_number() -> None:
    rest = lines({"text": "b"}, {"id": "z", "text": "c"})
    body = b"\n" + lines({"text": "a"}) + b"   \n\n" + rest
    assert [item.id for item in from_lines(body)] == ["0", "1", "z"]


def test_a_list_and_the_same_items_as_lines_give_the_same_items() -> None:
    values = [{"text": "a"}, {"id": 5, "text": "b"}, {"id": "q"}, "plain", {"text": "d"}]
    assert items_from_json(values, max_items=BIG) == from_lines(lines(*values))


@pytest.mark.parametrize("bad", [1.5, True, False, "", [], {"x": 1}])
def test_an_id_neither_string_nor_integer_refuses_the_upload_naming_the_line(bad) -> None:
    exc = refusal(from_lines, lines({"text": "a"}, {"id": bad, "text": "b"}))
    assert exc.message == "the id of line 2 must be a non-empty string or an integer"
    assert exc.field == "items"


def test_a_null_id_is_no_id() -> None:
    assert from_lines(lines({"id": None, "text": "a"})) == [Item("0", "a")]


def test_an_id_with_a_lone_surrogate_is_refused() -> None:
    exc = refusal(from_lines, b'{"id": "a\\ud800", "text": "x"}\n')
    assert exc.message == "the id of line 1 holds invalid Unicode (a lone surrogate)"
    assert exc.field == "items"


def test_duplicate_ids_name_both_lines() -> None:
    body = lines({"id": "a", "text": "x"}, {"id": "b", "text": "y"}, {"id": "a", "text": "z"})
    exc = refusal(from_lines, body)
    assert exc.message == "id 'a' of line 3 is already the id of line 1"
    assert exc.field == "items"


def test_an_integer_and_its_string_are_the_same_id() -> None:
    exc = refusal(from_lines, lines({"id": 7, "text": "x"}, {"id": "7", "text": "y"}))
    assert exc.message == "id '7' of line 2 is already the id of line 1"


def test_an_explicit_id_clashing_with_a_default_index_is_a_duplicate() -> None:
    exc = refusal(from_lines, lines({"id": "1", "text": "x"}, {"text": "y"}))
    assert exc.message == "id '1' of line 2 is already the id of line 1"


def test_duplicates_in_a_list_name_both_indexes() -> None:
    values = [{"id": "a", "text": "x"}, {"id": "a", "text": "y"}]
    exc = refusal(items_from_json, values, max_items=BIG)
    assert exc.message == "id 'a' of items.1 is already the id of items.0"
    assert exc.field == "items"
    exc = refusal(items_from_json, values, max_items=BIG, field="docs")
    assert exc.message == "id 'a' of docs.1 is already the id of docs.0"
    assert exc.field == "docs"


# ----- unusable items are per-item errors ----------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"id": "k"}, "the item has no text"),
        ({"id": "k", "text": None}, "the item has no text"),
        ({"id": "k", "text": 12}, "the item's text must be a string"),
        ({"id": "k", "text": ["a"]}, "the item's text must be a string"),
        ({"id": "k", "text": ""}, "the text is empty"),
        ({"id": "k", "text": " \n\t"}, "the text is empty"),
    ],
)
def test_an_unusable_item_carries_its_error(value: dict, message: str) -> None:
    body = lines({"id": "ok", "text": "Fine."}, value)
    assert from_lines(body) == [
        Item("ok", "Fine."),
        Item("k", error=ItemError(INVALID_ITEM, message)),
    ]


@pytest.mark.parametrize("value", ["a text", 3, [1, 2], None, True])
def test_a_json_value_that_is_not_an_object_is_an_item_error_under_its_index(value) -> None:
    [first, second] = from_lines(lines({"text": "a"}, value))
    assert first == Item("0", "a")
    assert second == Item(
        "1", error=ItemError("invalid_request", "an item must be a JSON object with a text")
    )


def test_a_text_with_a_lone_surrogate_is_an_item_error() -> None:
    [item] = from_lines(b'{"id": "s", "text": "bad \\udc80 text"}\n')
    assert item == Item(
        "s", error=ItemError(INVALID_ITEM, "the text holds invalid Unicode (a lone surrogate)")
    )


def test_other_keys_are_ignored() -> None:
    assert from_lines(lines({"id": "a", "text": "x", "meta": {"k": 1}})) == [Item("a", "x")]


# ----- malformed uploads ---------------------------------------------------------------------


def test_a_line_that_is_not_json_names_its_line_number() -> None:
    body = lines({"text": "a"}) + b"\n" + b'{"text": "b"\n' + lines({"text": "c"})
    exc = refusal(from_lines, body)
    assert exc.message.startswith("line 3 is not JSON: ")
    assert exc.field == "items"


def test_a_line_that_is_not_utf8_names_its_line_and_byte() -> None:
    body = lines({"text": "a"}) + b'{"text": "caf\xe9"}\n'
    exc = refusal(from_lines, body)
    assert exc.message == "line 2 is not UTF-8 (byte 14 of the line)"
    assert exc.field == "items"


def test_crlf_line_ends_and_a_byte_order_mark_are_accepted() -> None:
    body = b'\xef\xbb\xbf{"id": "a", "text": "x"}\r\n{"text": "y"}\r\n'
    assert from_lines(body) == [Item("a", "x"), Item("1", "y")]


def test_a_last_line_without_a_newline_is_read() -> None:
    assert from_lines(b'{"text": "x"}\n{"text": "y"}') == [Item("0", "x"), Item("1", "y")]


@pytest.mark.parametrize("body", [b"", b"\n\n  \n", b"\xef\xbb\xbf"])
def test_no_items_at_all_is_refused(body: bytes) -> None:
    assert refusal(from_lines, body).message == "there are no items"


def test_an_empty_list_is_refused() -> None:
    exc = refusal(items_from_json, [], max_items=BIG)
    assert (exc.message, exc.field) == ("there are no items", "items")


@pytest.mark.parametrize("value", [{"id": "a", "text": "x"}, "x", None, 3])
def test_items_that_are_not_a_list_are_refused(value) -> None:
    exc = refusal(items_from_json, value, max_items=BIG, field="items")
    assert (exc.message, exc.field) == ("the items must be a JSON list", "items")


# ----- limits --------------------------------------------------------------------------------


def test_items_up_to_the_limit_pass_and_one_more_is_too_large() -> None:
    three = lines({"text": "a"}, {"text": "b"}, {"text": "c"})
    assert len(from_lines(three, max_items=3)) == 3
    assert len(from_lines(three + b"\n\n", max_items=3)) == 3  # blank lines are not items
    with pytest.raises(PayloadTooLarge) as caught:
        from_lines(three + lines({"text": "d"}), max_items=3)
    assert caught.value.message == "more than 3 items; the limit is 3"
    assert caught.value.field == "items"


def test_a_list_over_the_item_limit_is_too_large() -> None:
    values = [{"text": "a"}] * 3
    assert len(items_from_json(values, max_items=3)) == 3
    with pytest.raises(PayloadTooLarge) as caught:
        items_from_json([*values, {"text": "b"}], max_items=3)
    assert caught.value.message == "more than 3 items; the limit is 3"


def test_an_upload_over_the_byte_limit_is_too_large_before_it_is_read() -> None:
    body = lines({"text": "a"})
    assert len(from_lines(body, max_bytes=len(body))) == 1
    with pytest.raises(PayloadTooLarge) as caught:
        from_lines(body + b"not json", max_bytes=len(body))
    assert caught.value.message == (
        f"an upload of {len(body) + 8} bytes; the limit is {len(body)} bytes"
    )
    assert caught.value.field == "items"


# ----- result lines --------------------------------------------------------------------------


def test_a_result_is_one_line_with_characters_as_they_are() -> None:
    line = outcome_line(Outcome("a", result={"translation": "مرحبا\nbonjour"}))
    assert line == '{"id": "a", "result": {"translation": "مرحبا\\nbonjour"}}\n'.encode()
    assert line.count(b"\n") == 1


def test_an_error_is_its_code_and_message() -> None:
    line = outcome_line(Outcome("b", error=ItemError("timeout", "too slow")))
    assert json.loads(line) == {"id": "b", "error": {"code": "timeout", "message": "too slow"}}


def test_a_null_result_is_still_a_result() -> None:
    assert json.loads(outcome_line(Outcome("c"))) == {"id": "c", "result": None}


def test_result_lines_read_back_as_the_outcomes_written() -> None:
    outcomes = [
        Outcome("a", result={"summary": "S", "chunks": 2}),
        Outcome("b", error=ItemError("invalid_request", "the text is empty")),
        Outcome("c", result=None),
        Outcome("d", result=["x", 1]),
    ]
    data = b"".join(map(outcome_line, outcomes))
    assert read_outcomes(data) == WrittenOutcomes(outcomes, len(data))


def test_a_last_line_cut_short_is_not_written_and_the_rest_is_kept() -> None:
    whole = outcome_line(Outcome("a", result="x")) + outcome_line(Outcome("b", result="y"))
    cut = outcome_line(Outcome("c", result="zzz"))[:-1]  # even valid JSON, without its newline
    read = read_outcomes(whole + cut)
    assert [o.item_id for o in read.outcomes] == ["a", "b"]
    assert read.complete_bytes == len(whole)
    assert read_outcomes(whole[:5]).complete_bytes == 0
    assert read_outcomes(whole[:5]).outcomes == []


def test_blank_lines_in_results_are_skipped() -> None:
    data = b"\n" + outcome_line(Outcome("a", result=1)) + b"\n"
    assert read_outcomes(data).outcomes == [Outcome("a", result=1)]
    assert read_outcomes(data).complete_bytes == len(data)


@pytest.mark.parametrize(
    "line",
    [
        b"not json",
        b"[1, 2]",
        b'{"result": 1}',
        b'{"id": 3, "result": 1}',
        b'{"id": "a"}',
        b'{"id": "a", "error": "boom"}',
        b'{"id": "a", "error": {"message": "no code"}}',
        b'{"id": "a", "error": {"code": 5, "message": "m"}}',
        b'{"id": "caf\xe9", "result": 1}',
    ],
)
def test_a_complete_line_that_is_not_a_result_line_is_named(line: bytes) -> None:
    data = outcome_line(Outcome("ok", result=1)) + line + b"\n"
    assert refusal(read_outcomes, data).message == "line 2 is not a result line"


def test_an_error_without_a_message_reads_back_with_an_empty_one() -> None:
    read = read_outcomes(b'{"id": "a", "error": {"code": "x"}}\n')
    assert read.outcomes == [Outcome("a", error=ItemError("x", ""))]


def test_a_line_nested_too_deeply_is_refused_naming_it() -> None:
    with pytest.raises(InvalidRequest, match="line 2 is nested too deeply"):
        from_lines(b'{"text": "fine"}\n' + b"[" * 100_000 + b"\n")
