"""Reading a request body, for every surface: within MAX_BODY_BYTES, decoded as JSON, validated
against a pydantic model; errors are `InvalidRequest` / `PayloadTooLarge` naming what is wrong.
"""

from __future__ import annotations

import json
from typing import Any

from flask import request
from pydantic import BaseModel, ValidationError

from service.core.errors import InvalidRequest, PayloadTooLarge

# Longest client-chosen name (an unknown field's, say) an error message repeats.
SHOWN_NAME_CHARS = 64


def json_body(limit: int) -> Any:
    """The request body decoded as JSON. Raises PayloadTooLarge over `limit` bytes (a chunked
    body has no Content-Length for Flask to refuse early) and InvalidRequest for bad JSON. The
    bytes stay cached, so a second reader (access control's `api_key`) reads the same body."""
    data = request.get_data(cache=True)
    if len(data) > limit:
        raise PayloadTooLarge(f"the body is over the limit of {limit} bytes")
    return decode_json(data)


def shown(name: str) -> str:
    """`name` as an error message may repeat it: cut to SHOWN_NAME_CHARS characters and "…",
    so a 2 MB field name does not come back in the answer (twice)."""
    return name if len(name) <= SHOWN_NAME_CHARS else name[:SHOWN_NAME_CHARS] + "\u2026"


def parse(model: type[BaseModel], body: Any) -> Any:
    """Validate a decoded JSON body. Raises InvalidRequest naming the first bad field."""
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be a JSON object")
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_context=False)[0]
        location = ".".join(shown(str(part)) for part in first["loc"]) or None
        message = first["msg"].removeprefix("Value error, ")
        raise InvalidRequest(
            f"{location}: {message}" if location else message, field=location
        ) from None


def decode_json(data: bytes) -> Any:
    """Decode a request body. Raises InvalidRequest for bad UTF-8, bad JSON or absurd nesting."""
    if not data.strip():
        raise InvalidRequest("the body is empty; send a JSON object")
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise InvalidRequest("the body is not valid UTF-8") from None
    except json.JSONDecodeError as exc:
        raise InvalidRequest(f"the body is not valid JSON: {exc.msg} at {exc.pos}") from None
    except ValueError:  # an integer literal over Python's digit limit; its text is CPython's
        raise InvalidRequest("the body holds a number with too many digits") from None
    except RecursionError:
        raise InvalidRequest("the body is nested too deeply") from None
