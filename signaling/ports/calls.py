"""Calls and call proposals as the store keeps them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from signaling.ports.records import Answer, Conversation, EndedBy, Side, WrapUp
from signaling.protocol import CallChannel, Channel


@dataclass(frozen=True, slots=True)
class Call:
    """One call in a conversation, as stored: running while ``ended_at`` is None. A
    conversation has at most one running call and a staff member at most one, anywhere (the
    database's unique indexes say so, not a process's memory)."""

    id: str
    conversation_id: str
    staff_id: int
    channel: CallChannel
    started_by: Side
    started_at: float
    ended_at: float | None = None
    ended_by: EndedBy | None = None
    end_reason: str | None = None


@dataclass(frozen=True, slots=True)
class NewCall:
    """A call to start: the conversation, the staff member it must still be assigned to, the
    channel and the side that asked."""

    conversation_id: str
    staff_id: int
    channel: CallChannel
    started_by: Side


@dataclass(frozen=True, slots=True)
class StartedCall:
    """What ``Store.start_call`` did: the new call, and the conversation's previous call if it
    ended in the same transaction (``switched``)."""

    call: Call
    switched: Call | None


class CallRefused(Exception):
    """``Store.start_call`` changed nothing: the conversation is not active with that staff
    member (``not_active``), or the staff member is in a call elsewhere (``busy``)."""

    def __init__(self, reason: Literal["not_active", "busy"]) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Proposal:
    """The staff member's ``call.propose``: open while ``answer`` is None. A conversation has
    at most one open proposal; a newer one supersedes it."""

    id: str
    conversation_id: str
    staff_id: int
    channel: Channel
    proposed_at: float
    answered_at: float | None = None
    answer: Answer | None = None


@dataclass(frozen=True, slots=True)
class Closed:
    """What ``Store.close_conversation`` did: the conversation as it now stands, the call
    that ended with it, if one was running, and the assignee's wrap-up, if one began."""

    conversation: Conversation
    call: Call | None
    wrapup: WrapUp | None = None
