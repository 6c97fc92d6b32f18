"""Fetching against the local news site: pages read, and every attack case refused in time with
its error, before any connection leaves loopback (a guard fails the test if one would)."""

import socket
import time

import pytest

from harness.news_site import NewsSite
from service.core.errors import FetchFailed, FetchRefused, PayloadTooLarge, UnsupportedMediaType
from service.sources import MAX_REDIRECTS, AddressPolicy, Fetcher, FetchLimits

LOOPBACK_ONLY = AddressPolicy.from_allow_list(("127.0.0.1/32",))
LIMITS = FetchLimits(max_bytes=1_000_000, timeout_s=2.0)


@pytest.fixture(autouse=True)
def connections(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every connection a fetch opens; one to anything but 127.0.0.1 fails the test unsent."""
    opened: list[tuple[str, int]] = []
    real = socket.create_connection

    def guarded(address, *args, **kwargs):
        opened.append(address)
        assert address[0] == "127.0.0.1", f"a fetch tried to connect to {address}"
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", guarded)
    return opened


def _fetcher(policy: AddressPolicy = LOOPBACK_ONLY, **names: list[str]) -> Fetcher:
    """A fetcher whose lookups come from `names` (news_test=[...] for news.test), else DNS."""

    def resolver(host: str, port: int) -> list[str]:
        key = host.replace(".", "_")
        return names[key] if key in names else [a[4][0] for a in socket.getaddrinfo(host, port)]

    return Fetcher(policy, LIMITS, resolver)


def test_a_page_is_read_with_its_type_and_final_url(news_site: NewsSite) -> None:
    page = _fetcher().fetch(news_site.url("/article"))
    assert page.is_html and page.url == news_site.url("/article")
    assert "The city council approved the new river bridge" in page.text


def test_redirects_are_followed_and_the_final_url_reported(news_site: NewsSite) -> None:
    page = _fetcher().fetch(news_site.url(f"/chain/{MAX_REDIRECTS}"))
    assert page.url == news_site.url("/article")


def test_plain_text_is_read_as_it_is(news_site: NewsSite) -> None:
    page = _fetcher().fetch(news_site.url("/plain"))
    assert (page.content_type, page.is_html) == ("text/plain", False)


def test_a_page_without_a_type_is_read_as_html(news_site: NewsSite) -> None:
    assert _fetcher().fetch(news_site.url("/untyped")).is_html


def test_the_request_carries_the_host_and_nothing_of_the_environment(
    news_site: NewsSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    policy = AddressPolicy.from_allow_list(("news.test",))
    _fetcher(policy, news_test=["127.0.0.1"]).fetch(news_site.url("/article", "news.test"))
    sent = news_site.requests[-1]
    assert sent["host"] == f"news.test:{news_site.port}"
    assert not {"cookie", "authorization", "proxy-authorization"} & set(sent)


def test_the_checked_address_is_the_one_connected_to_and_looked_up_once(
    news_site: NewsSite, connections: list[tuple[str, int]]
) -> None:
    """DNS rebinding: a second lookup would answer 10.0.0.1; there is none."""
    answers = iter([["127.0.0.1"], ["10.0.0.1"]])
    policy = AddressPolicy.from_allow_list(("127.0.0.1/32",))
    fetcher = Fetcher(policy, LIMITS, lambda host, port: next(answers))
    fetcher.fetch(news_site.url("/article", "rebind.test"))
    assert connections == [("127.0.0.1", news_site.port)]
    assert next(answers) == ["10.0.0.1"]  # never asked for


ADDRESS_CASES = {
    "loopback not allowed": ("http://127.0.0.2:{port}/article", "loopback"),
    "localhost by name": ("http://localhost:{port}/article", "loopback"),
    "decimal loopback": ("http://2130706433:{port}/article", "loopback"),
    "IPv6 loopback": ("http://[::1]:{port}/article", "loopback"),
    "metadata": ("http://169.254.169.254/latest/meta-data/", "link-local"),
    "private": ("http://10.0.0.1/", "private"),
    "unspecified": ("http://0.0.0.0:{port}/article", "unspecified"),
    "scheme": ("file:///etc/passwd", "only http and https"),
    "credentials": ("http://u:p@127.0.0.1:{port}/article", "credentials"),
}


@pytest.mark.parametrize(("url", "why"), ADDRESS_CASES.values(), ids=ADDRESS_CASES.keys())
def test_addresses_are_refused_before_connecting(
    url: str, why: str, news_site: NewsSite, connections: list[tuple[str, int]]
) -> None:
    no_allow = _fetcher(AddressPolicy())
    with pytest.raises(FetchRefused, match=why) as caught:
        no_allow.fetch(url.format(port=news_site.port), field="url")
    assert caught.value.status == 400 and caught.value.field == "url"
    assert connections == []


def test_a_name_resolving_to_public_and_private_addresses_is_refused() -> None:
    fetcher = _fetcher(AddressPolicy(), mixed_test=["93.184.215.14", "10.0.0.1"])
    with pytest.raises(FetchRefused, match="private"):
        fetcher.fetch("http://mixed.test/")


def test_a_name_that_does_not_resolve_is_refused() -> None:
    fetcher = _fetcher(AddressPolicy(), gone_test=[])
    with pytest.raises(FetchRefused, match="does not resolve"):
        fetcher.fetch("http://gone.test/")


@pytest.mark.parametrize(
    ("target", "why"),
    [("http://10.0.0.1/internal", "private"), ("http://127.0.0.2:{port}/article", "loopback")],
    ids=["to private", "to loopback not allowed"],
)
def test_a_redirect_is_checked_like_the_url(
    target: str, why: str, news_site: NewsSite, connections: list[tuple[str, int]]
) -> None:
    url = news_site.url("/redirect?to=" + target.format(port=news_site.port))
    with pytest.raises(FetchRefused, match=why):
        _fetcher().fetch(url)
    assert connections == [("127.0.0.1", news_site.port)]  # the first hop only


def test_too_many_redirects_are_refused(news_site: NewsSite) -> None:
    with pytest.raises(FetchRefused, match=f"more than {MAX_REDIRECTS} redirects"):
        _fetcher().fetch(news_site.url(f"/chain/{MAX_REDIRECTS + 1}"))


@pytest.mark.parametrize("path", ["/slow", "/slow-headers"])
def test_a_slow_server_is_given_up_at_the_deadline(news_site: NewsSite, path: str) -> None:
    start = time.monotonic()
    with pytest.raises(FetchFailed, match="did not arrive in time") as caught:
        _fetcher().fetch(news_site.url(path), deadline=time.monotonic() + 0.8)
    assert time.monotonic() - start < 1.5
    assert caught.value.status == 422


def test_the_fetch_timeout_bounds_a_fetch_without_a_deadline(news_site: NewsSite) -> None:
    start = time.monotonic()
    fetcher = Fetcher(LOOPBACK_ONLY, FetchLimits(max_bytes=10_000, timeout_s=0.6))
    with pytest.raises(FetchFailed, match="in time"):
        fetcher.fetch(news_site.url("/slow"))
    assert time.monotonic() - start < 1.3


@pytest.mark.parametrize("path", ["/huge", "/huge-declared"])
def test_a_huge_page_is_refused_at_the_limit(news_site: NewsSite, path: str) -> None:
    with pytest.raises(PayloadTooLarge, match="over 1000000 bytes") as caught:
        _fetcher().fetch(news_site.url(path))
    assert caught.value.status == 413


def test_a_page_that_is_not_html_or_text_is_refused(news_site: NewsSite) -> None:
    with pytest.raises(UnsupportedMediaType, match="image/png") as caught:
        _fetcher().fetch(news_site.url("/image"))
    assert caught.value.status == 415


def test_an_error_status_is_a_failed_fetch(news_site: NewsSite) -> None:
    with pytest.raises(FetchFailed, match="answered 404"):
        _fetcher().fetch(news_site.url("/status/404"))


def test_a_closed_port_is_a_failed_fetch() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(FetchFailed, match="could not fetch"):
        _fetcher().fetch(f"http://127.0.0.1:{port}/")


# ----- HTTPS: connected to the checked address, the certificate checked for the URL's host -----


@pytest.fixture(scope="module")
def tls_site(tmp_path_factory: pytest.TempPathFactory):
    """An HTTPS server on 127.0.0.1 with a self-signed certificate for news.test; yields
    (port, certificate path)."""
    import shutil
    import ssl
    import subprocess
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from harness import pages

    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (it makes the test certificate)")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=news.test"]
        + ["-addext", "subjectAltName=DNS:news.test"],
        check=True,
        capture_output=True,
    )

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body = pages.classic().encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], cert
    server.shutdown()
    server.server_close()


def _trusting(monkeypatch: pytest.MonkeyPatch, cert) -> None:  # noqa: ANN001
    import ssl

    from service.sources import fetch

    real = ssl.create_default_context
    monkeypatch.setattr(fetch.ssl, "create_default_context", lambda: real(cafile=str(cert)))


def test_https_goes_to_the_checked_address_with_the_hosts_certificate(
    tls_site, monkeypatch: pytest.MonkeyPatch, connections: list[tuple[str, int]]
) -> None:
    port, cert = tls_site
    _trusting(monkeypatch, cert)
    policy = AddressPolicy.from_allow_list(("news.test",))
    page = _fetcher(policy, news_test=["127.0.0.1"]).fetch(f"https://news.test:{port}/")
    assert page.is_html and connections == [("127.0.0.1", port)]


def test_https_refuses_a_certificate_for_another_host(
    tls_site, monkeypatch: pytest.MonkeyPatch
) -> None:
    port, cert = tls_site
    _trusting(monkeypatch, cert)
    policy = AddressPolicy.from_allow_list(("other.test",))
    with pytest.raises(FetchFailed, match="could not fetch"):
        _fetcher(policy, other_test=["127.0.0.1"]).fetch(f"https://other.test:{port}/")


def test_https_refuses_an_untrusted_certificate(tls_site) -> None:
    port, _ = tls_site
    policy = AddressPolicy.from_allow_list(("news.test",))
    with pytest.raises(FetchFailed, match="SSL"):
        _fetcher(policy, news_test=["127.0.0.1"]).fetch(f"https://news.test:{port}/")
