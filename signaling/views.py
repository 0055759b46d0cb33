"""Turning stored records into the views the wire protocol sends."""

from __future__ import annotations

import hashlib
import hmac

from signaling.ports import Call, Conversation, Message
from signaling.protocol import (
    CallView,
    ConversationView,
    MessageView,
    RatingView,
    StaffRef,
    VisitorView,
)


def millis(seconds: float | None) -> int | None:
    return None if seconds is None else int(seconds * 1000)


class StaffHandles:
    """Public handles for staff members: what a customer sees instead of an account id.

    A handle is an HMAC of the id under a key derived from the server's secret, so it is
    the same on every node and after a restart, but says nothing about the id itself (how
    many staff there are, which row a person is) and cannot be turned back into it.
    """

    def __init__(self, secret: str) -> None:
        # A key of its own: the secret also signs visitor tokens.
        self._key = hmac.digest(secret.encode(), b"porchlight/staff-handle", hashlib.sha256)

    def of(self, staff_id: int) -> str:
        """The handle for ``staff_id``: 16 hex digits (64 bits)."""
        return hmac.digest(self._key, str(staff_id).encode(), hashlib.sha256).hex()[:16]


def conversation_view(
    conversation: Conversation,
    *,
    assignee_name: str | None,
    handles: StaffHandles,
    queue_position: int | None,
    estimated_wait_s: int | None,
    for_staff: bool,
) -> ConversationView:
    """The conversation as one side sees it; the visitor block and the assignee's account
    id only go to staff (the customer sees the assignee's public handle)."""
    assignee = (
        StaffRef(
            handle=handles.of(conversation.assignee_id),
            name=assignee_name or "Staff",
            id=str(conversation.assignee_id) if for_staff else None,
        )
        if conversation.assignee_id is not None
        else None
    )
    visitor = (
        VisitorView(
            visitor_id=conversation.visitor_id,
            name=conversation.visitor_name,
            page_url=conversation.page_url,
            page_title=conversation.page_title,
        )
        if for_staff
        else None
    )
    return ConversationView(
        id=conversation.id,
        site_key=conversation.site_key,
        status=conversation.status,
        channel=conversation.channel,
        language=conversation.language,
        assignee=assignee,
        queue_position=queue_position,
        estimated_wait_s=estimated_wait_s,
        last_seq=conversation.last_seq,
        customer_read_seq=conversation.customer_read_seq,
        staff_read_seq=conversation.staff_read_seq,
        created_at=millis(conversation.created_at) or 0,
        ended_at=millis(conversation.ended_at),
        ended_by=conversation.ended_by,
        version=conversation.version,
        visitor=visitor,
        rating=(
            RatingView(score=conversation.rating, comment=conversation.rating_comment)
            if conversation.rating is not None
            else None
        ),
        outcome=conversation.outcome if for_staff else None,
    )


def message_view(message: Message) -> MessageView:
    return MessageView(
        conversation_id=message.conversation_id,
        seq=message.seq,
        client_msg_id=message.client_msg_id,
        sender=message.sender,
        author_name=message.author_name,
        kind=message.kind,
        body=message.body,
        created_at=millis(message.created_at) or 0,
        detail=dict(message.detail) if message.detail else None,
    )


def call_view(call: Call) -> CallView:
    """A call as both sides see it; ``duration_s`` once it has ended."""
    duration = None if call.ended_at is None else round(call.ended_at - call.started_at)
    return CallView(
        id=call.id,
        conversation_id=call.conversation_id,
        channel=call.channel,
        started_by=call.started_by,
        started_at=millis(call.started_at) or 0,
        ended_at=millis(call.ended_at),
        ended_by=call.ended_by,
        end_reason=call.end_reason,
        duration_s=duration,
    )
