"""Fetching a page a client named by URL, within the policy of `addresses` and the limits.

Each hop (the URL, then each redirect, at most MAX_REDIRECTS) is resolved once, every address it
resolves to is checked, and the connection goes to the checked address (the Host header and TLS
name are the URL's host): nothing is looked up twice, so DNS rebinding finds nothing to swap. The
whole fetch has one deadline (the sooner of FETCH_TIMEOUT_S and the request's own): the name
lookup waits for it at most, and a watchdog shuts the socket at it, so a server that sends its
headers or body a byte at a time cannot hold the request thread past it. The body is read in
pieces and refused as soon as it passes the size limit. Only HTML and plain text are read.

Built on `http.client`, which reads no proxy variables, no `.netrc` and keeps no cookies: the
request carries the Host, a User-Agent and the accepted types, and nothing of the service's
environment.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from email.message import Message
from urllib.parse import urljoin

from service.core.config import Settings
from service.core.errors import (
    FetchFailed,
    FetchRefused,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from service.sources.addresses import AddressPolicy, AddressRefused, Target, parse_target

MAX_REDIRECTS = 5
REDIRECTS = frozenset({301, 302, 303, 307, 308})
# What a page may be: HTML (extracted) or plain text (read as it is).
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
TEXT_TYPES = frozenset({"text/plain"})
USER_AGENT = "newsroom-nlp (article summariser)"
_PIECE = 64 * 1024

# Looks a name up: (host, port) -> the addresses it resolves to. Tests pass their own.
Resolver = Callable[[str, int], Sequence[str]]


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to for a TCP connection, in the resolver's order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


# Name lookups run here so that the fetch's deadline bounds them (getaddrinfo has no timeout).
_LOOKUPS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="fetch-lookup")


@dataclass(frozen=True)
class FetchLimits:
    """The size of body read at most, and the seconds a whole fetch may take."""

    max_bytes: int
    timeout_s: float


@dataclass(frozen=True)
class Page:
    """A fetched page: its URL after redirects, its type (`text/html`, `text/plain`, ...), and
    its body decoded by its declared charset (UTF-8 when none or unknown)."""

    url: str
    content_type: str
    text: str

    @property
    def is_html(self) -> bool:
        return self.content_type in HTML_TYPES


@dataclass(frozen=True)
class Fetcher:
    """Fetches pages within an address policy and limits (see the module docstring)."""

    policy: AddressPolicy
    limits: FetchLimits
    resolver: Resolver = resolve

    def fetch(self, url: str, deadline: float = float("inf"), *, field: str = "url") -> Page:
        """The page at `url`, following redirects. Raises FetchRefused (scheme, address,
        redirects), PayloadTooLarge, UnsupportedMediaType or FetchFailed (unreachable, timed
        out, an error status), each naming `field`."""
        deadline = min(deadline, time.monotonic() + self.limits.timeout_s)
        for _ in range(MAX_REDIRECTS + 1):
            try:
                target = parse_target(url)
                address = self._checked_address(target, deadline)
            except AddressRefused as exc:
                raise FetchRefused(str(exc), field=field) from None
            response = _Exchange(target, address, deadline, field)
            try:
                location = response.open()
                if location is None:
                    content_type, text = response.read(self.limits.max_bytes)
                    return Page(url, content_type, text)
            finally:
                response.close()
            url = urljoin(url, location)
        raise FetchRefused(f"more than {MAX_REDIRECTS} redirects", field=field)

    def _checked_address(self, target: Target, deadline: float) -> str:
        return checked_address(self.policy, self.resolver, target, deadline)


def checked_address(
    policy: AddressPolicy, resolver: Resolver, target: Target, deadline: float
) -> str:
    """The address to connect to for `target`: its name looked up once (within `deadline`,
    a `time.monotonic()` time) and every address it has checked against `policy`. Raises
    AddressRefused saying why not (webhooks call servers by the same rule)."""
    lookup = _LOOKUPS.submit(resolver, target.host, target.port)
    try:
        addresses = lookup.result(timeout=max(0.0, deadline - time.monotonic()))
    except FutureTimeout:
        raise AddressRefused(f"looking up {target.host} took too long") from None
    except OSError:
        raise AddressRefused(f"{target.host} does not resolve") from None
    if not addresses:
        raise AddressRefused(f"{target.host} does not resolve")
    for address in addresses:
        policy.check(target.host, address)
    return addresses[0]


def connection(target: Target, address: str, timeout: float) -> http.client.HTTPConnection:
    """An HTTP(S) connection to the checked `address`; TLS checks the certificate for the
    URL's host name, so connecting to the address loses nothing."""
    if target.scheme == "https":
        return _PinnedHTTPS(address, target.port, target.host, timeout)
    return http.client.HTTPConnection(address, target.port, timeout=timeout)


def fetcher_for(settings: Settings) -> Fetcher | None:
    """The fetcher FETCH_URLS, FETCH_ALLOW, FETCH_MAX_BYTES and FETCH_TIMEOUT_S describe; None
    when fetching is off."""
    if not settings.fetch_urls:
        return None
    policy = AddressPolicy.from_allow_list(settings.fetch_allow)
    return Fetcher(policy, FetchLimits(settings.fetch_max_bytes, settings.fetch_timeout_s))


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to a given address, with the certificate checked for the URL's host name."""

    def __init__(self, address: str, port: int, server_name: str, timeout: float) -> None:
        super().__init__(address, port, timeout=timeout, context=ssl.create_default_context())
        self._server_name = server_name

    def connect(self) -> None:
        http.client.HTTPConnection.connect(self)
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self._server_name)


class _Exchange:
    """One request and its response to a checked address, shut at the deadline."""

    def __init__(self, target: Target, address: str, deadline: float, field: str) -> None:
        self.target, self.field, self.deadline = target, field, deadline
        timeout = max(0.001, deadline - time.monotonic())
        self.conn = connection(target, address, timeout)
        self.watchdog = threading.Timer(timeout, self._shut)
        self.watchdog.daemon = True
        self.response: http.client.HTTPResponse | None = None

    def _shut(self) -> None:
        sock = self.conn.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _failed(self, why: str) -> FetchFailed:
        if time.monotonic() >= self.deadline:
            why = "the page did not arrive in time"
        return FetchFailed(f"could not fetch the page: {why}", field=self.field)

    def open(self) -> str | None:
        """Send the request; the redirect's Location, or None for a page to read."""
        self.watchdog.start()
        try:
            self.conn.request("GET", self.target.path, headers=self._headers())
            self.response = self.conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            raise self._failed(type(exc).__name__) from None
        status = self.response.status
        if status in REDIRECTS:
            location = self.response.getheader("Location")
            if not location:
                raise self._failed(f"a {status} redirect without a Location")
            return location
        if not 200 <= status < 300:
            raise self._failed(f"the server answered {status}")
        return None

    def _headers(self) -> dict[str, str]:
        return {
            "Host": self.target.host_header,
            "User-Agent": USER_AGENT,
            "Accept": "text/html, application/xhtml+xml, text/plain;q=0.9",
            "Accept-Encoding": "identity",
            "Connection": "close",
        }

    def read(self, max_bytes: int) -> tuple[str, str]:
        """The page's type and its text, read in pieces up to `max_bytes`."""
        assert self.response is not None
        message = Message()
        # No type at all: read as HTML, which extraction also reads plain text from.
        message["Content-Type"] = self.response.getheader("Content-Type") or "text/html"
        content_type = message.get_content_type()
        if content_type not in HTML_TYPES | TEXT_TYPES:
            raise UnsupportedMediaType(
                f"the page is {content_type}; only HTML and plain text are read", field=self.field
            )
        declared = self.response.getheader("Content-Length") or ""
        if declared.isdigit() and int(declared) > max_bytes:
            raise PayloadTooLarge(f"the page is over {max_bytes} bytes", field=self.field)
        body = bytearray()
        try:
            while piece := self.response.read1(_PIECE):
                body += piece
                if len(body) > max_bytes:
                    raise PayloadTooLarge(f"the page is over {max_bytes} bytes", field=self.field)
                if time.monotonic() >= self.deadline:
                    raise self._failed("timed out")
        except (OSError, http.client.HTTPException) as exc:
            raise self._failed(type(exc).__name__) from None
        charset = message.get_content_charset() or "utf-8"
        try:
            return content_type, body.decode(charset, "replace")
        except LookupError:
            return content_type, body.decode("utf-8", "replace")

    def close(self) -> None:
        self.watchdog.cancel()
        if self.response is not None:
            self.response.close()  # it holds the socket once the connection handed it over
        self.conn.close()
