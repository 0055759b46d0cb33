"""The durable store of sites, staff, conversations, messages, calls and the event log."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from signaling.domain_events import DomainEvent
from signaling.ports.calls import Call, Closed, NewCall, Proposal, StartedCall
from signaling.ports.records import (
    Appended,
    Changes,
    Conversation,
    EndedBy,
    Message,
    NewConversation,
    NewMessage,
    Owners,
    ShiftPolicy,
    Side,
    Site,
    StaffMember,
    Status,
)
from signaling.protocol import Channel


class Store(Protocol):
    """Durable state. Every method is one transaction; ``append_message`` commits before it
    returns, so an acknowledgement sent after it is a promise kept."""

    async def get_site(self, key: str) -> Site | None:
        """The site with this public key."""
        ...

    async def get_staff(self, staff_id: int) -> StaffMember | None:
        """A staff member by id."""
        ...

    async def create_conversation(self, new: NewConversation, now: float) -> Conversation:
        """Insert a ``queued`` conversation with ``last_seq`` 0."""
        ...

    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        """One conversation, or None."""
        ...

    async def open_conversation_for(self, site_id: int, visitor_id: str) -> Conversation | None:
        """The visitor's newest conversation on this site that has not ended."""
        ...

    async def list_conversations(self, statuses: tuple[Status, ...]) -> list[Conversation]:
        """Conversations in these states, oldest ``queued_at`` first."""
        ...

    async def update_conversation(
        self,
        conversation_id: str,
        changes: Changes,
        expect_status: tuple[Status, ...] | None = None,
        expect_assignee: int | None = None,
    ) -> Conversation | None:
        """Apply ``changes`` only if the row still matches the expectations (compare and set)
        and bump its ``version`` in the same write; returns the updated conversation, or None
        when it did not match."""
        ...

    async def append_message(
        self, new: NewMessage, now: float, admit: Callable[[Owners], None] | None = None
    ) -> Appended:
        """Store a message and assign the next ``seq`` in one transaction, the delivery path's
        only trip to the database. ``admit`` is called inside it with the conversation's
        owners; whatever it raises rolls the transaction back and propagates. A message with
        the same ``(conversation_id, client_msg_id)`` already stored is returned unchanged,
        ``created`` False. Raises ``KeyError`` for an unknown conversation."""
        ...

    async def messages_after(
        self, conversation_id: str, after_seq: int, limit: int = 500
    ) -> list[Message]:
        """Messages with ``seq > after_seq`` in seq order."""
        ...

    async def set_read(self, conversation_id: str, side: Side, seq: int) -> None:
        """Raise this side's read marker to ``seq`` (never lowers it)."""
        ...

    async def append_event(self, event: DomainEvent) -> None:
        """Append a domain event to the append-only event log."""
        ...

    async def list_events(self, conversation_id: str | None = None) -> list[DomainEvent]:
        """The event log in order, for one conversation or for everything."""
        ...

    async def recent_handling_seconds(self, limit: int = 20) -> list[float]:
        """``ended_at - accepted_at`` for the most recently ended handled conversations."""
        ...

    # -- calls: the running call of a conversation and of a staff member are rows, so any
    # node answers; each change is one transaction holding the conversation's row.

    async def start_call(self, new: NewCall, now: float) -> StartedCall:
        """Start a call in one transaction holding the conversation's row: the conversation
        must be ``active`` and assigned to ``new.staff_id``, and that staff member in no call
        in another conversation; the conversation's running call, if any, ends as
        ``switched`` (ended by ``new.started_by``) and its ``channel`` becomes the call's.
        Raises ``CallRefused`` (and changes nothing) otherwise."""
        ...

    async def running_call(self, conversation_id: str) -> Call | None:
        """The call running in this conversation, or None."""
        ...

    async def running_call_of_staff(self, staff_id: int) -> Call | None:
        """The call this staff member is in, in whichever conversation, or None."""
        ...

    async def end_call(
        self,
        conversation_id: str,
        call_id: str | None,
        by: EndedBy,
        reason: str,
        now: float,
    ) -> Call | None:
        """End the conversation's running call (only if its id is ``call_id``, unless that
        is None) and put the conversation's ``channel`` back to chat, in one transaction.
        Returns the ended call, or None when no such call was running."""
        ...

    async def close_conversation(
        self,
        conversation_id: str,
        changes: Changes,
        call_reason: str,
        now: float,
        expect_status: tuple[Status, ...] | None = None,
        expect_assignee: int | None = None,
        wrapup: ShiftPolicy | None = None,
    ) -> Closed | None:
        """``update_conversation`` for a change that takes a conversation out of ``active``
        (it ends, or returns to the queue). In the same transaction its running call ends
        (ended by ``system``, reason ``call_reason``, channel back to chat) and an open
        proposal is ``withdrawn``, so no call outlives its conversation, on any node. None
        when the row did not match the expectations (nothing changed).

        With ``wrapup`` (the site's policy), an assignee's wrap-up begins in the same
        transaction, so no dispatch on any node rings them in between: ``wrapup_call_s`` if
        the conversation had a call (counted towards ``call_cap``; at the cap ``pause_s`` is
        added and the count restarts), else ``wrapup_chat_s``. A running wrap-up is never
        shortened. With no wrap-up due, the assignee counts as idle from ``now``."""
        ...

    async def propose_call(
        self, conversation_id: str, staff_id: int, channel: Channel, now: float
    ) -> Proposal | None:
        """Open a proposal, superseding the conversation's open one, while the conversation is
        ``active`` and assigned to ``staff_id`` (checked holding its row); None otherwise."""
        ...

    async def answer_proposal(
        self, conversation_id: str, proposal_id: str, accepted: bool, now: float
    ) -> Proposal | None:
        """Answer the conversation's open proposal ``proposal_id`` (once: a second answer, a
        superseded or withdrawn proposal gets None); returns it answered."""
        ...
