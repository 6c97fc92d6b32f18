"""The limits every operation applies to the texts it is given, whatever surface sent them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from service.core.errors import InvalidRequest, PayloadTooLarge


@dataclass(frozen=True)
class TextLimits:
    """How many texts one request may hold and how long each may be (MAX_ITEMS, MAX_TEXT_CHARS)."""

    max_items: int
    max_text_chars: int


def check_texts(texts: Sequence[str], limits: TextLimits, field: str) -> None:
    """Apply the configured limits and reject texts no model can take.

    Empty or whitespace-only texts and strings with lone surrogates (not encodable as UTF-8)
    are 400; too many items or too long a text is 413.
    """
    if len(texts) > limits.max_items:
        raise PayloadTooLarge(
            f"{len(texts)} items in one request; the limit is {limits.max_items}", field=field
        )
    if not texts:
        raise InvalidRequest("the list of texts is empty", field=field)
    for i, text in enumerate(texts):
        where = field if field == "text" else f"{field}.{i}"
        if not text.strip():
            raise InvalidRequest("the text is empty", field=where)
        if len(text) > limits.max_text_chars:
            raise PayloadTooLarge(
                f"text of {len(text)} characters; the limit is {limits.max_text_chars}",
                field=where,
            )
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidRequest(
                "the text holds invalid Unicode (a lone surrogate)", field=where
            ) from None
