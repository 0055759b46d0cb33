"""Limits per visitor, per client address and per site, whatever number of sockets they use:
messages, typing, new conversations, connections, and the sockets open at once."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from server.keys import SIO, STORE
from tests.raw_socket import open_raw
from tests.support import SHOP, Peer, Server, another_tab, customer, until

MANY = "1000/minute"


def from_address(server: Server, address: str, site: str = "shop-site", host: str = SHOP) -> Peer:
    """A visitor behind the trusted proxy (127.0.0.1) that forwards for ``address``."""
    return Peer(
        server.url,
        "/customer",
        auth={"site": site, "host": host},
        headers={"X-Forwarded-For": address},
    )


def message(cid: str, n: int, who: str = "m") -> dict[str, Any]:
    return {"conversation_id": cid, "client_msg_id": f"{who}-{n:06d}", "body": f"hello {n}"}


def refused_for_now(result: dict[str, Any]) -> bool:
    """A ``rate.limited`` refusal with a retry delay within the window."""
    error = result.get("error") or {}
    return error.get("code") == "rate.limited" and 0 < error["retry_after_ms"] <= 60_000


async def started(visitor: Peer) -> str:
    await visitor.connect()
    return str((await visitor.ok("conversation.start", {}))["conversation"]["id"])


@pytest.mark.settings(message_limits=("10/minute", MANY, MANY))
async def test_one_visitor_on_many_sockets_shares_one_message_limit(
    server: Server, clients: list[Peer]
) -> None:
    visitor = customer(server)
    clients.append(visitor)
    cid = await started(visitor)
    tabs = [visitor] + [await another_tab(server, visitor, cid, clients) for _ in range(4)]
    results = [await tabs[n % 5].call("message.send", message(cid, n)) for n in range(15)]
    assert [r["ok"] for r in results] == [True] * 10 + [False] * 5
    assert all(refused_for_now(r) for r in results[10:]), results[10]
    assert len(await server.app[STORE].messages_after(cid, 0)) == 10


@pytest.mark.settings(message_limits=("10/minute", MANY, MANY))
async def test_reconnecting_does_not_reset_a_visitors_limit(
    server: Server, clients: list[Peer]
) -> None:
    visitor = customer(server)
    clients.append(visitor)
    cid = await started(visitor)
    for n in range(10):
        await visitor.ok("message.send", message(cid, n))
    await visitor.close()
    again = Peer(server.url, "/customer", auth=dict(visitor.auth or {}))
    clients.append(again)
    await again.connect()
    assert refused_for_now(await again.call("message.send", message(cid, 10)))


@pytest.mark.settings(message_limits=(MANY, "10/minute", MANY))
async def test_visitors_behind_one_address_share_its_message_limit(
    server: Server, clients: list[Peer]
) -> None:
    visitors = [customer(server) for _ in range(3)]
    clients += visitors
    cids = [await started(v) for v in visitors]
    results = [
        await visitors[n % 3].call("message.send", message(cids[n % 3], n)) for n in range(12)
    ]
    assert [r["ok"] for r in results] == [True] * 10 + [False] * 2
    assert all(refused_for_now(r) for r in results[10:])


@pytest.mark.settings(message_limits=(MANY, MANY, "10/minute"), trusted_proxies=("127.0.0.1",))
async def test_a_site_has_one_message_limit_and_other_sites_are_not_touched(
    server: Server, clients: list[Peer]
) -> None:
    await server.add_site("other-site", origins=("http://other.test",))
    visitors = [from_address(server, f"198.51.100.{n}") for n in range(3)]
    elsewhere = from_address(server, "198.51.100.9", site="other-site", host="http://other.test")
    clients += [*visitors, elsewhere]
    cids = [await started(v) for v in visitors]
    results = [
        await visitors[n % 3].call("message.send", message(cids[n % 3], n)) for n in range(12)
    ]
    assert [r["ok"] for r in results] == [True] * 10 + [False] * 2
    other = await started(elsewhere)
    await elsewhere.ok("message.send", message(other, 0, "other"))


@pytest.mark.settings(typing_limits=("5/minute", MANY, MANY))
async def test_typing_is_limited_per_visitor(server: Server, clients: list[Peer]) -> None:
    visitor = customer(server)
    clients.append(visitor)
    cid = await started(visitor)
    tab = await another_tab(server, visitor, cid, clients)
    typing = {"conversation_id": cid, "typing": True}
    results = [await (visitor, tab)[n % 2].call("typing", typing) for n in range(6)]
    assert [r["ok"] for r in results] == [True] * 5 + [False]
    assert refused_for_now(results[-1])


@pytest.mark.settings(conversation_limits=(MANY, "3/minute", MANY), trusted_proxies=("127.0.0.1",))
async def test_new_conversations_are_limited_per_address(
    server: Server, clients: list[Peer]
) -> None:
    flood = [from_address(server, "203.0.113.7") for _ in range(4)]
    neighbour = from_address(server, "203.0.113.8")
    clients += [*flood, neighbour]
    for visitor in flood:
        await visitor.connect()
    results = [await visitor.call("conversation.start", {}) for visitor in flood]
    assert [r["ok"] for r in results] == [True] * 3 + [False]
    assert refused_for_now(results[-1])
    # another address is not held up by it
    await started(neighbour)


async def refusal(peer: Peer) -> dict[str, Any]:
    with pytest.raises(Exception):  # noqa: B017 - socketio raises its ConnectionError
        await peer.connect()
    assert peer.refusals, "no connect_error received"
    return peer.refusals[-1]["data"]  # type: ignore[no-any-return]


@pytest.mark.settings(connection_limits=(MANY, "5/minute", MANY))
async def test_new_connections_are_limited_per_address(server: Server, clients: list[Peer]) -> None:
    peers = [customer(server) for _ in range(6)]
    clients += peers
    for peer in peers[:5]:
        await peer.connect()
    refused = await refusal(peers[5])
    assert refused["code"] == "rate.limited" and refused["retry_after_ms"] > 0


@pytest.mark.settings(connection_limits=("3/minute", MANY, MANY))
async def test_new_connections_are_limited_per_visitor(server: Server, clients: list[Peer]) -> None:
    first = customer(server)
    clients.append(first)
    await first.connect()
    await first.wait_for("session")
    tabs = [Peer(server.url, "/customer", auth=dict(first.auth or {})) for _ in range(3)]
    clients += tabs
    for tab in tabs[:2]:
        await tab.connect()
    assert (await refusal(tabs[2]))["code"] == "rate.limited"


@pytest.mark.settings(sockets_per_address=3)
async def test_open_sockets_per_address_are_bounded(server: Server, clients: list[Peer]) -> None:
    peers = [customer(server) for _ in range(4)]
    clients += peers
    for peer in peers[:3]:
        await peer.connect()
    refused = await refusal(peers[3])
    assert refused["code"] == "rate.limited" and refused["retry_after_ms"] > 0
    sio = server.app[SIO]
    await until(lambda: sio.open_sockets("127.0.0.1") == 3, what="the refused socket closed")
    # the bound is on sockets open now: one closes, another gets in
    await peers[0].close()
    await until(lambda: sio.open_sockets("127.0.0.1") == 2, what="a socket closed")
    late = customer(server)
    clients.append(late)
    await late.connect()

    async with aiohttp.ClientSession() as http:
        # sockets that never ask for a namespace count too; past twice the bound the
        # handshake itself is refused
        idle = [await open_raw(http, server) for _ in range(3)]
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await open_raw(http, server)
        for raw in idle:
            await raw.close()
