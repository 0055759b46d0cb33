"""Routing across two real ``porchlight serve`` processes on one PostgreSQL and one Redis:
rings, accepts, capacity and grace periods are rows every node shares, so it does not matter
which node a customer or a console is connected to, and a node that dies loses nothing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from server.auth import SESSION_COOKIE
from signaling.ports import Presence
from tests.cluster import customer_on, running_cluster, staff_on
from tests.support import Peer, login, until

pytestmark = pytest.mark.postgres

SDP = "v=0\r\no=- {} 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
OFFER, ANSWER = SDP.format(1), SDP.format(2)


def rung_for(cid: str) -> Any:
    return lambda data: data["conversation"]["id"] == cid


async def ask(node: Any, clients: list[Peer], **start: object) -> tuple[Peer, str]:
    visitor = customer_on(node)
    clients.append(visitor)
    await visitor.connect()
    reply = await visitor.ok("conversation.start", {"channel": "chat", **start})
    return visitor, reply["conversation"]["id"]


async def test_a_ring_that_times_out_rings_the_next_person_on_the_other_node(
    tmp_path: Path, clients: list[Peer]
) -> None:
    async with running_cluster(tmp_path) as cluster:
        node_a, node_b = await cluster.start("a", "b", ring_timeout="1")
        await cluster.add_site()
        ana = await staff_on(node_a, await cluster.add_staff("Ana"))
        clients.append(ana)
        ben = await staff_on(node_b, await cluster.add_staff("Ben"))
        clients.append(ben)
        _, cid = await ask(node_a, clients)

        await ana.wait_for("ring", rung_for(cid))  # idle longest
        assert (await ana.wait_for("ring.cancelled"))["reason"] == "timeout"
        await ben.wait_for("ring", rung_for(cid))
        accepted = await ben.ok("ring.accept", {"conversation_id": cid})
        assert accepted["conversation"]["assignee"]["name"] == "Ben"
        assert len(ana.seen("ring", rung_for(cid))) == 1


async def test_two_consoles_on_two_nodes_accepting_at_once_make_one_winner(
    tmp_path: Path, clients: list[Peer]
) -> None:
    async with running_cluster(tmp_path) as cluster:
        node_a, node_b = await cluster.start("a", "b")
        await cluster.add_site()
        member = await cluster.add_staff("Ana")
        tab_a = await staff_on(node_a, member)
        clients.append(tab_a)
        tab_b = await staff_on(node_b, member)
        clients.append(tab_b)
        other = await staff_on(node_b, await cluster.add_staff("Ben"), available=False)
        clients.append(other)
        _, cid = await ask(node_a, clients)
        # One person with two tabs on two nodes is rung once, on both tabs.
        await tab_a.wait_for("ring", rung_for(cid))
        await tab_b.wait_for("ring", rung_for(cid))

        answers = await asyncio.gather(
            tab_a.call("ring.accept", {"conversation_id": cid}),
            tab_b.call("ring.accept", {"conversation_id": cid}),
            other.call("ring.accept", {"conversation_id": cid}),
        )
        won = [a for a in answers if a["ok"]]
        lost = [a["error"]["code"] for a in answers if not a["ok"]]
        assert len(won) == 1 and lost == ["ring.expired", "ring.expired"]
        assert won[0]["conversation"]["status"] == "active"


async def test_capacity_is_counted_across_nodes(tmp_path: Path, clients: list[Peer]) -> None:
    async with running_cluster(tmp_path) as cluster:
        node_a, node_b = await cluster.start("a", "b")
        await cluster.add_site()
        member = await cluster.add_staff("Ana", max_chats=1)
        tab_a = await staff_on(node_a, member)
        clients.append(tab_a)
        tab_b = await staff_on(node_b, member)
        clients.append(tab_b)
        _, first = await ask(node_a, clients)
        await tab_a.wait_for("ring", rung_for(first))
        await tab_a.ok("ring.accept", {"conversation_id": first})

        visitor, second = await ask(node_b, clients)
        ben = await staff_on(node_b, await cluster.add_staff("Ben"))
        clients.append(ben)
        await ben.wait_for("ring", rung_for(second))
        # Ben's ring is the checkpoint: routing ran, on some node, and it did not pick Ana.
        assert not tab_a.seen("ring", rung_for(second))
        assert not tab_b.seen("ring", rung_for(second))
        assert visitor.seen("conversation.state")


async def test_a_killed_node_starts_the_grace_and_the_other_node_requeues(
    tmp_path: Path, clients: list[Peer]
) -> None:
    async with running_cluster(tmp_path) as cluster:
        node_a, node_b = await cluster.start("a", "b", grace_period="2", node_timeout="3")
        await cluster.add_site()
        ana = await staff_on(node_b, await cluster.add_staff("Ana"))
        clients.append(ana)
        visitor, cid = await ask(node_a, clients)
        await ana.wait_for("ring", rung_for(cid))
        await ana.ok("ring.accept", {"conversation_id": cid})

        # kill -9: no disconnect reaches anyone; node A notices the silence.
        await node_b.kill()
        requeued = await visitor.wait_for(
            "message.new",
            lambda d: d["message"]["kind"] == "system" and d["message"]["body"] == "requeued",
            timeout=20,
        )
        assert requeued["message"]["sender"] == "system"
        ben = await staff_on(node_a, await cluster.add_staff("Ben"))
        clients.append(ben)
        await ben.wait_for("ring", rung_for(cid))
        accepted = await ben.ok("ring.accept", {"conversation_id": cid})
        assert [m["body"] for m in accepted["messages"]] == ["joined", "requeued", "joined"]


async def eventually(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 20) -> None:
    """Poll an async condition until it holds (bounded)."""
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def test_a_node_frozen_past_the_node_timeout_gets_its_consoles_back_when_thawed(
    tmp_path: Path, clients: list[Peer]
) -> None:
    async with running_cluster(tmp_path) as cluster:
        node_a, node_b = await cluster.start("a", "b", node_timeout="2", grace_period="30")
        await cluster.add_site()
        member = await cluster.add_staff("Ana")
        ana = await staff_on(node_a, member)
        clients.append(ana)
        visitor, cid = await ask(node_b, clients)
        await ana.wait_for("ring", rung_for(cid))
        await ana.ok("ring.accept", {"conversation_id": cid})

        async with cluster.store() as store:

            async def presence() -> Presence:
                return await store.get_presence(member, time.time())

            node_a.freeze()  # SIGSTOP: node B soon takes node A for dead
            await eventually(
                lambda: _holds(presence(), lambda p: p.grace_until is not None),
                "node B to start Ana's grace",
            )
            node_a.thaw()
            await eventually(
                lambda: _holds(presence(), lambda p: p.connected and p.grace_until is None),
                "Ana's console to count again, her grace cancelled",
            )
        reply = {"conversation_id": cid, "client_msg_id": "after-thaw-01", "body": "still here"}
        await ana.ok("message.send", reply)
        await visitor.wait_for("message.new", lambda d: d["message"]["body"] == "still here")


async def _holds(value: Awaitable[Presence], condition: Callable[[Presence], bool]) -> bool:
    return condition(await value)


async def test_call_signaling_crosses_nodes(tmp_path: Path, clients: list[Peer]) -> None:
    async with running_cluster(tmp_path) as cluster:
        node_a, node_b = await cluster.start("a", "b")
        await cluster.add_site()
        ana = await staff_on(node_b, await cluster.add_staff("Ana"))
        clients.append(ana)
        await ana.ok(
            "presence.set", {"status": "available", "media": {"camera": True, "microphone": True}}
        )
        visitor, cid = await ask(node_a, clients)
        await ana.wait_for("ring", rung_for(cid))
        await ana.ok("ring.accept", {"conversation_id": cid})

        started = await visitor.ok("call.start", {"conversation_id": cid, "channel": "video"})
        call_id = started["call"]["id"]
        state = await ana.wait_for("call.state", lambda d: d["call"]["id"] == call_id)
        assert state["call"]["ended_at"] is None
        offer = {"conversation_id": cid, "call_id": call_id, "sdp": OFFER}
        await visitor.ok("call.offer", offer)
        assert (await ana.wait_for("call.offer"))["sdp"] == OFFER
        answer = {"conversation_id": cid, "call_id": call_id, "sdp": ANSWER}
        await ana.ok("call.answer", answer)
        assert (await visitor.wait_for("call.answer"))["sdp"] == ANSWER
        ended = await ana.ok(
            "call.end", {"conversation_id": cid, "call_id": call_id, "reason": "hangup"}
        )
        assert ended["call"]["ended_by"] == "staff"
        await visitor.wait_for("call.state", lambda d: d["call"]["ended_at"] is not None)


async def test_signing_out_everywhere_closes_the_consoles_on_every_node(
    tmp_path: Path, clients: list[Peer]
) -> None:
    async with running_cluster(tmp_path) as cluster:
        node_a, node_b = await cluster.start("a", "b")
        member = await cluster.add_staff("Ana")
        on_b = await staff_on(node_b, member)
        clients.append(on_b)
        cookie, csrf = await login(node_a, member.email)  # type: ignore[arg-type]
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{node_a.url}/api/v1/auth/logout-everywhere",
                json={},
                headers={
                    "Origin": node_a.url,
                    "X-CSRF-Token": csrf,
                    "Cookie": f"{SESSION_COOKIE}={cookie}",
                },
            ) as response,
        ):
            assert response.status == 200, await response.text()
        # The console on the other node is closed (by the server: it does not reconnect).
        await until(lambda: not on_b.sio.connected, what="the console on node b to close")
