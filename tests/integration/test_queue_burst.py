"""The queue under a surge: many customers start and many staff accept at once.

Two defects found by attacking a real server: a walk over a snapshot of the queue told
accepted customers they were still waiting (their last state was older than the truth), and
every change re-sent the whole queue to every console (14 to 18 MB to one away console during 200
starts). Conversation views now carry a version, and staff get one small change per event.
"""

import asyncio
import json
from typing import Any

import pytest

from server.auth import hash_password
from server.keys import STORE
from tests.support import PASSWORD, Peer, Server, customer, staff_peer

MANY = "100000/minute"
BURST = 25
STARTS = 200
# A queue change is one conversation's view (about 500 bytes of JSON), whatever the queue's
# length; the whole queue of 200 was about 100 KB.
MAX_CHANGE_BYTES = 1500
ORDER = {"queued": 0, "ringing": 0, "active": 1, "ended": 2}


def states(peer: Peer) -> list[dict[str, Any]]:
    """The conversation views a peer received, in order of arrival."""
    return [data["conversation"] for data in peer.seen("conversation.state")]


def applied_by_version(views: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What a client that ignores views older than the one it holds ends up showing after
    each view (the rule the frame and the console follow)."""
    held: dict[str, Any] | None = None
    shown = []
    for view in views:
        if held is None or view["version"] >= held["version"]:
            held = view
        shown.append(held)
    return shown


async def test_accepted_customers_are_never_shown_waiting_again(
    server: Server, clients: list[Peer]
) -> None:
    store = server.app[STORE]
    hashed = hash_password(PASSWORD)
    members = [
        await store.create_staff(f"agent{n}@staff.test", f"Agent {n}", "agent", hashed)
        for n in range(BURST)
    ]
    # Signed in one after another: 25 sign-ins at once from one address are throttled.
    staff = [await staff_peer(server, m) for m in members]
    clients.extend(staff)
    visitors = [customer(server) for _ in range(BURST)]
    clients.extend(visitors)
    await asyncio.gather(*(v.connect() for v in visitors))

    async def answer(peer: Peer) -> str:
        ring = await peer.wait_for("ring")
        conversation_id = str(ring["conversation"]["id"])
        await peer.ok("ring.accept", {"conversation_id": conversation_id})
        return conversation_id

    # Every start and every accept at once: the accepts land while the later starts are
    # still announcing the queue.
    started, accepted = await asyncio.gather(
        asyncio.gather(*(v.ok("conversation.start", {}) for v in visitors)),
        asyncio.gather(*(answer(peer) for peer in staff)),
    )
    ids = [reply["conversation"]["id"] for reply in started]
    assert sorted(accepted) == sorted(ids)

    truths = []
    for visitor, conversation_id in zip(visitors, ids, strict=True):
        # The acknowledgement comes after every event emitted to this socket before it.
        resumed = await visitor.ok(
            "conversation.resume", {"conversation_id": conversation_id, "last_seq": 0}
        )
        truths.append(resumed["conversation"])
    assert [truth["status"] for truth in truths] == ["active"] * BURST
    stale = [
        [(view["status"], view["queue_position"]) for view in states(visitor)]
        for visitor in visitors
        if not states(visitor) or states(visitor)[-1]["status"] != "active"
    ]
    assert not stale, f"{len(stale)} of {BURST} accepted customers last shown waiting: {stale}"

    for visitor, truth in zip(visitors, truths, strict=True):
        seen = states(visitor)
        assert seen[-1]["version"] == truth["version"]
        # Never a stale snapshot: each view is at least as new as the one before it.
        versions = [view["version"] for view in seen]
        assert versions == sorted(versions)
        # And a client applying views by version never goes back to waiting.
        shown = [ORDER[view["status"]] for view in applied_by_version(seen)]
        assert shown == sorted(shown)


# 200 customers from one address: lift the per-address limits, which would refuse them.
@pytest.mark.settings(
    conversation_limits=(MANY, MANY, MANY),
    connection_limits=(MANY, MANY, MANY),
    sockets_per_address=1000,
)
async def test_a_console_receives_one_small_change_per_queue_event(
    server: Server, clients: list[Peer]
) -> None:
    away = await staff_peer(server, await server.add_staff("Ana"), available=False)
    clients.append(away)

    async def start() -> str:
        # Kept connected: a customer leaving is a queue change of its own (customer left).
        visitor = customer(server)
        clients.append(visitor)
        await visitor.connect()
        return str((await visitor.ok("conversation.start", {}))["conversation"]["id"])

    ids: list[str] = []
    for _ in range(STARTS // 20):
        ids += await asyncio.gather(*(start() for _ in range(20)))
    # Every event emitted to the console before this acknowledgement has arrived before it.
    synced = await away.ok("sync", {})
    assert sorted(c["id"] for c in synced["queue"]) == sorted(ids)

    sizes = [len(json.dumps(data)) for _, data in away.events]
    assert max(sizes) <= MAX_CHANGE_BYTES, f"largest event {max(sizes)} bytes"
    assert sum(sizes) <= STARTS * MAX_CHANGE_BYTES, f"{sum(sizes)} bytes in all"
    changes = away.seen("queue.changed")
    assert len(changes) == STARTS
    # The console's queue, rebuilt from the changes alone, is the queue.
    versions: dict[str, int] = {}
    queue: set[str] = set()
    for change in changes:
        view = change["conversation"]
        if view["version"] < versions.get(view["id"], 0):
            continue
        versions[view["id"]] = view["version"]
        if change["op"] == "upsert":
            queue.add(view["id"])
        else:
            queue.discard(view["id"])
    assert sorted(queue) == sorted(ids)
