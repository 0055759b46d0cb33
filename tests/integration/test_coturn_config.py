"""Which peers the shipped coturn configuration (``deploy/coturn/turnserver.conf``) relays to.

A real TURN client (aioice's) allocates a relay on a coturn that runs the shipped file with
only addresses, ports and secret overridden (``tests.coturn``), then asks for a permission to
each peer: CreatePermission succeeds for a peer coturn would relay to and fails with 403 for
one it refuses. Only permissions are asked for: nothing is ever sent to a peer, so no packet
leaves loopback whatever the answer.

IPv4 peers are asked on an IPv4 relay and IPv6 peers on an IPv6 relay (a relay of the other
family would answer 443 before coturn looks at the peer).
"""

from __future__ import annotations

import asyncio
import ipaddress
import secrets
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

import pytest
from aioice import stun
from aioice.turn import TurnClientUdpProtocol

from server.turn import mint_turn_credentials
from tests.coturn import HOST, HOST_V6, Coturn, running_coturn

TRANSACTION_TIMEOUT = 5.0
FORBIDDEN = 403
UNAUTHORIZED = 401

# Public addresses, and the public neighbours of the denied ranges (one address outside
# each end), so that a range written one step too wide shows up here.
PUBLIC_PEERS = (
    "1.1.1.1",
    "8.8.8.8",
    "9.255.255.255",
    "11.0.0.0",
    "100.63.255.255",
    "100.128.0.0",
    "126.255.255.255",
    "128.0.0.0",
    "169.253.255.255",
    "169.255.0.0",
    "172.15.255.255",
    "172.32.0.0",
    "192.167.255.255",
    "192.169.0.0",
    "223.255.255.255",
    "2606:4700:4700::1111",
    "2001:4860:4860::8888",
    "2a00:1450:4001:80b::200e",
    "fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
)

# Everything that is not publicly routable, by what reaching it would expose.
INTERNAL_PEERS = {
    # This host: Porchlight, PostgreSQL, Redis, coturn's own ports.
    "loopback": ("127.0.0.1", "127.255.255.254", "::1"),
    # "This network", which Linux delivers to this host, and the unspecified addresses.
    "this network": ("0.0.0.0", "0.1.2.3", "0.255.255.255", "::"),  # noqa: S104 - peers, not binds
    # The network behind the server (RFC 1918, unique local).
    "private": (
        "10.0.0.1",
        "10.255.255.255",
        "172.16.0.1",
        "172.31.255.255",
        "192.168.0.1",
        "192.168.255.255",
        "fc00::1",
        "fd00::2",
        "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    ),
    # Carrier-grade NAT shared space, used inside some clouds and VPNs.
    "cgnat": ("100.64.0.0", "100.100.100.200", "100.127.255.255"),
    # Link-local, and site-local, its deprecated IPv6 sibling.
    "link-local": ("169.254.0.1", "169.254.255.255", "fe80::1", "febf::1", "fec0::1"),
    # The cloud metadata service (AWS, GCP, Azure; fd00:ec2::254 on AWS IPv6).
    "metadata": ("169.254.169.254", "fd00:ec2::254"),
    # IPv4 addresses written as IPv6: a dual-stack relay would reach the IPv4 address.
    "ipv4-mapped": (
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "::ffff:1.1.1.1",
    ),
    # NAT64 local-use prefix (RFC 8215), which reaches whatever IPv4 the translator sees.
    "nat64 local-use": ("64:ff9b:1::a00:1",),
    # IETF protocol assignments, documentation and benchmarking.
    "reserved": (
        "192.0.0.1",
        "192.0.2.1",
        "198.18.0.1",
        "198.19.255.255",
        "198.51.100.1",
        "203.0.113.1",
        "2001:db8::1",
    ),
    # Multicast, reserved and broadcast.
    "multicast": ("224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255", "ff02::1"),
}


def ipv6_available() -> bool:
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((HOST_V6, 0))
        except OSError:
            return False
    return True


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coturn]:
    """coturn with the shipped file's peer rules unchanged (no loopback allowance), on
    127.0.0.1 and, when this machine has it, ::1."""
    with running_coturn(
        tmp_path_factory.mktemp("coturn"), loopback_peers=False, ipv6=ipv6_available()
    ) as turn:
        yield turn


@asynccontextmanager
async def allocation(coturn: Coturn, host: str) -> AsyncIterator[TurnClientUdpProtocol]:
    """A TURN allocation on ``coturn`` reached at ``host`` (its relay has that family), with
    a credential minted as ``server.turn`` mints them; deleted afterwards.

    Each allocation has a user of its own: coturn frees a deleted allocation's quota (the
    shipped file's user-quota) only on its next timer tick, up to a second later."""
    user = f"permission-check-{secrets.token_hex(4)}"
    credentials = mint_turn_credentials(coturn.secret, coturn.turn_ttl, user)
    server = (host, coturn.port)
    _, client = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: TurnClientUdpProtocol(
            server,
            username=credentials.username,
            password=credentials.credential,
            lifetime=coturn.turn_ttl,
            channel_refresh_time=coturn.turn_ttl,
        ),
        remote_addr=server,
    )
    try:
        await asyncio.wait_for(client.connect(), TRANSACTION_TIMEOUT)
        yield client
    finally:
        await client.delete()


async def permission_errors(coturn: Coturn, peers: list[str]) -> dict[str, int | None]:
    """CreatePermission for each peer: None where coturn grants it, else its error code."""
    families = {4: HOST, 6: HOST_V6}
    answers: dict[str, int | None] = {}
    for family, host in families.items():
        asked = [peer for peer in peers if ipaddress.ip_address(peer).version == family]
        if not asked:
            continue
        async with allocation(coturn, host) as client:
            for peer in asked:
                request = stun.Message(
                    message_method=stun.Method.CREATE_PERMISSION,
                    message_class=stun.Class.REQUEST,
                )
                request.attributes["XOR-PEER-ADDRESS"] = (peer, 0)
                try:
                    await asyncio.wait_for(client.request_with_retry(request), TRANSACTION_TIMEOUT)
                except stun.TransactionFailed as failed:
                    answers[peer] = failed.response.error_code
                else:
                    answers[peer] = None
    return answers


def peers_to_ask(peers: list[str]) -> list[str]:
    """``peers`` without the IPv6 ones when this machine has no IPv6 loopback."""
    if ipv6_available():
        return peers
    return [peer for peer in peers if ipaddress.ip_address(peer).version == 4]


async def test_shipped_coturn_config_permits_public_peers(shipped: Coturn) -> None:
    """The shipped file once denied ``::``, which coturn reads as every address of both
    families: CreatePermission to any peer, 1.1.1.1 included, got 403, and no call that
    needs TURN could connect."""
    peers = peers_to_ask(list(PUBLIC_PEERS))
    assert await permission_errors(shipped, peers) == dict.fromkeys(peers)


@pytest.mark.parametrize("kind", list(INTERNAL_PEERS))
async def test_shipped_coturn_config_refuses_internal_peers(shipped: Coturn, kind: str) -> None:
    peers = peers_to_ask(list(INTERNAL_PEERS[kind]))
    assert await permission_errors(shipped, peers) == dict.fromkeys(peers, FORBIDDEN)


async def test_test_coturn_relays_to_127_0_0_1_only(tmp_path: Path) -> None:
    """What ``loopback_peers`` adds for tests whose peers are both on this machine: exactly
    127.0.0.1 (where coturn's own relays are); the rest of loopback and of the shipped
    refusals stay."""
    with running_coturn(tmp_path, loopback_peers=True) as turn:
        answers = await permission_errors(turn, ["127.0.0.1", "127.0.0.2", "10.0.0.1", "1.1.1.1"])
    assert answers == {"127.0.0.1": None, "127.0.0.2": 403, "10.0.0.1": 403, "1.1.1.1": None}


async def test_shipped_coturn_config_accepts_no_placeholder_secret(shipped: Coturn) -> None:
    """coturn adds every static-auth-secret it is given to one list. The shipped file once set
    the placeholder CHANGE-ME, so wherever the real secret came from the command line (the
    tests, the demo, a container), credentials minted with CHANGE-ME were accepted too."""
    placeholder = replace(shipped, secret="CHANGE-ME")
    with pytest.raises(stun.TransactionFailed) as refused:
        async with allocation(placeholder, HOST):
            pass
    assert refused.value.response.error_code == UNAUTHORIZED
