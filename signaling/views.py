"""Turning stored records into the views the wire protocol sends."""

from __future__ import annotations

from signaling.ports import Call, Conversation, Message
from signaling.protocol import CallView, ConversationView, MessageView, StaffRef, VisitorView


def millis(seconds: float | None) -> int | None:
    return None if seconds is None else int(seconds * 1000)


def conversation_view(
    conversation: Conversation,
    *,
    assignee_name: str | None,
    queue_position: int | None,
    estimated_wait_s: int | None,
    for_staff: bool,
) -> ConversationView:
    """The conversation as one side sees it; the visitor block only goes to staff."""
    assignee = (
        StaffRef(id=str(conversation.assignee_id), name=assignee_name or "Staff")
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
