"""What orchestrators and monitoring read: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from service.http import context
from service.http.access import open_blueprint
from service.http.described import Doc, route

# Open with keys on: what orchestrators, monitoring and people reading the docs need.
bp = open_blueprint(Blueprint("probes", __name__))


@route(
    bp,
    "/healthz",
    "GET",
    Doc(
        "Liveness: the process can serve.",
        "operations",
        errors={"503": "A model's batch worker died: restart the process."},
        style="plain",
    ),
)
def healthz() -> tuple[Response, int]:
    engine = context.engine()
    if engine.alive:
        return jsonify({"status": "alive"}), 200
    return jsonify({"status": "dead", "models": engine.readiness()}), 503


@route(
    bp,
    "/readyz",
    "GET",
    Doc(
        "Readiness: every model loaded.",
        "operations",
        errors={"503": "Not ready: a model is loading or its worker stopped."},
        style="plain",
    ),
)
def readyz() -> tuple[Response, int]:
    engine = context.engine()
    ready = engine.ready
    body = {"status": "ready" if ready else "not ready", "models": engine.readiness()}
    return jsonify(body), 200 if ready else 503


@route(bp, "/metrics", "GET", Doc("Prometheus metrics.", "operations", media_type="text/plain"))
def metrics() -> Response:
    registry = context.metrics()
    # content_type, not mimetype: Werkzeug appends a charset to a mimetype, which already has one.
    return Response(registry.render(), content_type="text/plain; version=0.0.4; charset=utf-8")
