"""What the views read from the running app, typed: the engine, the settings, the language
detector, the metrics. `create_app` puts them there; no view indexes `current_app` by string."""

from __future__ import annotations

from flask import current_app

from service.config import Settings
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
