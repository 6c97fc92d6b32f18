"""What the views read from the running app, typed: the engine, the settings, the language
detector, the metrics (`create_app` puts them there; no view indexes `current_app` by string),
and the request's JSON body within MAX_BODY_BYTES."""

from __future__ import annotations

from typing import Any

from flask import current_app, request

from service.config import Settings
from service.errors import PayloadTooLarge
from service.http.schemas import decode_json
from service.inference.engine import Engine
from service.metrics import Metrics
from service.text.language import LanguageDetector


def engine() -> Engine:
    return current_app.extensions["engine"]


def settings() -> Settings:
    return current_app.config["SETTINGS"]


def detector() -> LanguageDetector:
    return current_app.extensions["detector"]


def metrics() -> Metrics:
    return current_app.extensions["metrics"]


def json_body() -> Any:
    """The request body decoded as JSON. Raises PayloadTooLarge over MAX_BODY_BYTES (a chunked
    body has no Content-Length for Flask to refuse early) and InvalidRequest for bad JSON."""
    data, limit = request.get_data(cache=False), settings().max_body_bytes
    if len(data) > limit:
        raise PayloadTooLarge(f"the body is over the limit of {limit} bytes")
    return decode_json(data)
