"""The page at `/` and the app's one static route, through the Flask test client.

What the page does in a browser is tested in tests/system/test_page_browser.py; here: it is served,
it names the stable test hooks, and it loads nothing from elsewhere.
"""

import re

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

HOOKS = ("article-input", "run-button", "error-message")


def _get(client: FlaskClient, path: str) -> TestResponse:
    """GET with the body read and the file closed (a served file stays open until then)."""
    response = client.get(path)
    response.get_data()
    response.close()
    return response


def test_the_page_is_served_at_the_root(client: FlaskClient) -> None:
    response = _get(client, "/")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    for hook in HOOKS:
        assert f'data-testid="{hook}"' in page, hook
    assert '<html lang="en">' in page
    assert 'href="/docs"' in page


def test_the_page_loads_only_files_of_this_app(client: FlaskClient) -> None:
    response = _get(client, "/")
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy
    page = response.get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    local = [a for a in assets if a.startswith("/") and not a.startswith("//")]
    assert set(assets) - set(local) <= {"data:,"}, assets
    for asset in local:
        if asset.startswith("/static/"):
            assert _get(client, asset).status_code == 200, asset
    script = _get(client, "/static/page.js").get_data(as_text=True)
    assert not re.search(r"https?://", script)


def test_the_page_reads_languages_and_limits_from_the_server(client: FlaskClient) -> None:
    """What page.js reads: the pairs from /v1/languages and the length presets and character
    limit from /openapi.json (nothing hard-coded in the page)."""
    script = _get(client, "/static/page.js").get_data(as_text=True)
    assert '"/v1/languages"' in script and '"/openapi.json"' in script
    spec = _get(client, "/openapi.json").get_json()
    article = spec["components"]["schemas"]["ArticleRequest"]["properties"]
    # `text` is optional (`url` is the other choice): its limit is in the string branch.
    assert [c.get("maxLength") for c in article["text"]["anyOf"]] == [100000, None]
    assert {"short", "medium", "long"} <= {
        value for choice in article["length"]["anyOf"] for value in choice.get("enum", [])
    }
    page = _get(client, "/").get_data(as_text=True)
    assert "target-ar" not in page and "target-fr" not in page  # built from /v1/languages


def test_the_static_route_serves_only_the_page_s_folder(client: FlaskClient) -> None:
    assert _get(client, "/static/page.css").mimetype == "text/css"
    for path in ("/static/../app.py", "/static/%2e%2e/app.py", "/static/nothing.js"):
        response = _get(client, path)
        assert response.status_code == 404, path
        assert response.get_json()["error"]["code"] == "not_found"
