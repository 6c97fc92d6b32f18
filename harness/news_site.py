"""A news site on 127.0.0.1 for the URL-fetching tests: the pages of `harness.pages`, and the
hostile ones a fetch must refuse in time (a slow page, a huge one, an image, redirects to
addresses the service must not reach). It listens on loopback only and stops with `close()`.

Routes: `/article` (the classic page), `/fragment`, `/plain` (text/plain), `/image` (image/png),
`/empty` (HTML with no text), `/untyped` (no Content-Type), `/status/404`, `/redirect?to=URL`
(302), `/chain/N` (N redirects in a row, then `/article`), `/slow` (the headers, then a byte
every 0.2 s), `/slow-headers` (a header byte every 0.2 s), `/huge` (a page of `huge_bytes`,
streamed without a length) and `/huge-declared` (the same with its Content-Length). Each
request's headers are kept in `requests`, in order.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from harness import pages

SLOW_STEP_S = 0.2


class NewsSite:
    def __init__(self, huge_bytes: int = 3_000_000) -> None:
        self.huge_bytes = huge_bytes
        self.requests: list[dict[str, str]] = []
        self._stop = threading.Event()
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                site.requests.append({k.lower(): v for k, v in self.headers.items()})
                site.answer(self)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def close(self) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        path, query = parts.path, parse_qs(parts.query)
        plain = "\n\n".join(" ".join(p) for p in pages.ARTICLE)
        fixed = {
            "/article": ("text/html; charset=utf-8", pages.classic()),
            "/fragment": ("text/html", pages.cms_fragment()),
            "/plain": ("text/plain; charset=utf-8", plain),
            "/image": ("image/png", "\x89PNG not really"),
            "/empty": ("text/html", "<html><body><script>x = 1</script></body></html>"),
        }
        if path in fixed:
            return _send(handler, 200, fixed[path][0], fixed[path][1].encode())
        if path == "/untyped":
            return _send(handler, 200, None, pages.classic().encode())
        if path == "/redirect":
            return _send(handler, 302, "text/plain", b"", {"Location": query["to"][0]})
        if path.startswith("/chain/"):
            left = int(path.rsplit("/", 1)[1])
            location = f"/chain/{left - 1}" if left > 1 else "/article"
            return _send(handler, 301, "text/plain", b"", {"Location": location})
        if path.startswith("/status/"):
            return _send(handler, int(path.rsplit("/", 1)[1]), "text/html", b"<p>gone</p>")
        if path == "/slow":
            return self._dribble(handler, b"<p>" + b"slow " * 1000, headers_first=True)
        if path == "/slow-headers":
            return self._dribble(handler, b"HTTP/1.1 200 OK\r\nX-Padding: " + b"a" * 1000, False)
        if path in ("/huge", "/huge-declared"):
            return self._huge(handler, declared=path == "/huge-declared")
        _send(handler, 404, "text/plain", b"no such page")

    def _dribble(self, handler: BaseHTTPRequestHandler, body: bytes, headers_first: bool) -> None:
        if headers_first:
            handler.send_response(200)
            handler.send_header("Content-Type", "text/html")
            handler.end_headers()
        try:
            for i in range(len(body)):
                if self._stop.wait(SLOW_STEP_S):
                    return
                handler.wfile.write(body[i : i + 1])
                handler.wfile.flush()
        except OSError:
            return  # the fetch gave up: what the test wants

    def _huge(self, handler: BaseHTTPRequestHandler, declared: bool) -> None:
        page = pages.huge(self.huge_bytes).encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html")
        if declared:
            handler.send_header("Content-Length", str(len(page)))
        handler.send_header("Connection", "close")
        handler.end_headers()
        try:
            for start in range(0, len(page), 65536):
                handler.wfile.write(page[start : start + 65536])
        except OSError:
            return
        handler.close_connection = True


def _send(
    handler: BaseHTTPRequestHandler,
    status: int,
    content_type: str | None,
    body: bytes,
    headers: dict[str, str] | None = None,
) -> None:
    handler.send_response(status)
    if content_type is not None:
        handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)
