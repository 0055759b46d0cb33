"""The real client address, read from ``X-Forwarded-For`` only when the connection comes from a
configured trusted proxy (``trusted_proxies``): otherwise anyone could claim any address and
step around every per-address limit.

Every per-address use (sign-in throttling, socket connections, the pre-call check) calls
``request_address`` with the aiohttp request (for a socket, ``environ["aiohttp.request"]``)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

from aiohttp import web

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# The parsed ``Settings.trusted_proxies``, put on the app by ``create_app``.
TRUSTED_PROXIES: web.AppKey[tuple[Network, ...]] = web.AppKey("trusted_proxies")


def parse_networks(values: Iterable[str]) -> tuple[Network, ...]:
    """CIDR blocks or single addresses (``10.0.0.0/8``, ``127.0.0.1``, ``::1``). Raises
    ``ValueError`` naming the first that is not one."""
    networks: list[Network] = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{value!r} is not an IP address or CIDR block") from None
    return tuple(networks)


def _address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    # An IPv4 client seen through an IPv6 socket is the IPv4 client.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def client_address(
    peer: str | None, forwarded_for: str | None, trusted: tuple[Network, ...]
) -> str:
    """The address a request really comes from.

    ``peer`` is the TCP peer; ``forwarded_for`` the ``X-Forwarded-For`` header, if any. The header
    is walked from the right (the hop nearest to us) past every trusted proxy; the first address
    that is not a trusted proxy is the client. A malformed hop stops the walk there, so a forged
    left part can never be chosen over a hop a trusted proxy wrote. Without a peer (a unix
    socket), ``"unknown"``.
    """
    address = _address(peer) if peer else None
    if address is None:
        return peer or "unknown"
    if not forwarded_for or not trusted:
        return str(address)
    for hop in reversed(forwarded_for.split(",")):
        if not any(address in network for network in trusted):
            break
        parsed = _address(hop)
        if parsed is None:
            break
        address = parsed
    return str(address)


def request_address(request: web.Request) -> str:
    """The real client address of ``request``, through the app's trusted proxies (none when
    the app has not been told any: then the TCP peer). Several ``X-Forwarded-For`` header
    lines count as one list, in order, as HTTP defines."""
    trusted = request.app.get(TRUSTED_PROXIES, ())
    forwarded = ", ".join(request.headers.getall("X-Forwarded-For", ())) or None
    return client_address(request.remote, forwarded, trusted)


def socket_address(environ: Mapping[str, Any], trusted: tuple[Network, ...]) -> str:
    """The client address of a socket.io connection. engine.io's aiohttp environ carries a
    fixed ``REMOTE_ADDR`` of 127.0.0.1, so the peer is read from the aiohttp request."""
    request = environ.get("aiohttp.request")
    if request is None:
        return client_address(
            environ.get("REMOTE_ADDR"), environ.get("HTTP_X_FORWARDED_FOR"), trusted
        )
    forwarded = ", ".join(request.headers.getall("X-Forwarded-For", ())) or None
    return client_address(request.remote, forwarded, trusted)
