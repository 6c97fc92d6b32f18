"""The Flask application factory, request ids and the request log (one JSON line per request:
its items and batches come from the operation it ran, see `context.run`).

`create_app()` builds the engine (loading models, initialising CUDA), so under gunicorn it runs in
the worker process after fork; gunicorn.conf.py closes the engine when the worker exits. Next to
it, the jobs' worker (`app.extensions["jobs"]`, a `JobRunner`: its `store` is what the HTTP
layer reads jobs from, its `on_finished` what it hooks into) runs job items when JOBS is on;
gunicorn.conf.py stops it first, on SIGTERM. Job callbacks (`app.extensions["webhooks"]`) are
sent when the worker finishes a job or a request cancels one.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, g, request

from service.core.config import Settings
from service.core.errors import ConfigError
from service.core.logs import configure_logging
from service.core.metrics import Metrics
from service.http import access, errors, openapi
from service.http.surfaces import BLUEPRINTS
from service.inference.engine import Engine
from service.jobs.documents import file_store_for
from service.jobs.runner import JobRunner
from service.jobs.store import JobStore
from service.jobs.stores import open_store
from service.jobs.webhooks import webhooks_for
from service.sources import fetcher_for
from service.text.language import LanguageDetector

log = logging.getLogger("service.request")

# Ids load balancers and tracers send (UUIDs, "Root=1-5f8a-...", base64) pass; spaces, quotes
# and markup, which could forge or garble a log line, do not.
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:;=+/-]{1,128}$")


def create_app(settings: Settings | None = None, *, engine: Engine | None = None) -> Flask:
    """Build the app. Without `engine`, start one from `settings` (default: the environment).

    A caller that passes an engine keeps ownership of it (tests share one across apps); the
    HTTP settings are then `settings` if given, else the engine's, and the jobs' worker is
    built but not started (`app.extensions["jobs"].start()` starts it).
    """
    if settings is None:
        settings = engine.settings if engine is not None else Settings.from_env()
    configure_logging(settings.log_level)
    # No app-wide static folder: the page's blueprint owns the one static route, /static/<path>,
    # which serves only the page's own files.
    app = Flask(__name__, static_folder=None)
    app.config["SETTINGS"] = settings
    # One byte over the limit: a chunked body (no Content-Length) is cut at this length without
    # an error, so `api._body` reads up to it and refuses a body that reaches it.
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes + 1
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.json.sort_keys = False  # type: ignore[attr-defined]
    owns_engine = engine is None
    jobs_store = _jobs_store(settings)
    if engine is None:
        engine = Engine(settings).start()
    metrics = engine.metrics
    app.extensions["engine"] = engine
    app.extensions["metrics"] = metrics
    app.extensions["detector"] = detector = LanguageDetector()
    files = file_store_for(settings)
    runner = JobRunner(jobs_store, engine, settings, detector=detector, files=files)
    app.extensions["jobs"] = runner.start() if owns_engine and settings.jobs else runner
    webhooks = webhooks_for(settings.jobs_webhook_secret, settings.jobs_webhook_allow)
    runner.on_finished.append(webhooks.on_finished)
    app.extensions["webhooks"] = webhooks
    app.extensions["fetcher"] = fetcher_for(settings)
    app.extensions["documents"] = files
    for blueprint in (*BLUEPRINTS, openapi.bp):
        app.register_blueprint(blueprint)
    _install_request_hooks(app, metrics, settings)
    access.install(app, settings, metrics)
    errors.install(app, settings)
    return app


def _jobs_store(settings: Settings) -> JobStore:
    """The store JOBS_STORE names; ConfigError for one no store knows. Opening touches nothing,
    so an unreachable store does not stop the service from starting."""
    try:
        return open_store(settings.jobs_store)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _install_request_hooks(app: Flask, metrics: Metrics, settings: Settings) -> None:
    @app.before_request
    def start() -> None:
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given if _REQUEST_ID_RE.match(given) else uuid.uuid4().hex
        g.started = time.perf_counter()
        # The request's one deadline (views pass it to the tasks): ITEM_TIMEOUT_S from its start,
        # so reading, splitting and tokenising count against it as well as the models.
        g.deadline = time.monotonic() + settings.item_timeout_s

    @app.after_request
    def finish(response: Response) -> Response:
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        response.headers["X-Request-ID"] = g.get("request_id", "")
        metrics.requests.labels(endpoint, request.method, str(response.status_code)).inc()
        # A streamed answer (service.http.events) is logged when its last event has gone, with
        # the batches it ran in and the error that ended it, if one did.
        seen = g._get_current_object()  # type: ignore[attr-defined]
        done = _logger(metrics, seen, request.method, endpoint, response.status_code)
        if g.get("streamed"):
            response.call_on_close(done)
        else:
            done()
        return response


def _logger(
    metrics: Metrics, seen: Any, method: str, endpoint: str, status: int
) -> Callable[[], None]:
    """What writes the request's log line and its latency, from what `seen` (its `g`) holds."""

    def done() -> None:
        elapsed = time.perf_counter() - seen.get("started", time.perf_counter())
        metrics.latency.labels(endpoint).observe(elapsed)
        if endpoint == "/metrics":
            return
        line = {
            "request_id": seen.get("request_id"),
            "method": method,
            "endpoint": endpoint,
            "status": status,
            "latency_ms": round(elapsed * 1000, 1),
            "items": seen.get("items"),
            "batch_ids": seen.get("batch_ids"),
            "key": seen.get("key_name"),
        }
        if seen.get("stream_error"):
            line["error"] = seen.get("stream_error")
        log.info("request", extra=line)

    return done
