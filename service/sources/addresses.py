"""Which URLs and addresses a server-side fetch may reach: the checks against server-side request
forgery, pure (no lookup, no socket), so each case is tested without sending anything anywhere.

A URL is fetched only over http or https, without credentials in it, to a port the URL names or
the scheme's own. An address is reached only when it is public: loopback, private, link-local
(cloud metadata at 169.254.169.254 and fd00:ec2::254 included), shared (100.64/10), multicast,
reserved and unspecified addresses are refused, and so is an IPv6 address that wraps one of them
(IPv4-mapped `::ffff:a.b.c.d`, 6to4, Teredo), unless the policy's allow-list names the host or a
network holding the address. The caller checks every address a name resolves to and connects to
the one it checked, so a name that resolves differently a second time (DNS rebinding) is never
looked up again.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

SCHEMES = {"http": 80, "https": 443}


class AddressRefused(ValueError):
    """The URL or address is not one the policy lets a fetch reach; the message says why."""


@dataclass(frozen=True)
class Target:
    """Where one request goes: scheme, host (lower case, IPv6 without brackets), port, and the
    path with its query as sent in the request line."""

    scheme: str
    host: str
    port: int
    path: str

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == SCHEMES[self.scheme] else f"{host}:{self.port}"


def parse_target(url: str) -> Target:
    """The target of an absolute http(s) URL. Raises AddressRefused for any other scheme, a
    URL without a host, credentials in the URL, or a port out of range."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise AddressRefused(f"not a valid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise AddressRefused(f"only http and https URLs are fetched, not {scheme or 'none'!r}")
    if parts.username is not None or parts.password is not None:
        raise AddressRefused("URLs with credentials (user:password@) are not fetched")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise AddressRefused("the URL has no host")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(scheme, host, port or SCHEMES[scheme], path)


@dataclass(frozen=True)
class AddressPolicy:
    """Public addresses, and whatever `hosts` (names) or `networks` (CIDR) allow besides."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_allow_list(cls, entries: tuple[str, ...]) -> AddressPolicy:
        """From FETCH_ALLOW's entries: a CIDR network or an address is a network, anything
        else a host name. Raises ValueError for an entry that is neither."""
        hosts, networks = set(), []
        for entry in entries:
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                if "/" in entry or not entry.strip(".") or any(c.isspace() for c in entry):
                    raise ValueError(f"{entry!r} is neither a host name nor a network") from None
                hosts.add(entry.lower().rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def check(self, host: str, address: str) -> IPAddress:
        """The address `host` resolved to, if a fetch may connect to it; else AddressRefused
        naming the kind of address."""
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if host.lower() in self.hosts or any(ip in net for net in self.networks):
            return ip
        kind = non_public_kind(ip)
        if kind is not None:
            raise AddressRefused(f"{host} resolves to a {kind} address, which is not fetched")
        return ip


_KINDS = (
    ("loopback", "is_loopback"),
    ("link-local", "is_link_local"),
    ("multicast", "is_multicast"),
    ("unspecified", "is_unspecified"),
    ("reserved", "is_reserved"),
    ("private", "is_private"),
)


def non_public_kind(ip: IPAddress) -> str | None:
    """None for a public address; else what it is (loopback, link-local, multicast, private,
    ...), looking through IPv6 forms that carry an IPv4 address."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if inner is not None:
            return non_public_kind(inner)
    for kind, test in _KINDS:
        if getattr(ip, test):
            return kind
    return None if ip.is_global else "non-public"
