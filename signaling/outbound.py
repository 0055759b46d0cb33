"""Where server events go: socket.io rooms per conversation (customers) and per staff member.

Emits are hints (the delivery contract's replay covers anything lost), so nothing here waits
for a client.
"""

from __future__ import annotations

from typing import Any

import socketio

from signaling.events import ServerEvent

CUSTOMER_NS = "/customer"
STAFF_NS = "/staff"
ALL_STAFF = "staff"


def conversation_room(conversation_id: str) -> str:
    return f"conversation:{conversation_id}"


def staff_room(staff_id: int) -> str:
    return f"staff:{staff_id}"


class Outbound:
    """Emits server events to the right audience."""

    def __init__(self, sio: socketio.AsyncServer) -> None:
        self.sio = sio

    async def to_customer(
        self,
        conversation_id: str,
        event: ServerEvent,
        data: dict[str, Any],
        skip_sid: str | None = None,
    ) -> None:
        if skip_sid is not None and self._alone(
            CUSTOMER_NS, conversation_room(conversation_id), skip_sid
        ):
            return
        await self.sio.emit(
            str(event),
            data,
            room=conversation_room(conversation_id),
            namespace=CUSTOMER_NS,
            skip_sid=skip_sid,
        )

    async def to_staff(
        self, staff_id: int, event: ServerEvent, data: dict[str, Any], skip_sid: str | None = None
    ) -> None:
        await self.sio.emit(
            str(event), data, room=staff_room(staff_id), namespace=STAFF_NS, skip_sid=skip_sid
        )

    async def to_both(
        self,
        conversation_id: str,
        assignee_id: int | None,
        event: ServerEvent,
        data: dict[str, Any],
        skip_sid: str | None = None,
    ) -> None:
        """Same payload to the staff member, if assigned, and to the customer."""
        if assignee_id is not None:
            await self.to_staff(assignee_id, event, data, skip_sid=skip_sid)
        await self.to_customer(conversation_id, event, data, skip_sid=skip_sid)

    def _alone(self, namespace: str, room: str, sid: str) -> bool:
        """Whether ``sid`` is the only one in ``room`` on this process's in-memory manager: a
        message's sender usually is, and encoding an emit for nobody costs more than the
        check. A cross-node manager may have listeners elsewhere, so it is always emitted."""
        if type(self.sio.manager) is not socketio.AsyncManager:
            return False
        return all(other == sid for other, _ in self.sio.manager.get_participants(namespace, room))

    async def to_all_staff(self, event: ServerEvent, data: dict[str, Any]) -> None:
        await self.sio.emit(str(event), data, room=ALL_STAFF, namespace=STAFF_NS)

    async def join_conversation(self, sid: str, conversation_id: str) -> None:
        await self.sio.enter_room(sid, conversation_room(conversation_id), namespace=CUSTOMER_NS)

    async def join_staff(self, sid: str, staff_id: int) -> None:
        await self.sio.enter_room(sid, staff_room(staff_id), namespace=STAFF_NS)
        await self.sio.enter_room(sid, ALL_STAFF, namespace=STAFF_NS)

    async def disconnect_consoles(self, sids: list[str]) -> None:
        """Close these console sockets (after sign-out), on whichever node holds them: a
        cross-node manager passes a disconnect for a socket it does not hold to the others."""
        for sid in sids:
            await self.sio.disconnect(sid, namespace=STAFF_NS)
