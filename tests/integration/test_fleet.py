"""Two real ``porchlight serve`` processes on one PostgreSQL database and one Redis.

Here each conversation is rung and accepted on one node, then a socket moves to the other
node, as it does behind a proxy after a reconnect: what must cross nodes is everything after
that (messages, typing, read markers, and the replay that covers whatever a Redis outage
dropped). Routing across nodes (rings, accepts, capacity, grace) is in test_fleet_routing.py.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from tests.cluster import (
    Cluster,
    Node,
    customer_on,
    private_redis,
    running_cluster,
)
from tests.cluster import staff_on as console_on
from tests.support import Peer, until

pytestmark = pytest.mark.postgres

# The budget for cross-node fan-out after Redis is back (DESIGN.md, issue 6).
FANOUT_RESUMES_WITHIN = 5.0
# How long the Redis outage lasts, in seconds: long enough for python-socketio's own listener
# back-off (1, 2, 4, 8 s ...) to overshoot the budget; a fault's length, not a wait.
OUTAGE = 8


def text(cid: str, msg_id: str, body: str) -> dict[str, Any]:
    return {"conversation_id": cid, "client_msg_id": msg_id, "body": body}


async def accepted_on(
    node: Node, cluster: Cluster, clients: list[Peer], name: str = "Ada"
) -> tuple[Peer, Peer, str]:
    """A customer and a staff console, both on ``node``, in an accepted conversation."""
    member = await cluster.add_staff(name)
    staff = await console_on(node, member)
    clients.append(staff)
    visitor = customer_on(node)
    clients.append(visitor)
    await visitor.connect()
    cid = (await visitor.ok("conversation.start", {"channel": "chat"}))["conversation"]["id"]
    await staff.wait_for("ring", lambda d: d["conversation"]["id"] == cid)
    await staff.ok("ring.accept", {"conversation_id": cid})
    return visitor, staff, cid


async def move(visitor: Peer, node: Node, cid: str, clients: list[Peer]) -> Peer:
    """The visitor's socket closes and the same visitor (token) resumes on ``node``."""
    await visitor.close()
    moved = customer_on(node, visitor.auth)
    clients.append(moved)
    await moved.connect()
    await moved.ok("conversation.resume", {"conversation_id": cid, "last_seq": 0})
    return moved


def bodies(peer: Peer, sender: str) -> list[str]:
    return [
        m["message"]["body"] for m in peer.seen("message.new") if m["message"]["sender"] == sender
    ]


async def test_a_customer_on_one_node_and_staff_on_another_chat_both_ways(
    tmp_path: Path, clients: list[Peer]
) -> None:
    async with running_cluster(tmp_path) as cluster:
        node_a, node_b = await cluster.start("a", "b")
        await cluster.add_site()
        visitor, staff, cid = await accepted_on(node_b, cluster, clients)
        visitor = await move(visitor, node_a, cid, clients)

        await visitor.ok("message.send", text(cid, "from-customer-1", "Is the lamp in stock?"))
        got = await staff.wait_for("message.new", lambda d: d["message"]["sender"] == "customer")
        assert got["message"]["body"] == "Is the lamp in stock?"

        await staff.ok("message.send", text(cid, "from-staff-001", "Yes, two left."))
        got = await visitor.wait_for("message.new", lambda d: d["message"]["sender"] == "staff")
        assert got["message"]["body"] == "Yes, two left."

        await visitor.ok("typing", {"conversation_id": cid, "typing": True})
        await staff.wait_for("typing", lambda d: d["side"] == "customer" and d["typing"])
        await staff.ok("typing", {"conversation_id": cid, "typing": True})
        await visitor.wait_for("typing", lambda d: d["side"] == "staff" and d["typing"])

        seq = got["message"]["seq"]
        await visitor.ok("read", {"conversation_id": cid, "seq": seq})
        assert (await staff.wait_for("read", lambda d: d["side"] == "customer"))["seq"] == seq
        await staff.ok("read", {"conversation_id": cid, "seq": seq})
        assert (await visitor.wait_for("read", lambda d: d["side"] == "staff"))["seq"] == seq

        # Each message arrived once, on the other node.
        assert bodies(staff, "customer") == ["Is the lamp in stock?"]
        assert bodies(visitor, "staff") == ["Yes, two left."]


async def test_the_visitors_tab_on_another_node_gets_what_the_first_tab_sent(
    tmp_path: Path, clients: list[Peer]
) -> None:
    """The sender is alone in its conversation room on its own node; its other tab listens
    on the other node, so the emit must still be published (Outbound's local shortcut
    applies to the in-process manager only)."""
    async with running_cluster(tmp_path) as cluster:
        node_a, node_b = await cluster.start("a", "b")
        await cluster.add_site()
        visitor, staff, cid = await accepted_on(node_a, cluster, clients)
        other_tab = customer_on(node_b, visitor.auth)
        clients.append(other_tab)
        await other_tab.connect()
        await other_tab.ok("conversation.resume", {"conversation_id": cid, "last_seq": 0})

        await visitor.ok("message.send", text(cid, "first-tab-msg1", "Sent from tab one"))
        got = await other_tab.wait_for(
            "message.new", lambda d: d["message"]["client_msg_id"] == "first-tab-msg1"
        )
        assert got["message"]["body"] == "Sent from tab one"
        await staff.wait_for("message.new", lambda d: d["message"]["sender"] == "customer")
        assert visitor.seen("message.new", lambda d: d["message"]["sender"] == "customer") == []


async def fanout_resumed(visitor: Peer, staff: Peer, cid: str) -> float:
    """Typing hints each way until the other node hears one, customer to staff and staff to
    customer (each node publishes and subscribes on its own: one direction back says
    nothing of the other); the seconds until both were heard."""
    started = time.monotonic()
    for sender, receiver in ((visitor, staff), (staff, visitor)):
        heard = len(receiver.seen("typing"))

        def new_hint(receiver: Peer = receiver, heard: int = heard) -> bool:
            return len(receiver.seen("typing")) > heard

        while not new_hint():
            await sender.ok("typing", {"conversation_id": cid, "typing": True})
            try:
                await until(new_hint, timeout=0.2)
            except AssertionError:
                if time.monotonic() - started > FANOUT_RESUMES_WITHIN * 3:
                    raise
    return time.monotonic() - started


async def test_a_redis_restart_loses_no_message_and_fanout_resumes_within_5_s(
    tmp_path: Path, clients: list[Peer]
) -> None:
    with private_redis(tmp_path) as redis:
        async with running_cluster(tmp_path, redis.url) as cluster:
            node_a, node_b = await cluster.start("a", "b")
            await cluster.add_site()
            visitor, staff, cid = await accepted_on(node_b, cluster, clients)
            visitor = await move(visitor, node_a, cid, clients)
            await visitor.ok("message.send", text(cid, "before-outage1", "before"))
            before = await staff.wait_for("message.new", lambda d: d["message"]["body"] == "before")

            redis.kill()
            # The conversation goes on through the outage: stored and acknowledged, one
            # message a second each way, for OUTAGE seconds.
            during: list[str] = []
            for second in range(OUTAGE):
                for peer, side in ((visitor, "customer"), (staff, "staff")):
                    body = f"during {second}, {side}"
                    await peer.ok("message.send", text(cid, f"outage-{side}-{second:02d}", body))
                    during.append(body)
                await asyncio.sleep(1.0)

            redis.start()
            took = await fanout_resumed(visitor, staff, cid)
            assert took <= FANOUT_RESUMES_WITHIN, f"fan-out resumed after {took:.1f} s"

            await visitor.ok("message.send", text(cid, "after-outage01", "after, customer"))
            await staff.ok("message.send", text(cid, "after-outage02", "after, staff"))
            await staff.wait_for("message.new", lambda d: d["message"]["body"] == "after, customer")
            await visitor.wait_for("message.new", lambda d: d["message"]["body"] == "after, staff")

            # What the hints missed, each side catches up by seq, once.
            since = before["message"]["seq"]
            for peer in (staff, visitor):
                replay = await peer.ok(
                    "conversation.resume", {"conversation_id": cid, "last_seq": since}
                )
                got = [m["body"] for m in replay["messages"]]
                assert got == [*during, "after, customer", "after, staff"]
                seqs = [m["seq"] for m in replay["messages"]]
                assert seqs == list(range(since + 1, since + 1 + len(got)))


async def test_a_frozen_node_holds_up_nobody_and_catches_up_when_thawed(
    tmp_path: Path, clients: list[Peer]
) -> None:
    async with running_cluster(tmp_path) as cluster:
        node_a, node_b = await cluster.start("a", "b")
        await cluster.add_site()
        visitor, staff, cid = await accepted_on(node_b, cluster, clients)
        other_tab = customer_on(node_a, visitor.auth)
        clients.append(other_tab)
        await other_tab.connect()
        await other_tab.ok("conversation.resume", {"conversation_id": cid, "last_seq": 0})

        node_a.freeze()
        await visitor.ok("message.send", text(cid, "while-frozen01", "while a is frozen"))
        await staff.wait_for("message.new", lambda d: d["message"]["body"] == "while a is frozen")
        await staff.ok("message.send", text(cid, "while-frozen02", "b still answers"))
        await visitor.wait_for("message.new", lambda d: d["message"]["body"] == "b still answers")

        node_a.thaw()
        await other_tab.wait_for("message.new", lambda d: d["message"]["body"] == "b still answers")


async def test_a_killed_node_comes_back_and_its_customer_resumes_what_it_missed(
    tmp_path: Path, clients: list[Peer]
) -> None:
    async with running_cluster(tmp_path) as cluster:
        node_a, node_b = await cluster.start("a", "b")
        await cluster.add_site()
        visitor, staff, cid = await accepted_on(node_b, cluster, clients)
        visitor = await move(visitor, node_a, cid, clients)

        await node_a.kill()
        await staff.ok("message.send", text(cid, "while-dead0001", "while a was down"))
        await node_a.start()
        # The client reconnects by itself to the same address, then resumes by seq.
        await until(lambda: visitor.sio.connected and visitor.sio.namespaces, what="reconnect")
        replay = await visitor.ok("conversation.resume", {"conversation_id": cid, "last_seq": 0})
        assert "while a was down" in [m["body"] for m in replay["messages"]]
        await visitor.ok("message.send", text(cid, "after-restart1", "back"))
        await staff.wait_for("message.new", lambda d: d["message"]["body"] == "back")


async def test_two_nodes_started_at_once_on_a_new_database_both_come_up(tmp_path: Path) -> None:
    """Both nodes migrate the same empty database at start-up (a deployment starts its
    nodes together); a few fresh databases, since a race does not lose every time."""
    for attempt in range(3):
        directory = tmp_path / str(attempt)
        directory.mkdir()
        async with running_cluster(directory) as cluster:
            await cluster.start("first", "second")
