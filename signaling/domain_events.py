"""The closed catalogue of domain events: every change the real-time domain makes is one of
these, published through the ``Publisher`` port (``signaling.ports``). The server stores them
in an append-only log (the conversation, the actor and the time) for analytics and audit,
then hands them to its subscribers. ``tests/unit/test_catalogues.py`` freezes the set.

Messages and read markers are announced too, but their own tables are their log (a message
is stored once, with its seq, sender and time), so the event log does not repeat them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

Actor = Literal["customer", "staff", "system"]


class EventKind(StrEnum):
    """What happened. Each line says when it fires and what ``detail`` carries."""

    CONVERSATION_QUEUED = "conversation.queued"
    """A customer opened a conversation; it waits. Detail: ``channel``."""
    CONVERSATION_RUNG = "conversation.rung"
    """A staff member (``staff_id``) is rung for it."""
    CONVERSATION_ACCEPTED = "conversation.accepted"
    """The rung staff member took it; it is active. Detail: ``waited_s``, since it was
    queued (its original place, through requeues)."""
    CONVERSATION_DECLINED = "conversation.declined"
    """The rung staff member passed; it waits again."""
    CONVERSATION_MISSED = "conversation.missed"
    """A ring ended unanswered. Detail: ``reason`` (timeout, offline, away)."""
    CONVERSATION_ABANDONED = "conversation.abandoned"
    """The customer left before anyone answered. Detail: ``waited_s``."""
    CONVERSATION_REQUEUED = "conversation.requeued"
    """Its staff member (``staff_id``) did not come back within the grace period; it waits
    again at its original place."""
    CONVERSATION_ENDED = "conversation.ended"
    """An active conversation ended (the actor says who ended it)."""
    CONVERSATION_RATED = "conversation.rated"
    """The customer rated the conversation. Detail: ``score`` (1 to 5; 4 and 5 count as
    satisfied in CSAT). A later rating replaces an earlier one."""
    MESSAGE_STORED = "message.stored"
    """A message was committed. Detail: ``seq``. Not repeated in the event log."""
    CONVERSATION_READ = "conversation.read"
    """One side has read up to ``seq`` (detail). Not repeated in the event log."""
    CALL_STARTED = "call.started"
    """A call started. Detail: ``call_id``, ``channel``."""
    CALL_SWITCHED = "call.switched"
    """The running call moved to another channel. Detail: ``call_id``, ``channel``,
    ``previous``."""
    CALL_ENDED = "call.ended"
    """A call ended. Detail: ``call_id``, ``channel``, ``reason``, ``duration_s``."""
    CALL_PROPOSED = "call.proposed"
    """The staff member proposed a channel. Detail: ``proposal_id``, ``channel``."""
    CALL_PROPOSAL_ANSWERED = "call.proposal_answered"
    """The customer answered a proposal. Detail: ``proposal_id``, ``accepted``."""
    CONVERSATION_TAGGED = "conversation.tagged"
    """Its staff member picked an outcome. Detail: ``tag``."""
    WRAPUP_ENDED = "wrapup.ended"
    """A staff member's wrap-up after a conversation is over. Detail: ``how`` (ready,
    timeout), ``duration_s``, ``pause`` (it held the pause after calls in a row)."""
    PRESENCE_CHANGED = "presence.changed"
    """A staff member's presence changed. Detail: ``status``, ``reason`` while away; when
    an away spell ended (back, or another reason): ``away_reason`` and ``away_s``."""


# Kinds whose own tables already are their log.
NOT_LOGGED = frozenset({EventKind.MESSAGE_STORED, EventKind.CONVERSATION_READ})


@dataclass(frozen=True, slots=True)
class DomainEvent:
    """One thing that happened, at ``at`` (epoch seconds), by ``actor`` (``staff_id`` when
    it concerns or was done by a staff member)."""

    kind: EventKind
    at: float
    actor: Actor
    conversation_id: str | None = None
    staff_id: int | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)
