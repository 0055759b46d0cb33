"""Fetching a URL that someone else chose (a webhook endpoint; later every URL the server
fetches) without letting it reach inside our network: server-side request forgery.

- Only ``https`` (``http`` too when the policy allows it, in development).
- The host name is resolved here, every address it resolves to is checked, and the request
  is refused if any of them is loopback, private, link-local, CGNAT, multicast, reserved,
  unspecified, a cloud metadata address, or an IPv6 address that embeds such an IPv4 address
  (mapped, translated, compatible, NAT64, 6to4; Teredo is refused outright).
- The connection is pinned to the checked addresses: aiohttp's resolver *is* the check, so
  the name is not resolved a second time between the check and the connect (DNS rebinding).
  TLS still verifies the certificate against the host name.
- Redirects are followed by hand, at most ``max_redirects``, each new URL checked and
  resolved again from scratch.
- A timeout for the connect and for the whole fetch (redirects included), and a cap on the
  response body read (the rest is left unread and the connection closed).

``FetchPolicy.allowed_networks`` lets an operator reach a receiver on a private network on
purpose (an on-premises system); nothing else is exempt.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from server.net import Network

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# (host, port) → the addresses it resolves to; injectable so tests can play a DNS server.
Resolve = Callable[[str, int], Awaitable[list[str]]]

REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Cloud instance metadata (AWS, GCP, Azure, ...; AWS's IPv6 one): named so that a refusal
# says so; both are refused by the ranges anyway.
METADATA = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
# IETF protocol assignments; Python 3.11 counts only parts of it as private.
_IETF = ipaddress.ip_network("192.0.0.0/24")
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
# RFC 2765's IPv4-translated addresses, ::ffff:0:a.b.c.d.
_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")
_COMPATIBLE = ipaddress.ip_network("::/96")


class UnsafeTarget(Exception):
    """The URL may not be fetched. ``reason`` is one word for logs and the delivery log:
    ``scheme``, ``host``, ``resolve``, ``loopback``, ``private``, ``link_local``, ``cgnat``,
    ``multicast``, ``reserved``, ``unspecified``, ``metadata``, ``redirects``."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


class FetchFailed(Exception):
    """The fetch was allowed but did not complete: refused connection, TLS, timeout."""


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    """What a fetch may reach and how long it may take."""

    allow_http: bool = False
    allowed_networks: tuple[Network, ...] = ()
    max_redirects: int = 3
    connect_timeout: float = 5.0
    total_timeout: float = 10.0
    max_bytes: int = 64 * 1024
    resolve: Resolve | None = None


@dataclass(frozen=True, slots=True)
class Fetched:
    """A response: its status, headers, up to ``max_bytes`` of body (``truncated`` when there
    was more) and the URL that answered (after redirects)."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    truncated: bool
    url: str


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    packed = address.packed
    if address in _TRANSLATED or any(address in net for net in _NAT64):
        return ipaddress.IPv4Address(packed[-4:])
    if address in _COMPATIBLE and int(address) > 1:  # ::a.b.c.d; :: and ::1 are themselves
        return ipaddress.IPv4Address(packed[-4:])
    return None


def refusal_reason(address: Address) -> str | None:
    """Why ``address`` may not be reached, or None when it is a public unicast address."""
    if address in METADATA:
        return "metadata"
    if isinstance(address, ipaddress.IPv6Address):
        if address.teredo is not None:
            return "reserved"
        inner = _embedded_ipv4(address)
        if inner is not None:
            return refusal_reason(inner) or None
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link_local"
    if address.is_multicast:
        return "multicast"
    if isinstance(address, ipaddress.IPv4Address) and address in _CGNAT:
        return "cgnat"
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return "private"
    if address.is_reserved:
        return "reserved"
    if address.is_private or not address.is_global:
        return "private"
    if isinstance(address, ipaddress.IPv4Address) and address in _IETF:
        return "reserved"
    return None


def check_address(address: Address, policy: FetchPolicy) -> None:
    """Raise ``UnsafeTarget`` unless ``address`` may be reached under ``policy``."""
    if any(address in network for network in policy.allowed_networks):
        return
    reason = refusal_reason(address)
    if reason is not None:
        raise UnsafeTarget(reason, f"{address} is not a public address")


def check_url(url: str, policy: FetchPolicy) -> URL:
    """The parsed URL, or ``UnsafeTarget`` for a scheme, host or literal address refused
    (names are checked when they are resolved, on connect)."""
    try:
        parsed = URL(url)
    except (ValueError, TypeError):
        raise UnsafeTarget("host", "not a URL") from None
    schemes = ("https", "http") if policy.allow_http else ("https",)
    if parsed.scheme not in schemes:
        raise UnsafeTarget("scheme", f"only {' or '.join(schemes)} URLs may be fetched")
    if not parsed.host or parsed.user is not None or parsed.password is not None:
        raise UnsafeTarget("host", "the URL needs a host and no credentials")
    literal = _literal(parsed.host)
    if literal is not None:
        check_address(literal, policy)
    elif _numeric(parsed.host):
        raise UnsafeTarget("host", "numeric host names are refused")
    return parsed


def _numeric(host: str) -> bool:
    """2130706433, 127.1, 0x7f.1, 0177.0.0.1: legacy IPv4 spellings that resolvers turn into
    addresses (the C library's ``inet_aton`` reads them all)."""
    try:
        socket.inet_aton(host.rstrip("."))
    except OSError:
        return False
    return True


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        return None


async def _system_resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return [str(info[4][0]) for info in infos]


class _CheckedResolver(AbstractResolver):
    """aiohttp's resolver that resolves, refuses the name if any address is unsafe, and
    returns exactly the addresses it checked, which the connector then connects to."""

    def __init__(self, policy: FetchPolicy) -> None:
        self.policy = policy

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> list[ResolveResult]:
        resolve = self.policy.resolve or _system_resolve
        try:
            found = await resolve(host, port)
        except OSError as exc:
            raise UnsafeTarget("resolve", f"{host} does not resolve ({exc})") from None
        if not found:
            raise UnsafeTarget("resolve", f"{host} does not resolve")
        results: list[ResolveResult] = []
        for text in dict.fromkeys(found):
            address = ipaddress.ip_address(text.split("%")[0])
            check_address(address, self.policy)
            ipv6 = isinstance(address, ipaddress.IPv6Address)
            results.append(
                {
                    "hostname": host,
                    "host": str(address),
                    "port": port,
                    "family": socket.AF_INET6 if ipv6 else socket.AF_INET,
                    "proto": 0,
                    "flags": socket.AI_NUMERICHOST,
                }
            )
        return results

    async def close(self) -> None:
        return None


async def fetch(
    url: str,
    policy: FetchPolicy,
    *,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
) -> Fetched:
    """Fetch ``url`` under ``policy``. Raises ``UnsafeTarget`` when the URL, an address it
    resolves to or a redirect is refused, ``FetchFailed`` when the fetch does not complete.

    A 307 or 308 redirect repeats the method and body; 301, 302 and 303 turn into a GET
    without a body (as browsers do)."""
    connector = aiohttp.TCPConnector(
        resolver=_CheckedResolver(policy), use_dns_cache=False, force_close=True
    )
    timeout = aiohttp.ClientTimeout(total=policy.total_timeout, sock_connect=policy.connect_timeout)
    try:
        async with (
            # No proxies from the environment, no cookies kept between hops.
            aiohttp.ClientSession(
                connector=connector,
                timeout=timeout,
                trust_env=False,
                cookie_jar=aiohttp.DummyCookieJar(),
            ) as session,
            asyncio.timeout(policy.total_timeout),
        ):
            for _hop in range(policy.max_redirects + 1):
                target = check_url(url, policy)
                async with session.request(
                    method, target, headers=headers, data=body, allow_redirects=False
                ) as response:
                    location = response.headers.get("Location")
                    if response.status in REDIRECTS and location:
                        url = urljoin(str(target), location)
                        if response.status in (301, 302, 303):
                            method, body = "GET", None
                        continue
                    read = await response.content.read(policy.max_bytes + 1)
                    return Fetched(
                        status=response.status,
                        headers=dict(response.headers),
                        body=read[: policy.max_bytes],
                        truncated=len(read) > policy.max_bytes,
                        url=str(target),
                    )
            raise UnsafeTarget("redirects", f"more than {policy.max_redirects} redirects")
    except aiohttp.ClientConnectorError as exc:
        # The resolver's refusal arrives wrapped in the connector's error.
        cause: Any = exc.__cause__ or exc.__context__
        if isinstance(cause, UnsafeTarget):
            raise cause from None
        raise FetchFailed(f"cannot connect: {exc.os_error}") from None
    except TimeoutError:
        raise FetchFailed("timed out") from None
    except aiohttp.ClientError as exc:
        raise FetchFailed(f"{type(exc).__name__}: {exc}") from None


async def vet(url: str, policy: FetchPolicy) -> None:
    """Check a URL before it is saved: ``check_url``, and when its name resolves now, every
    address it resolves to. A name that does not resolve yet passes (it is checked again on
    every fetch)."""
    parsed = check_url(url, policy)
    host = parsed.host or ""
    if _literal(host) is not None:
        return
    try:
        async with asyncio.timeout(policy.connect_timeout):
            await _CheckedResolver(policy).resolve(host, parsed.port or 443)
    except UnsafeTarget as exc:
        if exc.reason != "resolve":
            raise
    except TimeoutError:
        pass  # a slow name server: checked again on every fetch
