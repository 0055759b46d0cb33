"""The shift in SQL: wrap-up deadlines and outcome tags, composed into ``SqlStore``.

A wrap-up is four columns of the staff member's presence row (``wrapup_until`` and what it
is about); dispatch skips a row whose ``wrapup_until`` is ahead, and any node's sweeper ends
the due ones with ``SKIP LOCKED`` and a compare-and-set, as with ring deadlines. It begins in
the transaction that ends the conversation (``begin_wrapup``, called by
``close_conversation``), so no dispatch on any node sees the staff member free in between.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeAlias, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from server.tables import calls, conversations, staff_presence
from signaling.ports import Conversation, ShiftPolicy, WrapUp

T = TypeVar("T")
AnyRow: TypeAlias = Row[*tuple[Any, ...]]

_WRAPUP = (
    staff_presence.c.staff_id,
    staff_presence.c.wrapup_conversation_id,
    staff_presence.c.wrapup_began,
    staff_presence.c.wrapup_until,
    staff_presence.c.wrapup_pause,
)
_CLEAR = {
    "wrapup_until": None,
    "wrapup_began": None,
    "wrapup_conversation_id": None,
    "wrapup_pause": False,
}


def _wrapup(row: AnyRow) -> WrapUp:
    return WrapUp(
        staff_id=row.staff_id,
        conversation_id=row.wrapup_conversation_id,
        began=row.wrapup_began,
        until=row.wrapup_until,
        pause=bool(row.wrapup_pause),
    )


def begin_wrapup(
    conn: Connection, staff_id: int, conversation_id: str, now: float, policy: ShiftPolicy
) -> WrapUp | None:
    """Inside the transaction that ended ``conversation_id``: begin its staff member's
    wrap-up (see ``Store.close_conversation``), or count them idle from now if none is due."""
    had_call = conn.scalar(sa.select(sa.exists().where(calls.c.conversation_id == conversation_id)))
    row = conn.execute(
        sa.select(*_WRAPUP, staff_presence.c.calls_in_row)
        .where(staff_presence.c.staff_id == staff_id)
        .with_for_update()
    ).first()
    if row is None:
        return None
    seconds = policy.wrapup_call_s if had_call else policy.wrapup_chat_s
    in_row = row.calls_in_row + (1 if had_call else 0)
    pause = bool(had_call) and policy.call_cap > 0 and in_row >= policy.call_cap
    if pause:
        seconds += policy.pause_s
        in_row = 0
    running = row.wrapup_until is not None and row.wrapup_until > now
    values: dict[str, Any] = {"calls_in_row": in_row}
    if seconds <= 0:
        if not running:
            values["idle_since"] = now
        conn.execute(
            sa.update(staff_presence).where(staff_presence.c.staff_id == staff_id).values(values)
        )
        return None
    wrapup = WrapUp(
        staff_id,
        conversation_id,
        began=row.wrapup_began if running else now,
        until=max(now + seconds, row.wrapup_until if running else 0.0),
        pause=pause or (running and bool(row.wrapup_pause)),
    )
    values.update(
        wrapup_until=wrapup.until,
        wrapup_began=wrapup.began,
        wrapup_conversation_id=conversation_id,
        wrapup_pause=wrapup.pause,
    )
    conn.execute(
        sa.update(staff_presence).where(staff_presence.c.staff_id == staff_id).values(values)
    )
    return wrapup


class ShiftState:
    """Wrap-up rows and outcome tags; composed into ``SqlStore``, which provides ``_run``
    and ``_conversation``."""

    async def _run(self, work: Callable[[Connection], T]) -> T:
        raise NotImplementedError

    async def _conversation(self, row: Any) -> Conversation | None:
        raise NotImplementedError

    async def wrapup_of(self, staff_id: int, now: float) -> WrapUp | None:
        """The staff member's running wrap-up, if any."""
        statement = sa.select(*_WRAPUP).where(
            staff_presence.c.staff_id == staff_id, staff_presence.c.wrapup_until > now
        )
        row = await self._run(lambda conn: conn.execute(statement).first())
        return None if row is None else _wrapup(row)

    async def end_wrapup(self, staff_id: int, now: float) -> WrapUp | None:
        """End a running wrap-up early; the staff member is idle from ``now``. Returns the
        wrap-up as it was."""
        running = (
            sa.select(*_WRAPUP)
            .where(staff_presence.c.staff_id == staff_id, staff_presence.c.wrapup_until > now)
            .with_for_update()
        )

        def work(conn: Connection) -> AnyRow | None:
            row = conn.execute(running).first()
            if row is not None:
                conn.execute(
                    sa.update(staff_presence)
                    .where(staff_presence.c.staff_id == staff_id)
                    .values(idle_since=now, **_CLEAR)
                )
            conn.commit()
            return row

        row = await self._run(work)
        return None if row is None else _wrapup(row)

    async def extend_wrapup(
        self, staff_id: int, now: float, seconds: float, longest: float
    ) -> WrapUp | None:
        """Add ``seconds`` to a running wrap-up, to at most ``longest`` from now."""
        until = staff_presence.c.wrapup_until + seconds
        statement = (
            sa.update(staff_presence)
            .where(staff_presence.c.staff_id == staff_id, staff_presence.c.wrapup_until > now)
            .values(wrapup_until=sa.case((until > now + longest, now + longest), else_=until))
            .returning(*_WRAPUP)
        )

        def work(conn: Connection) -> AnyRow | None:
            row = conn.execute(statement).first()
            conn.commit()
            return row

        row = await self._run(work)
        return None if row is None else _wrapup(row)

    async def expire_wrapups(self, now: float) -> list[WrapUp]:
        """End the wrap-ups past their deadline; ``SKIP LOCKED`` lets each node claim
        different rows and the compare-and-set makes a late claimer a no-op. Their staff
        count as idle since the deadline."""

        def work(conn: Connection) -> list[AnyRow]:
            due = conn.execute(
                sa.select(*_WRAPUP)
                .where(staff_presence.c.wrapup_until <= now)
                .with_for_update(skip_locked=True)
            ).all()
            ended = []
            for row in due:
                changed = conn.execute(
                    sa.update(staff_presence)
                    .where(
                        staff_presence.c.staff_id == row.staff_id,
                        staff_presence.c.wrapup_until == row.wrapup_until,
                    )
                    .values(idle_since=row.wrapup_until, **_CLEAR)
                )
                if changed.rowcount:
                    ended.append(row)
            conn.commit()
            return ended

        return [_wrapup(row) for row in await self._run(work)]

    async def tag_conversation(
        self, conversation_id: str, staff_id: int, tag: str
    ) -> Conversation | None:
        """Store the outcome tag on a conversation assigned to ``staff_id``."""
        statement = (
            sa.update(conversations)
            .where(conversations.c.id == conversation_id, conversations.c.assignee_id == staff_id)
            .values(outcome=tag)
            .returning(conversations)
        )

        def work(conn: Connection) -> AnyRow | None:
            row = conn.execute(statement).first()
            conn.commit()
            return row

        return await self._conversation(await self._run(work))
