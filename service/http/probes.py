"""What orchestrators and monitoring read: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from service.inference.engine import Engine
from service.metrics import Metrics

bp = Blueprint("probes", __name__)


def _engine() -> Engine:
    return current_app.extensions["engine"]


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    engine = _engine()
    if engine.alive:
        return jsonify({"status": "alive"}), 200
    return jsonify({"status": "dead", "models": engine.readiness()}), 503


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    engine = _engine()
    ready = engine.ready
    body = {"status": "ready" if ready else "not ready", "models": engine.readiness()}
    return jsonify(body), 200 if ready else 503


@bp.get("/metrics")
def metrics() -> Response:
    registry: Metrics = current_app.extensions["metrics"]
    # content_type, not mimetype: Werkzeug appends a charset to a mimetype, which already has one.
    return Response(registry.render(), content_type="text/plain; version=0.0.4; charset=utf-8")
