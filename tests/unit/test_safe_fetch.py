"""The addresses and URLs ``server.safe_fetch`` refuses before it connects."""

import ipaddress

import pytest

from server.safe_fetch import FetchPolicy, UnsafeTarget, check_url, refusal_reason

REFUSED = {
    "127.0.0.1": "loopback",
    "127.255.255.254": "loopback",
    "::1": "loopback",
    "0.0.0.0": "unspecified",  # noqa: S104 - an address refused, not bound
    "::": "unspecified",
    "10.1.2.3": "private",
    "172.16.0.1": "private",
    "192.168.1.1": "private",
    "100.64.0.1": "cgnat",
    "100.127.255.254": "cgnat",
    "169.254.1.1": "link_local",
    "169.254.169.254": "metadata",
    "fd00:ec2::254": "metadata",
    "fe80::1": "link_local",
    "fc00::1": "private",
    "fd12:3456::1": "private",
    "fec0::1": "private",
    "224.0.0.1": "multicast",
    "239.255.255.250": "multicast",
    "ff02::1": "multicast",
    "240.0.0.1": "reserved",
    "255.255.255.255": "reserved",
    "192.0.0.8": "reserved",
    "198.18.0.1": "private",
    "192.0.2.1": "private",
    # IPv6 spellings of IPv4 addresses inside.
    "::ffff:127.0.0.1": "loopback",
    "::ffff:169.254.169.254": "metadata",
    "::ffff:10.0.0.1": "private",
    "::ffff:0:127.0.0.1": "loopback",  # IPv4-translated (RFC 2765)
    "64:ff9b::a9fe:a9fe": "metadata",  # NAT64 of 169.254.169.254
    "64:ff9b:1::7f00:1": "loopback",  # local-use NAT64
    "2002:7f00:1::": "loopback",  # 6to4 of 127.0.0.1
    "::127.0.0.1": "loopback",  # IPv4-compatible
    "2001:0:4136:e378:8000:63bf:3fff:fdd2": "reserved",  # Teredo
}

ALLOWED = ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8", "1.1.1.1"]


@pytest.mark.parametrize(("address", "reason"), REFUSED.items())
def test_inner_addresses_are_refused(address: str, reason: str) -> None:
    assert refusal_reason(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_pass(address: str) -> None:
    assert refusal_reason(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://hooks.example.com/", "scheme"),
        ("ftp://hooks.example.com/", "scheme"),
        ("file:///etc/passwd", "scheme"),
        ("gopher://127.0.0.1:6379/_INFO", "scheme"),
        ("https://127.0.0.1/", "loopback"),
        ("https://[::1]:8443/", "loopback"),
        ("https://[::ffff:127.0.0.1]/", "loopback"),
        ("https://[::ffff:a9fe:a9fe]/latest/meta-data", "metadata"),
        ("https://169.254.169.254/latest/meta-data/", "metadata"),
        ("https://[fd00:ec2::254]/", "metadata"),
        ("https://2130706433/", "host"),
        ("https://0x7f000001/", "host"),
        ("https://127.1/", "host"),
        ("https://0177.0.0.1/", "host"),
        ("https://user:pw@hooks.example.com/", "host"),
        ("https:///nohost", "host"),
    ],
)
def test_urls_refused_before_any_lookup(url: str, reason: str) -> None:
    with pytest.raises(UnsafeTarget) as refused:
        check_url(url, FetchPolicy())
    assert refused.value.reason == reason


def test_http_only_when_allowed_and_private_networks_only_when_listed() -> None:
    check_url("https://hooks.example.com/in", FetchPolicy())
    check_url("http://hooks.example.com/in", FetchPolicy(allow_http=True))
    listed = FetchPolicy(allowed_networks=(ipaddress.ip_network("10.9.0.0/16"),))
    check_url("https://10.9.1.1/in", listed)
    with pytest.raises(UnsafeTarget):
        check_url("https://10.8.1.1/in", listed)


def test_webhooks_may_use_http_in_development_only() -> None:
    from server.webhooks import policy_for

    assert policy_for("development", ()).allow_http
    production = policy_for("production", ())
    assert not production.allow_http
    with pytest.raises(UnsafeTarget):
        check_url("http://hooks.example.com/in", production)
