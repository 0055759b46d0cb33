"""Calls and call proposals in SQL: the calls aggregate of ``SqlStore``.

The conversation's row is the one serialisation point: every change here starts by holding
it (``SELECT ... FOR UPDATE`` on PostgreSQL, where nodes share the database; on SQLite the
store's one connection runs each transaction to its end, and SQLite serialises writers), so
a call cannot start in a conversation that another transaction is ending. Partial unique
indexes back this up: one running call per conversation and one per staff member, whatever
node asks.

``CallStore`` is a base class like ``server.accounts.Accounts``: ``server.store.SqlStore``
provides ``_run`` and the conversation helpers it declares.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from typing import Any, TypeAlias, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row
from sqlalchemy.exc import IntegrityError

from server.store_shift import begin_wrapup
from server.tables import call_proposals, calls, conversations
from signaling.ports import (
    Call,
    CallRefused,
    Changes,
    Closed,
    Conversation,
    EndedBy,
    NewCall,
    Proposal,
    ShiftPolicy,
    StartedCall,
    Status,
    WrapUp,
)
from signaling.protocol import Channel

log = logging.getLogger(__name__)

T = TypeVar("T")
AnyRow: TypeAlias = Row[*tuple[Any, ...]]

_LOCK_CONVERSATION = (
    sa.select(conversations.c.status, conversations.c.assignee_id)
    .where(conversations.c.id == sa.bindparam("conversation_id"))
    .with_for_update()
)
_RUNNING_IN = sa.select(calls).where(
    calls.c.conversation_id == sa.bindparam("conversation_id"), calls.c.ended_at.is_(None)
)
_RUNNING_FOR = sa.select(calls).where(
    calls.c.staff_id == sa.bindparam("staff_id"), calls.c.ended_at.is_(None)
)
_END_CALL = (
    sa.update(calls)
    .where(calls.c.id == sa.bindparam("call_id"), calls.c.ended_at.is_(None))
    .values(
        ended_at=sa.bindparam("now"),
        ended_by=sa.bindparam("by"),
        end_reason=sa.bindparam("reason"),
    )
    .returning(calls)
)
_GET_ROW = sa.select(conversations).where(conversations.c.id == sa.bindparam("conversation_id"))
_SET_CHANNEL = (
    sa.update(conversations)
    .where(conversations.c.id == sa.bindparam("conversation_id"))
    .values(channel=sa.bindparam("to_channel"), version=conversations.c.version + 1)
    .returning(conversations)
)
_CLOSE_PROPOSAL = (
    sa.update(call_proposals)
    .where(
        call_proposals.c.conversation_id == sa.bindparam("of_conversation"),
        call_proposals.c.answer.is_(None),
    )
    .values(answered_at=sa.bindparam("now"), answer=sa.bindparam("with_answer"))
)


def _call(row: AnyRow) -> Call:
    return Call(**row._mapping)


def _proposal(row: AnyRow) -> Proposal:
    return Proposal(**row._mapping)


def _active_with(conn: Connection, conversation_id: str, staff_id: int) -> bool:
    """Hold the conversation's row; whether it is active and assigned to ``staff_id``."""
    owner = conn.execute(_LOCK_CONVERSATION, {"conversation_id": conversation_id}).first()
    return owner is not None and owner.status == "active" and owner.assignee_id == staff_id


def _end(conn: Connection, call_id: str, by: EndedBy, reason: str, now: float) -> Call | None:
    params = {"call_id": call_id, "by": by, "reason": reason, "now": now}
    row = conn.execute(_END_CALL, params).first()
    return _call(row) if row is not None else None


def _end_running(
    conn: Connection,
    conversation_id: str,
    call_id: str | None,
    by: EndedBy,
    reason: str,
    now: float,
) -> Call | None:
    """End the conversation's running call (if it is ``call_id``) and put the conversation
    back to chat; the caller holds the conversation's row."""
    running = conn.execute(_RUNNING_IN, {"conversation_id": conversation_id}).first()
    if running is None or (call_id is not None and running.id != call_id):
        return None
    ended = _end(conn, running.id, by, reason, now)
    if ended is not None:
        conn.execute(_SET_CHANNEL, {"conversation_id": conversation_id, "to_channel": "chat"})
    return ended


def close_calls(conn: Connection, conversation_id: str, reason: str, now: float) -> Call | None:
    """The rest of closing a conversation (ending it, or returning it to the queue), in the
    caller's transaction after it changed the conversation's row: its running call ends (by
    ``system``, for ``reason``) and an open proposal is withdrawn. Returns the ended call."""
    call = _end_running(conn, conversation_id, None, "system", reason, now)
    params = {"of_conversation": conversation_id, "now": now, "with_answer": "withdrawn"}
    conn.execute(_CLOSE_PROPOSAL, params)
    return call


class CallStore:
    """Calls and proposals. Each method is one transaction that holds the conversation's row
    before it reads what it will change."""

    async def _run(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` on a connection of its own; ``work`` commits what it writes."""
        raise NotImplementedError

    async def _conversation(self, row: AnyRow | None) -> Conversation | None:
        """A conversation from a row of the ``conversations`` table."""
        raise NotImplementedError

    def _conversation_update(
        self,
        conversation_id: str,
        changes: Changes,
        expect_status: tuple[Status, ...] | None,
        expect_assignee: int | None,
    ) -> sa.Executable:
        """``update_conversation``'s statement, returning the row when it matched."""
        raise NotImplementedError

    async def start_call(self, new: NewCall, now: float) -> StartedCall:
        """Start a call, holding the conversation's row: it must be active with
        ``new.staff_id``, who must be in no call elsewhere; the running call, if any, ends as
        ``switched``. Raises ``CallRefused`` (nothing changed) otherwise."""

        def work(conn: Connection) -> StartedCall:
            if not _active_with(conn, new.conversation_id, new.staff_id):
                raise CallRefused("not_active")
            elsewhere = conn.execute(_RUNNING_FOR, {"staff_id": new.staff_id}).first()
            if elsewhere is not None and elsewhere.conversation_id != new.conversation_id:
                raise CallRefused("busy")
            running = conn.execute(_RUNNING_IN, {"conversation_id": new.conversation_id}).first()
            switched = None
            if running is not None:
                switched = _end(conn, running.id, new.started_by, "switched", now)
            call = Call(
                id=secrets.token_hex(16),
                conversation_id=new.conversation_id,
                staff_id=new.staff_id,
                channel=new.channel,
                started_by=new.started_by,
                started_at=now,
            )
            try:
                conn.execute(sa.insert(calls).values(_values(call)))
            except IntegrityError:
                # The staff member's call in another conversation committed meanwhile (that
                # conversation's row is not the one held here): the unique index said no.
                raise CallRefused("busy") from None
            params = {"conversation_id": new.conversation_id, "to_channel": new.channel}
            conn.execute(_SET_CHANNEL, params)
            conn.commit()
            return StartedCall(call, switched)

        return await self._run(work)

    async def running_call(self, conversation_id: str) -> Call | None:
        """The call running in this conversation, or None."""
        params = {"conversation_id": conversation_id}
        row = await self._run(lambda conn: conn.execute(_RUNNING_IN, params).first())
        return _call(row) if row is not None else None

    async def running_call_of_staff(self, staff_id: int) -> Call | None:
        """The call this staff member is in, in whichever conversation, or None."""
        params = {"staff_id": staff_id}
        row = await self._run(lambda conn: conn.execute(_RUNNING_FOR, params).first())
        return _call(row) if row is not None else None

    async def end_call(
        self,
        conversation_id: str,
        call_id: str | None,
        by: EndedBy,
        reason: str,
        now: float,
    ) -> Call | None:
        """End the conversation's running call (only if it is ``call_id``, unless None) and
        put the conversation back to chat; None when no such call was running."""

        def work(conn: Connection) -> Call | None:
            conn.execute(_LOCK_CONVERSATION, {"conversation_id": conversation_id})
            ended = _end_running(conn, conversation_id, call_id, by, reason, now)
            conn.commit()
            return ended

        return await self._run(work)

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
        """Apply ``changes`` like ``update_conversation`` (whose ``UPDATE`` holds the row)
        and, in the same transaction, end the running call (by ``system``, ``call_reason``),
        withdraw an open proposal and, with ``wrapup``, begin the assignee's wrap-up. None
        when the row did not match."""
        statement = self._conversation_update(
            conversation_id, changes, expect_status, expect_assignee
        )

        def work(conn: Connection) -> tuple[AnyRow, Call | None, WrapUp | None] | None:
            row = conn.execute(statement).first()
            if row is None:
                conn.rollback()
                return None
            call = close_calls(conn, conversation_id, call_reason, now)
            if call is not None:
                row = conn.execute(_GET_ROW, {"conversation_id": conversation_id}).one()
            wrapped = None
            if wrapup is not None and row.assignee_id is not None:
                wrapped = begin_wrapup(conn, row.assignee_id, conversation_id, now, wrapup)
            conn.commit()
            return row, call, wrapped

        closed = await self._run(work)
        if closed is None:
            return None
        conversation = await self._conversation(closed[0])
        assert conversation is not None
        if closed[1] is not None:
            log.info("call %s ended with conversation %s", closed[1].id, conversation_id)
        return Closed(conversation, closed[1], closed[2])

    async def propose_call(
        self, conversation_id: str, staff_id: int, channel: Channel, now: float
    ) -> Proposal | None:
        """Open a proposal (superseding the open one) while the conversation is active with
        ``staff_id``; None otherwise."""
        proposal = Proposal(
            id=secrets.token_hex(16),
            conversation_id=conversation_id,
            staff_id=staff_id,
            channel=channel,
            proposed_at=now,
        )

        def work(conn: Connection) -> Proposal | None:
            if not _active_with(conn, conversation_id, staff_id):
                return None
            params = {"of_conversation": conversation_id, "now": now, "with_answer": "superseded"}
            conn.execute(_CLOSE_PROPOSAL, params)
            conn.execute(sa.insert(call_proposals).values(_values(proposal)))
            conn.commit()
            return proposal

        return await self._run(work)

    async def answer_proposal(
        self, conversation_id: str, proposal_id: str, accepted: bool, now: float
    ) -> Proposal | None:
        """Answer the open proposal ``proposal_id`` of this conversation, once; None if it is
        not open (answered, superseded, withdrawn, or never made here)."""
        statement = (
            sa.update(call_proposals)
            .where(
                call_proposals.c.id == proposal_id,
                call_proposals.c.conversation_id == conversation_id,
                call_proposals.c.answer.is_(None),
            )
            .values(answered_at=now, answer="accepted" if accepted else "declined")
            .returning(call_proposals)
        )

        def work(conn: Connection) -> Proposal | None:
            row = conn.execute(statement).first()
            conn.commit()
            return _proposal(row) if row is not None else None

        return await self._run(work)


def _values(record: Call | Proposal) -> dict[str, Any]:
    return {name: getattr(record, name) for name in record.__slots__}
