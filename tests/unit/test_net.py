"""The real client address behind trusted proxies."""

from __future__ import annotations

from unittest import mock

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict

from server.net import TRUSTED_PROXIES, client_address, parse_networks, request_address
from server.settings import SettingsError, load_settings

PROXIES = parse_networks(["10.0.0.0/8", "::1"])


def test_without_trusted_proxies_the_header_is_ignored() -> None:
    assert client_address("203.0.113.9", "198.51.100.1", ()) == "203.0.113.9"


def test_a_header_from_an_untrusted_peer_is_ignored() -> None:
    assert client_address("203.0.113.9", "198.51.100.1", PROXIES) == "203.0.113.9"


def test_the_client_is_the_first_untrusted_hop_from_the_right() -> None:
    # A forged left part ("1.2.3.4") stays ignored: the proxy appended the real peer.
    header = "1.2.3.4, 198.51.100.7, 10.1.1.1"
    assert client_address("10.0.0.2", header, PROXIES) == "198.51.100.7"


def test_a_malformed_hop_stops_the_walk() -> None:
    assert client_address("10.0.0.2", "198.51.100.7, not-an-ip", PROXIES) == "10.0.0.2"


def test_ipv4_mapped_peers_are_ipv4() -> None:
    assert client_address("::ffff:203.0.113.9", None, PROXIES) == "203.0.113.9"


def test_trusted_proxies_from_the_environment() -> None:
    settings = load_settings(environ={"PORCHLIGHT_TRUSTED_PROXIES": "10.0.0.0/8, 127.0.0.1"})
    assert settings.trusted_proxies == ("10.0.0.0/8", "127.0.0.1")
    assert len(settings.proxy_networks) == 2


def test_a_bad_trusted_proxy_is_named() -> None:
    with pytest.raises(SettingsError, match="trusted_proxies"):
        load_settings(environ={"PORCHLIGHT_TRUSTED_PROXIES": "10.0.0.0/8,proxy.local"})


def request_from(peer: str, *forwarded_for: str, trusted: tuple[str, ...] = ()) -> web.Request:
    app = web.Application()
    app[TRUSTED_PROXIES] = parse_networks(trusted)
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: (
        (peer, 40000) if name == "peername" else default
    )
    headers = CIMultiDict(("X-Forwarded-For", value) for value in forwarded_for)
    return make_mocked_request("POST", "/api/v1/auth/login", headers, app=app, transport=transport)


def test_a_request_is_read_through_the_apps_trusted_proxies() -> None:
    assert request_address(request_from("10.0.0.2", "198.51.100.7")) == "10.0.0.2"
    proxied = request_from("10.0.0.2", "198.51.100.7", trusted=("10.0.0.0/8",))
    assert request_address(proxied) == "198.51.100.7"


def test_several_forwarded_for_lines_are_one_list() -> None:
    proxied = request_from("10.0.0.2", "1.2.3.4", "198.51.100.7, 10.0.0.9", trusted=("10.0.0.0/8",))
    assert request_address(proxied) == "198.51.100.7"
