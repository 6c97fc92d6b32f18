"""What the views read from the running app, typed: the engine, the settings, the language
detector, the metrics (`create_app` puts them there; no view indexes `current_app` by string),
and the request's JSON body within MAX_BODY_BYTES."""

from __future__ import annotations

from typing import Any

from flask import current_app

from service.core.config import Settings
from service.core.metrics import Metrics
from service.http import bodies
from service.inference.engine import Engine
from service.tasks.limits import TextLimits
from service.text.language import LanguageDetector


def engine() -> Engine:
    return current_app.extensions["engine"]


def settings() -> Settings:
    return current_app.config["SETTINGS"]


def detector() -> LanguageDetector:
    return current_app.extensions["detector"]


def metrics() -> Metrics:
    return current_app.extensions["metrics"]


def limits() -> TextLimits:
    return TextLimits(settings().max_items, settings().max_text_chars)


def json_body() -> Any:
    """The request body as JSON, within MAX_BODY_BYTES (see `bodies.json_body`)."""
    return bodies.json_body(settings().max_body_bytes)
