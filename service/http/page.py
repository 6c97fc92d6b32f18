"""The web page for people at `/`: paste an article, get its summary and translations.

Plain HTML, CSS and JavaScript in `service/http/static/`, served by the app itself (no build
step, nothing loaded from elsewhere: the page works on an air-gapped host). The page calls the
public `/v1` API like any client and reads everything it shows as a choice from the server:
the target languages from `/v1/languages`, the length presets and the character limit from
`/openapi.json`. This blueprint owns the app's one static route, `/static/<path>`, which serves
only the files of that folder.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response

from service.http.access import open_blueprint
from service.http.described import Doc, route

STATIC = Path(__file__).resolve().parent / "static"

# Only this origin: the page must never load or send anything elsewhere.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)

# Open with keys on: what orchestrators, monitoring and people reading the docs need.
bp = open_blueprint(Blueprint("page", __name__, static_folder=STATIC, static_url_path="/static"))


@route(
    bp,
    "/",
    "GET",
    Doc(
        "The page for people: paste an article, get its summary and translations.",
        "operations",
        media_type="text/html",
    ),
)
def index() -> Response:
    # Read whole (3 KB), not streamed: a streamed file stays open until the server closes the
    # response, which WSGI callers such as test clients may never do.
    page = (STATIC / "index.html").read_bytes()
    response = Response(page, mimetype="text/html")
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return response
