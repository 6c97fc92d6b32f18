"""The address policy: every non-public kind refused (IPv6 wrappings too), the allow-list
letting through exactly what it names, and URLs refused by scheme, credentials or host."""

import ipaddress

import pytest

from service.sources.addresses import (
    AddressPolicy,
    AddressRefused,
    Target,
    non_public_kind,
    parse_target,
)

NOT_PUBLIC = {
    "127.0.0.1": "loopback",
    "127.9.9.9": "loopback",
    "::1": "loopback",
    "10.1.2.3": "private",
    "172.16.0.1": "private",
    "192.168.1.1": "private",
    "fd00::1": "private",
    "169.254.169.254": "link-local",  # cloud metadata
    "fe80::1": "link-local",
    "224.0.0.1": "multicast",
    "ff02::1": "multicast",
    "0.0.0.0": "unspecified",
    "::": "unspecified",
    "240.0.0.1": "reserved",
    "100.64.0.1": "non-public",  # carrier-grade NAT
    "::ffff:127.0.0.1": "loopback",  # IPv4-mapped
    "::ffff:169.254.169.254": "link-local",
    "2002:7f00:1::": "loopback",  # 6to4 around 127.0.0.1
    "2002:a00:1::": "private",  # 6to4 around 10.0.0.1
}


@pytest.mark.parametrize(("address", "kind"), NOT_PUBLIC.items())
def test_every_kind_of_non_public_address_is_named_and_refused(address: str, kind: str) -> None:
    assert non_public_kind(ipaddress.ip_address(address)) == kind
    with pytest.raises(AddressRefused, match=f"news.test resolves to a {kind} address"):
        AddressPolicy().check("news.test", address)


@pytest.mark.parametrize("address", ["93.184.215.14", "1.1.1.1", "2606:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    assert str(AddressPolicy().check("news.test", address)) == address


def test_the_allow_list_lets_its_networks_and_hosts_through_and_nothing_more() -> None:
    policy = AddressPolicy.from_allow_list(("127.0.0.1/32", "intranet.test", "10.0.0.0/8"))
    assert str(policy.check("anything", "127.0.0.1")) == "127.0.0.1"
    assert str(policy.check("anything", "10.200.0.1")) == "10.200.0.1"
    assert str(policy.check("INTRANET.test", "192.168.9.9")) == "192.168.9.9"
    for host, address in [("anything", "127.0.0.2"), ("other.test", "192.168.9.9")]:
        with pytest.raises(AddressRefused):
            policy.check(host, address)


def test_an_address_entry_is_a_one_address_network() -> None:
    policy = AddressPolicy.from_allow_list(("127.0.0.1", "::1"))
    assert policy.networks == (
        ipaddress.ip_network("127.0.0.1/32"),
        ipaddress.ip_network("::1/128"),
    )
    assert policy.hosts == frozenset()


@pytest.mark.parametrize("entry", ["10.0.0.0/33", "a b", ".", "host/8"])
def test_an_allow_list_entry_that_is_neither_is_refused(entry: str) -> None:
    with pytest.raises(ValueError, match="neither"):
        AddressPolicy.from_allow_list((entry,))


def test_a_zone_index_is_ignored_when_checking() -> None:
    with pytest.raises(AddressRefused, match="link-local"):
        AddressPolicy().check("news.test", "fe80::1%eth0")


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("http://news.test/a?b=1", Target("http", "news.test", 80, "/a?b=1")),
        ("HTTPS://News.Test.:8443", Target("https", "news.test", 8443, "/")),
        ("http://[::1]:81/x", Target("http", "::1", 81, "/x")),
        (" https://news.test/a b ", Target("https", "news.test", 443, "/a b")),
    ],
)
def test_targets(url: str, target: Target) -> None:
    assert parse_target(url) == target


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("file:///etc/passwd", "only http and https"),
        ("gopher://news.test/", "only http and https"),
        ("ftp://news.test/", "only http and https"),
        ("news.test/article", "only http and https"),
        ("http://user:secret@news.test/", "credentials"),
        ("http://user@news.test/", "credentials"),
        ("http:///article", "no host"),
        ("http://news.test:99999/", "not a valid URL"),
        ("http://[::1/", "not a valid URL"),
    ],
)
def test_urls_refused(url: str, why: str) -> None:
    with pytest.raises(AddressRefused, match=why):
        parse_target(url)


@pytest.mark.parametrize(
    ("target", "header"),
    [
        (Target("http", "news.test", 80, "/"), "news.test"),
        (Target("https", "news.test", 443, "/"), "news.test"),
        (Target("http", "news.test", 8080, "/"), "news.test:8080"),
        (Target("http", "::1", 81, "/"), "[::1]:81"),
        (Target("https", "::1", 443, "/"), "[::1]"),
    ],
)
def test_host_header(target: Target, header: str) -> None:
    assert target.host_header == header
