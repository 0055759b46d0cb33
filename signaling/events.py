"""The closed catalogue of socket.io event names, per namespace and direction.

Client→server events are always acknowledged (``{"ok": true, ...}`` or a coded error).
Server→client events are fire-and-forget hints; a client that misses one catches up through
``conversation.resume`` / ``sync`` (the delivery contract). ``tests/unit/test_catalogues.py``
freezes every set below.
"""

from __future__ import annotations

from enum import StrEnum


class CustomerEvent(StrEnum):
    """Events a customer's frame sends on ``/customer``."""

    CONVERSATION_START = "conversation.start"
    """Open a conversation (or get the visitor's open one back). Ack: ``conversation``."""
    CONVERSATION_RESUME = "conversation.resume"
    """Catch up after (re)connect: ack carries ``conversation`` and ``messages`` after
    ``last_seq``."""
    CONVERSATION_END = "conversation.end"
    """Leave: ends an active conversation, abandons a queued one. Ack: ``conversation``."""
    MESSAGE_SEND = "message.send"
    """Store a message idempotently by ``client_msg_id``. Ack (after commit): ``message``."""
    TYPING = "typing"
    """The customer started or stopped typing. Not stored."""
    READ = "read"
    """The customer has read up to ``seq``. Stored."""
    PAGE_VIEW = "page.view"
    """The host page the customer is on changed. Stored on the conversation."""
    CALL_START = "call.start"
    """Start a call, or switch the running one, to ``voice``, ``video`` or ``oneway`` (the
    staff member's camera, the customer's microphone). Ack: ``call`` and this side's ``ice``.
    The customer is always the one who sends the offer."""
    CALL_RESPOND = "call.respond"
    """Accept or decline the staff member's proposal ``proposal_id``."""
    CALL_OFFER = "call.offer"
    """An SDP offer for the running call; relayed to the other participant only."""
    CALL_ANSWER = "call.answer"
    """An SDP answer for the running call; relayed to the other participant only."""
    CALL_CANDIDATE = "call.candidate"
    """A trickled ICE candidate (null: gathering finished); relayed to the other participant."""
    CONVERSATION_RATE = "conversation.rate"
    """Rate an ended conversation: ``score`` 1 to 5 and an optional ``comment``; a later
    rating replaces the earlier one. Ack: ``conversation``."""
    CALL_END = "call.end"
    """End the running call with a ``reason`` (``hangup`` or a failure code). Ack: ``call``."""


class StaffEvent(StrEnum):
    """Events the staff console sends on ``/staff``."""

    SYNC = "sync"
    """Catch up after (re)connect: ack carries presence, assigned conversations with their
    messages after the given seqs, pending rings and the queue."""
    PRESENCE_SET = "presence.set"
    """Set presence to ``available`` or ``away``. Ack: ``presence``."""
    RING_ACCEPT = "ring.accept"
    """Take the conversation this staff member is being rung for. Ack: ``conversation`` and
    its ``messages``."""
    RING_DECLINE = "ring.decline"
    """Pass on the ring; the next matching staff member is rung."""
    CONVERSATION_RESUME = "conversation.resume"
    """Read a conversation's messages after ``last_seq`` (assigned conversations only)."""
    CONVERSATION_END = "conversation.end"
    """End an assigned conversation. Ack: ``conversation``."""
    MESSAGE_SEND = "message.send"
    """Store a message idempotently by ``client_msg_id``. Ack (after commit): ``message``."""
    TYPING = "typing"
    """The staff member started or stopped typing. Not stored."""
    READ = "read"
    """The staff member has read up to ``seq``. Stored."""
    CALL_PROPOSE = "call.propose"
    """Propose a switch to ``channel`` (``chat`` ends the call); the customer accepts or
    declines. Ack: ``proposal_id``."""
    CALL_OFFER = "call.offer"
    """An SDP offer for the running call; relayed to the other participant only."""
    CALL_ANSWER = "call.answer"
    """An SDP answer for the running call; relayed to the other participant only."""
    CALL_CANDIDATE = "call.candidate"
    """A trickled ICE candidate (null: gathering finished); relayed to the other participant."""
    CALL_END = "call.end"
    """End the running call with a ``reason`` (``hangup`` or a failure code). Ack: ``call``."""
    WRAPUP_END = "wrapup.end"
    """Ready now: end this staff member's wrap-up early. Ack: ``wrapup`` (null)."""
    WRAPUP_EXTEND = "wrapup.extend"
    """Add ``seconds`` (default 30) to the running wrap-up. Ack: ``wrapup``."""
    CONVERSATION_TAG = "conversation.tag"
    """Pick the outcome ``tag`` (from the site's catalogue) of one of this staff member's
    conversations, open or ended. Ack: ``tag``."""


class ServerEvent(StrEnum):
    """Events the server emits. Audience in brackets."""

    SESSION = "session"
    """[customer] Right after connect: the visitor's ``token`` (store it) and ``visitor_id``."""
    CONVERSATION_STATE = "conversation.state"
    """[both] A conversation's status, assignee, queue position or estimate changed."""
    MESSAGE_NEW = "message.new"
    """[both] A message was committed; carries ``message`` with its ``seq``."""
    TYPING = "typing"
    """[both] The other side started or stopped typing."""
    READ = "read"
    """[both] The other side has read up to ``seq``."""
    RING = "ring"
    """[staff] This staff member is rung for ``conversation``; answer within ``timeout_ms``."""
    RING_CANCELLED = "ring.cancelled"
    """[staff] The ring for ``conversation_id`` is over (``reason``: timeout, taken,
    abandoned, declined, away)."""
    QUEUE_CHANGED = "queue.changed"
    """[staff] One waiting conversation changed: ``op`` (``upsert`` or ``remove``) and its
    ``conversation``; one small event per change, never the whole queue (``sync`` has it)."""
    PRESENCE = "presence"
    """[staff] This staff member's presence changed (possibly from another tab): ``status``
    and, while away, ``reason``."""
    WRAPUP = "wrapup"
    """[staff] This staff member's wrap-up started, changed or ended: ``wrapup`` (null when
    over) with ``conversation_id``, ``remaining_ms``, ``pause``, the site's ``tags`` and the
    chosen ``outcome``."""
    CALL_STATE = "call.state"
    """[both] A call started or ended: ``call`` and, while it runs, this side's ``ice``
    (STUN/TURN servers with short-lived credentials, and the ICE transport policy)."""
    CALL_OFFER = "call.offer"
    """[both] The other participant's SDP offer."""
    CALL_ANSWER = "call.answer"
    """[both] The other participant's SDP answer."""
    CALL_CANDIDATE = "call.candidate"
    """[both] The other participant's ICE candidate (null: their gathering finished)."""
    CALL_PROPOSED = "call.proposed"
    """[customer] The staff member proposes switching to ``channel`` (``proposal_id``)."""
    CALL_RESPONSE = "call.response"
    """[staff] The customer ``accepted`` (or not) proposal ``proposal_id``."""
