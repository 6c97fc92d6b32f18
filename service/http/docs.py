"""`/docs`: Swagger UI on `/openapi.json`, with "Try it out", for people exploring the API.

Swagger UI's files come from the pinned swagger-ui-py wheel (Swagger UI 5, which OpenAPI 3.1
needs) and are served by this app under `/docs/assets/`: the page loads nothing from elsewhere.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from flask import Blueprint, Response, abort, send_from_directory

from service.http.access import open_blueprint
from service.http.described import Doc, route

# Open with keys on: what orchestrators, monitoring and people reading the docs need.
bp = open_blueprint(Blueprint("docs", __name__))


@route(
    bp,
    "/docs",
    "GET",
    Doc(
        "This description as an interactive page (Swagger UI).",
        "operations",
        media_type="text/html",
    ),
)
def docs() -> Response:
    """Swagger UI on this document, its files served from this app (nothing from elsewhere)."""
    response = Response(_DOCS_PAGE, mimetype="text/html")
    response.headers["Content-Security-Policy"] = DOCS_CONTENT_SECURITY_POLICY
    return response


@bp.get("/docs/assets/<name>")
def docs_asset(name: str) -> Response:
    if name not in SWAGGER_UI_FILES:
        abort(404)
    return send_from_directory(swagger_ui_dist(), name)


def swagger_ui_dist() -> Path:
    """Swagger UI's dist folder as the pinned swagger-ui-py wheel ships it (found without
    importing the package, whose framework handlers this app does not use)."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or spec.origin is None:
        raise RuntimeError("swagger-ui-py is not installed: pip install -r requirements.txt")
    return Path(spec.origin).parent / "static"


# The files /docs loads; the wheel's other files (Swagger Editor, source maps) are not served.
SWAGGER_UI_FILES = frozenset({"swagger-ui.css", "swagger-ui-bundle.js"})

# Swagger UI sets inline styles, so styles may be inline; scripts and requests stay on this origin.
DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)

_DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>API documentation: news summarisation and translation</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
<link rel="stylesheet" href="/static/docs.css">
<script src="/docs/assets/swagger-ui-bundle.js" defer></script>
<script src="/static/docs.js" defer></script>
</head><body>
<p class="back"><a href="/">Back to the page for people</a> &middot;
<a href="/openapi.json">openapi.json</a></p>
<div id="swagger-ui"></div>
<noscript>Swagger UI needs JavaScript; the description itself is
<a href="/openapi.json">/openapi.json</a>.</noscript>
</body></html>
"""
