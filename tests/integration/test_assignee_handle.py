"""Customers learn who is handling their conversation by name and public handle, never by the
staff member's account id; staff views keep the id."""

import re
from typing import Any

from signaling.views import StaffHandles
from tests.support import Peer, Server, customer, staff_peer

HANDLE = re.compile(r"^[0-9a-f]{16}$")


def assignees(visitor: Peer) -> list[dict[str, Any]]:
    """Every assignee block the customer has been sent, in any conversation view."""
    return [
        data["conversation"]["assignee"]
        for data in visitor.seen("conversation.state")
        if data["conversation"]["assignee"] is not None
    ]


async def test_customers_receive_a_public_handle_not_the_staff_id(
    server: Server, clients: list[Peer]
) -> None:
    member = await server.add_staff("Ana")
    ana = await staff_peer(server, member)
    visitor = customer(server)
    clients += [ana, visitor]
    await visitor.connect()
    cid = (await visitor.ok("conversation.start", {}))["conversation"]["id"]
    await ana.wait_for("ring")
    accepted = await ana.ok("ring.accept", {"conversation_id": cid})

    await visitor.wait_for("conversation.state", lambda d: d["conversation"]["status"] == "active")
    resumed = await visitor.ok("conversation.resume", {"conversation_id": cid, "last_seq": 0})
    seen = [*assignees(visitor), resumed["conversation"]["assignee"]]
    handle = StaffHandles(server.settings.secret_key).of(member.id)
    assert HANDLE.match(handle)
    for assignee in seen:
        assert assignee == {"handle": handle, "name": "Ana", "id": None}

    # The console still knows whose conversation it is by account id.
    assert accepted["conversation"]["assignee"] == {
        "handle": handle,
        "name": "Ana",
        "id": str(member.id),
    }
