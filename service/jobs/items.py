"""A job's items as clients send them, and its outcomes as result lines: pure, no I/O.

Reading (`items_from_json` for a JSON list, `items_from_lines` for a JSON Lines upload) keeps one
set of rules for both, so the same items give the same job whichever way they came:
- Each item is an object `{"id": ..., "text": ...}`; other keys are ignored. An `id` is the
  client's: a non-empty string, or an integer, taken as its decimal string (`7` and `"7"` are the
  same id). Without one, the item's id is its index among the items (from 0; blank lines are not
  items), so a list and the same items as lines get the same ids.
- An id given twice (`7` and `"7"`, or an explicit `"2"` and the third item's default) refuses
  the whole upload: InvalidRequest naming both places. So does an id that is neither a string
  nor an integer, empty, or not UTF-8: a per-item error needs an id to be reported under.
- An item that is valid JSON but unusable (not an object, no `text`, `text` not a string,
  empty or blank text, a lone surrogate escaped in it) is still an item: it carries an
  `ItemError` and becomes that item's error line, so one bad line does not fail an archive of
  thousands.
- A line that is not JSON, or not UTF-8, refuses the upload with InvalidRequest naming its line
  number (from 1). Blank lines are skipped; a UTF-8 byte order mark before the first line and
  `\\r\\n` line ends are accepted.
- Limits come from the caller: more than `max_items` items or `max_bytes` bytes is
  PayloadTooLarge naming the limit; no items at all is InvalidRequest.

Writing: `outcome_line` is one outcome as one line, `{"id", "result"}` or
`{"id", "error": {"code", "message"}}`, UTF-8, ending in a newline. `read_outcomes` reads such
lines back (to resume a run): only lines that end in a newline count, so a last line cut short
by a crash is reported as not written, and everything before it is kept.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from service.core.errors import InvalidRequest, PayloadTooLarge
from service.jobs.store import Item, ItemError, Outcome

# The code of a per-item error found while reading the upload (the API's 400 code).
INVALID_ITEM = "invalid_request"


def items_from_json(value: Any, *, max_items: int, field: str = "items") -> list[Item]:
    """The items of a JSON body's list (`field` names it in errors: `items.3`)."""
    if not isinstance(value, list):
        raise InvalidRequest("the items must be a JSON list", field=field)
    if len(value) > max_items:
        raise _too_many(max_items)
    return _checked([(f"{field}.{i}", raw) for i, raw in enumerate(value)], field)


def items_from_lines(body: bytes, *, max_items: int, max_bytes: int) -> list[Item]:
    """The items of a JSON Lines upload, one JSON object per line."""
    if len(body) > max_bytes:
        raise PayloadTooLarge(
            f"an upload of {len(body)} bytes; the limit is {max_bytes} bytes", field="items"
        )
    body = body.removeprefix(b"\xef\xbb\xbf")
    found: list[tuple[str, Any]] = []
    for number, line in enumerate(body.split(b"\n"), start=1):
        if not line.strip():
            continue
        if len(found) == max_items:
            raise _too_many(max_items)
        found.append((f"line {number}", _json_line(line, number)))
    return _checked(found, "items")


def _json_line(line: bytes, number: int) -> Any:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(
            f"line {number} is not UTF-8 (byte {exc.start + 1} of the line)", field="items"
        ) from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise InvalidRequest(f"line {number} is not JSON: {exc}", field="items") from None
    except RecursionError:
        raise InvalidRequest(f"line {number} is nested too deeply", field="items") from None


def _too_many(max_items: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"more than {max_items} items; the limit is {max_items}", field="items")


def _checked(found: Sequence[tuple[str, Any]], field: str) -> list[Item]:
    """Items from (place, parsed JSON) pairs: ids checked and unique, unusable ones as errors."""
    if not found:
        raise InvalidRequest("there are no items", field=field)
    items, seen = [], {}
    for index, (place, raw) in enumerate(found):
        item_id = _item_id(raw, index, place, field)
        if item_id in seen:
            raise InvalidRequest(
                f"id {item_id!r} of {place} is already the id of {seen[item_id]}", field=field
            )
        seen[item_id] = place
        items.append(_item(item_id, raw))
    return items


def _item_id(raw: Any, index: int, place: str, field: str) -> str:
    value = raw.get("id") if isinstance(raw, dict) else None
    if value is None:
        return str(index)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value:
        raise InvalidRequest(
            f"the id of {place} must be a non-empty string or an integer", field=field
        )
    if not _is_unicode(value):
        raise InvalidRequest(
            f"the id of {place} holds invalid Unicode (a lone surrogate)", field=field
        )
    return value


def _item(item_id: str, raw: Any) -> Item:
    """The item, or the item with the reason it cannot be run."""
    if not isinstance(raw, dict):
        return _invalid(item_id, "an item must be a JSON object with a text")
    text = raw.get("text")
    if text is None:
        return _invalid(item_id, "the item has no text")
    if not isinstance(text, str):
        return _invalid(item_id, "the item's text must be a string")
    if not text.strip():
        return _invalid(item_id, "the text is empty")
    if not _is_unicode(text):
        return _invalid(item_id, "the text holds invalid Unicode (a lone surrogate)")
    return Item(item_id, text)


def _is_unicode(text: str) -> bool:
    """Whether `text` encodes as UTF-8 (JSON's `\\ud800` escapes decode to lone surrogates,
    which no store or result line can hold)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _invalid(item_id: str, message: str) -> Item:
    return Item(item_id, error=ItemError(INVALID_ITEM, message))


def outcome_line(outcome: Outcome) -> bytes:
    """The outcome as one JSON line (UTF-8 characters as they are, a newline at the end)."""
    body: dict[str, Any] = {"id": outcome.item_id}
    if outcome.error is not None:
        body["error"] = {"code": outcome.error.code, "message": outcome.error.message}
    else:
        body["result"] = outcome.result
    return json.dumps(body, ensure_ascii=False).encode("utf-8") + b"\n"


@dataclass(frozen=True)
class WrittenOutcomes:
    """Outcomes read back from result lines, in order, and how many leading bytes hold them
    (the rest is a last line cut short: write from there)."""

    outcomes: list[Outcome]
    complete_bytes: int


def read_outcomes(data: bytes) -> WrittenOutcomes:
    """Read result lines back. A complete line that is not a result line raises InvalidRequest
    naming it (the file is not one of ours, or was edited): it is never silently dropped."""
    end = data.rfind(b"\n") + 1
    outcomes = []
    for number, line in enumerate(data[:end].split(b"\n")[:-1], start=1):
        if line.strip():
            outcomes.append(_outcome(line, number))
    return WrittenOutcomes(outcomes, end)


def _outcome(line: bytes, number: int) -> Outcome:
    try:
        body = json.loads(line.decode("utf-8"))
    except (ValueError, RecursionError):
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("id"), str):
        raise InvalidRequest(f"line {number} is not a result line")
    error = body.get("error")
    if "result" in body and error is None:
        return Outcome(body["id"], result=body["result"])
    if isinstance(error, dict) and isinstance(error.get("code"), str):
        return Outcome(body["id"], error=ItemError(error["code"], str(error.get("message", ""))))
    raise InvalidRequest(f"line {number} is not a result line")
