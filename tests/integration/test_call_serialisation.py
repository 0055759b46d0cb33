"""One serialisation point per conversation: ending a conversation and starting a call from a
second tab of the same visitor race through the real server, on SQLite and on PostgreSQL, and
no call is ever left running in an ended conversation."""

from __future__ import annotations

import asyncio
from typing import Any

from server.keys import STORE
from tests.support import Peer, Server, another_tab, customer, staff_peer

RACES = 25


def unfinished_calls(details: list[dict[str, Any]]) -> set[str]:
    """Calls the transcript shows started and never ended."""
    started = {d["call_id"] for d in details if "started_by" in d}
    ended = {d["call_id"] for d in details if "ended_by" in d}
    return started - ended


async def test_ending_a_conversation_while_a_second_tab_starts_a_call_leaves_no_call_running(
    server: Server, clients: list[Peer]
) -> None:
    staff = await staff_peer(server, await server.add_staff("Sam"))
    clients.append(staff)
    outcomes: set[str] = set()
    for attempt in range(RACES):
        visitor = customer(server)
        clients.append(visitor)
        await visitor.connect()
        cid = (await visitor.ok("conversation.start", {}))["conversation"]["id"]
        await staff.wait_for("ring", lambda d, cid=cid: d["conversation"]["id"] == cid)
        await staff.ok("ring.accept", {"conversation_id": cid})
        second_tab = await another_tab(server, visitor, cid, clients)

        ended, started = await asyncio.gather(
            visitor.ok("conversation.end", {"conversation_id": cid}),
            second_tab.call("call.start", {"conversation_id": cid, "channel": "voice"}),
        )
        assert ended["conversation"]["status"] == "ended"
        if started["ok"]:
            outcomes.add("started, then ended with the conversation")
        else:
            assert started["error"]["code"] == "call.not_allowed", started
            outcomes.add("refused")

        stored = await server.app[STORE].messages_after(cid, 0)
        details = [dict(m.detail) for m in stored if m.detail and "call_id" in m.detail]
        assert unfinished_calls(details) == set(), f"race {attempt}: a call outlived {cid}"
        synced = await staff.ok("sync", {"last_seqs": {}})
        assert synced["calls"] == [], f"race {attempt}"
        # A conversation with a call is followed by a wrap-up: "Ready now" for the next.
        await staff.ok("wrapup.end", {})
        for tab in (visitor, second_tab):
            await tab.close()

    # Nothing held on to the staff member: their next call starts.
    visitor = customer(server)
    clients.append(visitor)
    await visitor.connect()
    cid = (await visitor.ok("conversation.start", {}))["conversation"]["id"]
    await staff.wait_for("ring", lambda d: d["conversation"]["id"] == cid)
    await staff.ok("ring.accept", {"conversation_id": cid})
    await visitor.ok("call.start", {"conversation_id": cid, "channel": "voice"})
    assert outcomes  # what the races did, for a failure's message
