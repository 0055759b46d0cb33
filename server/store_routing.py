"""Routing state in SQL: the ``RoutingStore`` half of ``SqlStore``.

Every node reads and writes the same rows, so no node holds the truth alone: a ring is a
conversation row in ``ringing`` with its deadline, a grace period is a deadline on the staff
member's presence row, and a console socket is a row of the node that holds it. Changes are
compare-and-set statements (``UPDATE ... WHERE`` the state still is what the caller saw), so
two nodes acting at once cannot both win. Dispatch is serialised across nodes by a
transaction-scoped advisory lock on PostgreSQL; SQLite is one node, whose transactions run
one after another on its event loop.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Literal, TypeAlias, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from server.accounts import commit, staff_from_row
from server.store_calls import close_calls
from server.tables import conversations, nodes, staff, staff_presence, staff_sockets
from signaling.ports import (
    AwayReason,
    Call,
    Candidate,
    Chooser,
    Closed,
    Conversation,
    EndedRing,
    Presence,
    Ring,
    Staffing,
    StaffMember,
)

T = TypeVar("T")
AnyRow: TypeAlias = Row[Any]

# pg_advisory_xact_lock key for dispatch: any fixed 64-bit number, the same on every node.
DISPATCH_LOCK = 0x706F7263686C6967  # "porchlig"

# Every change of a conversation's state raises its version in the same UPDATE (clients drop
# a view older than the one they hold).
BUMP = conversations.c.version + 1

_ACTIVE_COUNT = (
    sa.select(sa.func.count())
    .where(
        conversations.c.status == "active",
        conversations.c.assignee_id == staff_presence.c.staff_id,
    )
    .scalar_subquery()
)
_RINGING = sa.exists().where(
    conversations.c.status == "ringing",
    conversations.c.ringing_staff_id == staff_presence.c.staff_id,
)
_CONNECTED = sa.exists().where(staff_sockets.c.staff_id == staff_presence.c.staff_id)
# A conversation's channel is its running call's (or, between an accept and the call's
# start, the call it asked for): holding one that is not a chat is being in a call.
_IN_CALL = sa.exists().where(
    conversations.c.status == "active",
    conversations.c.assignee_id == staff_presence.c.staff_id,
    conversations.c.channel != "chat",
)

# The statements of every start, dispatch and accept, built once with bound parameters:
# building a Core statement (and its cache key) per call cost more than running it on SQLite.
_ON_DUTY = (staff_presence.c.status == "available", _CONNECTED, staff.c.active.is_(True))
_STAFFING = (
    sa.select(staff.c.max_chats, _ACTIVE_COUNT.label("active"))
    .join_from(staff_presence, staff, staff.c.id == staff_presence.c.staff_id)
    .where(*_ON_DUTY)
)
_FREE_CANDIDATES = (
    sa.select(
        staff,
        staff_presence.c.status.label("presence"),
        staff_presence.c.media,
        staff_presence.c.idle_since,
        staff_presence.c.wrapup_until,
        _ACTIVE_COUNT.label("held"),
        _RINGING.label("ringing"),
        _IN_CALL.label("in_call"),
    )
    .join_from(staff_presence, staff, staff.c.id == staff_presence.c.staff_id)
    .where(*_ON_DUTY)
)
# Dispatch reads the queue a page at a time, in queue order, and stops once nobody is free:
# a long queue is not read whole for the one person who just became free.
QUEUE_PAGE = 50
_QUEUE_ORDER = (conversations.c.queued_at, conversations.c.id)
_QUEUED_FIRST = (
    sa.select(conversations)
    .where(conversations.c.status == "queued")
    .order_by(*_QUEUE_ORDER)
    .limit(QUEUE_PAGE)
)
_ANY_QUEUED = sa.select(conversations.c.id).where(conversations.c.status == "queued").limit(1)
_QUEUED_AFTER = _QUEUED_FIRST.where(
    sa.or_(
        conversations.c.queued_at > sa.bindparam("after_at"),
        sa.and_(
            conversations.c.queued_at == sa.bindparam("after_at"),
            conversations.c.id > sa.bindparam("after_id"),
        ),
    )
)
_RING = (
    sa.update(conversations)
    .where(conversations.c.id == sa.bindparam("ring_id"), conversations.c.status == "queued")
    .values(
        status="ringing",
        ringing_staff_id=sa.bindparam("ring_staff_id"),
        ring_deadline=sa.bindparam("ring_deadline"),
        tried=sa.bindparam("ring_tried"),
        version=BUMP,
    )
    .returning(conversations)
)
_held = conversations.alias("held")
_ACCEPT = (
    sa.update(conversations)
    .where(
        conversations.c.id == sa.bindparam("accept_id"),
        conversations.c.status == "ringing",
        conversations.c.ringing_staff_id == sa.bindparam("member_id"),
        sa.select(sa.func.count())
        .select_from(_held)
        .where(_held.c.status == "active", _held.c.assignee_id == sa.bindparam("member_id"))
        .scalar_subquery()
        < sa.bindparam("max_chats"),
    )
    .values(
        status="active",
        assignee_id=sa.bindparam("member_id"),
        ringing_staff_id=None,
        ring_deadline=None,
        tried="[]",
        accepted_at=sa.bindparam("now"),
        version=BUMP,
    )
    .returning(conversations)
)
_BUSY_SINCE = (
    sa.update(staff_presence)
    .where(staff_presence.c.staff_id == sa.bindparam("member_id"))
    .values(idle_since=sa.bindparam("now"))
)
_WAITING = (
    sa.select(conversations)
    .where(conversations.c.status.in_(("queued", "ringing")))
    .order_by(*_QUEUE_ORDER)
)
_AHEAD = sa.select(sa.func.count()).where(
    conversations.c.status.in_(("queued", "ringing")),
    sa.or_(
        conversations.c.queued_at < sa.bindparam("at"),
        sa.and_(
            conversations.c.queued_at == sa.bindparam("at"),
            conversations.c.id < sa.bindparam("conversation_id"),
        ),
    ),
)


def _ids(text: str | None) -> tuple[int, ...]:
    return tuple(int(value) for value in json.loads(text)) if text else ()


def _json(values: Iterable[Any]) -> str:
    return json.dumps(sorted(values), separators=(",", ":"))


def _presence(row: AnyRow) -> Presence:
    values = row._mapping
    return Presence(
        staff_id=values["staff_id"],
        status="available" if values["status"] == "available" else "away",
        connected=bool(values["connected"]),
        media=frozenset(json.loads(values["media"])),
        idle_since=values["idle_since"],
        grace_until=values["grace_until"],
        reason=values["away_reason"],
        away_since=values["away_since"],
    )


def _select_presence(staff_id: int) -> sa.Select[Any]:
    return sa.select(
        staff_presence.c.staff_id,
        staff_presence.c.status,
        staff_presence.c.media,
        staff_presence.c.idle_since,
        staff_presence.c.grace_until,
        staff_presence.c.away_reason,
        staff_presence.c.away_since,
        _CONNECTED.label("connected"),
    ).where(staff_presence.c.staff_id == staff_id)


def _ensure_presence(conn: Connection, staff_id: int, now: float) -> None:
    """Create the presence row on first sight (away, idle since now)."""
    exists = conn.scalar(
        sa.select(staff_presence.c.staff_id).where(staff_presence.c.staff_id == staff_id)
    )
    if exists is None:
        conn.execute(sa.insert(staff_presence).values(staff_id=staff_id, idle_since=now))


def _requeued_values() -> dict[str, Any]:
    return {"status": "queued", "ringing_staff_id": None, "ring_deadline": None, "version": BUMP}


class RoutingState:
    """Routing rows; composed into ``SqlStore``, which provides ``_run`` and
    ``_conversation``."""

    dialect: str

    async def _run(self, work: Callable[[Connection], T]) -> T:
        raise NotImplementedError

    def _conversation(self, row: Any) -> Awaitable[Conversation | None]:
        raise NotImplementedError

    async def _conversations(self, rows: Iterable[AnyRow]) -> list[Conversation]:
        found = [await self._conversation(row) for row in rows]
        return [c for c in found if c is not None]

    # -- nodes and sockets ---------------------------------------------------------------

    async def heartbeat(self, node_id: str, now: float) -> bool:
        """Record that this node is alive; whether its row was there (False: the first
        beat, or the other nodes forgot this node; the row is made again)."""

        def work(conn: Connection) -> bool:
            updated = conn.execute(
                sa.update(nodes).where(nodes.c.id == node_id).values(heartbeat_at=now)
            )
            existed = updated.rowcount > 0
            if not existed:
                conn.execute(sa.insert(nodes).values(id=node_id, started_at=now, heartbeat_at=now))
            conn.commit()
            return existed

        return await self._run(work)

    async def forget_nodes(
        self, now: float, grace: float, *, before: float | None = None, node_id: str | None = None
    ) -> list[int]:
        """Drop nodes and their console sockets: those whose heartbeat is older than
        ``before`` (dead), or the one named ``node_id`` (stopping). Staff left with no socket
        anywhere get a grace deadline (``now + grace``) when they hold conversations; returns
        their ids."""

        def work(conn: Connection) -> list[int]:
            if node_id is not None:
                gone = [node_id]
            else:
                gone = list(
                    conn.scalars(
                        sa.select(nodes.c.id)
                        .where(nodes.c.heartbeat_at < before)
                        .with_for_update(skip_locked=True)
                    )
                )
            if not gone:
                conn.rollback()
                return []
            orphaned = set(
                conn.scalars(
                    sa.select(staff_sockets.c.staff_id).where(staff_sockets.c.node_id.in_(gone))
                )
            )
            conn.execute(sa.delete(staff_sockets).where(staff_sockets.c.node_id.in_(gone)))
            conn.execute(sa.delete(nodes).where(nodes.c.id.in_(gone)))
            left = [s for s in sorted(orphaned) if _start_grace(conn, s, now, grace)]
            conn.commit()
            return left

        return await self._run(work)

    async def attach_socket(
        self, node_id: str, sid: str, member: StaffMember, now: float
    ) -> Presence:
        """A console socket connected; a pending grace deadline is cleared."""

        def work(conn: Connection) -> AnyRow:
            _ensure_presence(conn, member.id, now)
            conn.execute(
                sa.insert(staff_sockets).values(
                    node_id=node_id, sid=sid, staff_id=member.id, connected_at=now
                )
            )
            conn.execute(
                sa.update(staff_presence)
                .where(staff_presence.c.staff_id == member.id)
                .values(grace_until=None)
            )
            row = conn.execute(_select_presence(member.id)).one()
            conn.commit()
            return row

        return _presence(await self._run(work))

    async def detach_socket(
        self, node_id: str, sid: str, now: float, grace: float
    ) -> Presence | None:
        """A console socket closed; the last one starts the grace deadline."""

        def work(conn: Connection) -> AnyRow | None:
            staff_id = conn.scalar(
                sa.delete(staff_sockets)
                .where(staff_sockets.c.node_id == node_id, staff_sockets.c.sid == sid)
                .returning(staff_sockets.c.staff_id)
            )
            if staff_id is None:
                conn.rollback()
                return None
            _start_grace(conn, staff_id, now, grace)
            row = conn.execute(_select_presence(staff_id)).first()
            conn.commit()
            return row

        row = await self._run(work)
        return None if row is None else _presence(row)

    async def sockets_of(self, staff_id: int) -> list[str]:
        """The console sockets of this staff member on every node."""
        statement = sa.select(staff_sockets.c.sid).where(staff_sockets.c.staff_id == staff_id)
        return list(await self._run(lambda conn: conn.scalars(statement).all()))

    # -- presence ------------------------------------------------------------------------

    async def set_presence(
        self,
        member: StaffMember,
        status: Literal["available", "away"],
        media: frozenset[str] | None,
        now: float,
        reason: AwayReason | None = None,
    ) -> tuple[Presence, Presence]:
        """Store what the staff member chose; becoming available restarts their idle time,
        going away (or changing reason) starts an away spell and restarts the count of calls
        in a row. Returns the presence before and after."""

        def work(conn: Connection) -> tuple[AnyRow, AnyRow]:
            _ensure_presence(conn, member.id, now)
            before = conn.execute(
                _select_presence(member.id).with_for_update(of=staff_presence)
            ).one()
            values: dict[str, Any] = {"status": status}
            if media is not None:
                values["media"] = _json(media)
            if status == "available":
                values.update(away_reason=None, away_since=None)
                if before.status != "available":
                    values["idle_since"] = now
            elif before.status != "away" or before.away_reason != reason:
                values.update(away_reason=reason, away_since=now, calls_in_row=0)
            conn.execute(
                sa.update(staff_presence)
                .where(staff_presence.c.staff_id == member.id)
                .values(values)
            )
            row = conn.execute(_select_presence(member.id)).one()
            conn.commit()
            return before, row

        before, after = await self._run(work)
        return _presence(before), _presence(after)

    async def get_presence(self, member: StaffMember, now: float) -> Presence:
        """The staff member's presence (away, offline, idle since now when never seen)."""
        row = await self._run(lambda conn: conn.execute(_select_presence(member.id)).first())
        if row is None:
            return Presence(member.id, "away", False, frozenset(), now, None)
        return _presence(row)

    async def staffing(self, now: float) -> Staffing:
        """Connected, available staff and their free and total chat slots."""
        rows = await self._run(lambda conn: conn.execute(_STAFFING).all())
        return Staffing(
            serving=len(rows),
            open_slots=sum(max(0, row.max_chats - row.active) for row in rows),
            capacity=sum(row.max_chats for row in rows),
        )

    # -- rings ---------------------------------------------------------------------------

    async def dispatch(self, now: float, ring_timeout: float, choose: Chooser) -> list[Ring]:
        """Ring free staff for queued conversations, oldest first (see ``RoutingStore``)."""

        def work(conn: Connection) -> list[tuple[AnyRow, int]]:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(DISPATCH_LOCK)))
            # Nothing waits (an accept or a presence change with the queue empty): whom to
            # ring need not be worked out, which costs a count per staff member on duty.
            if conn.execute(_ANY_QUEUED).first() is None:
                conn.rollback()
                return []
            free = _free_candidates(conn, now)
            if not free:
                conn.rollback()
                return []
            rung: list[tuple[AnyRow, int]] = []
            page = conn.execute(_QUEUED_FIRST).all()
            while free and page:
                for row in page:
                    if not free:
                        break
                    choice = choose(_bare_conversation(row), free)
                    if choice is None:
                        continue
                    staff_id, tried = choice
                    ringing = conn.execute(
                        _RING,
                        {
                            "ring_id": row.id,
                            "ring_staff_id": staff_id,
                            "ring_deadline": now + ring_timeout,
                            "ring_tried": _json(tried),
                        },
                    ).first()
                    if ringing is not None:
                        rung.append((ringing, staff_id))
                        free = [c for c in free if c.member.id != staff_id]
                if not free or len(page) < QUEUE_PAGE:
                    break
                last = page[-1]
                page = conn.execute(
                    _QUEUED_AFTER, {"after_at": last.queued_at, "after_id": last.id}
                ).all()
            conn.commit()
            return rung

        made = await self._run(work)
        rings: list[Ring] = []
        for row, staff_id in made:
            conversation = await self._conversation(row)
            if conversation is not None:
                rings.append(Ring(conversation, staff_id))
        return rings

    async def accept_ring(
        self, conversation_id: str, member: StaffMember, now: float
    ) -> Conversation | None:
        """``ringing`` for ``member`` → ``active``, if they have capacity (one statement)."""
        params = {
            "accept_id": conversation_id,
            "member_id": member.id,
            "max_chats": member.max_chats,
            "now": now,
        }

        def work(conn: Connection) -> AnyRow | None:
            row = conn.execute(_ACCEPT, params).first()
            if row is not None:
                conn.execute(_BUSY_SINCE, {"member_id": member.id, "now": now})
            conn.commit()
            return row

        return await self._conversation(await self._run(work))

    async def end_ring(self, conversation_id: str, staff_id: int) -> EndedRing | None:
        """Put a conversation ringing for ``staff_id`` back in the queue; None if it was not."""
        statement = (
            sa.update(conversations)
            .where(
                conversations.c.id == conversation_id,
                conversations.c.status == "ringing",
                conversations.c.ringing_staff_id == staff_id,
            )
            .values(_requeued_values())
            .returning(conversations)
        )
        row = await self._run(lambda conn: commit(conn, conn.execute(statement).first()))
        if row is None:
            return None
        return EndedRing(conversation_id, staff_id, await self._conversation(row))

    async def rings_of(self, staff_id: int) -> list[Conversation]:
        """The conversations ringing for this staff member."""
        statement = sa.select(conversations).where(
            conversations.c.status == "ringing", conversations.c.ringing_staff_id == staff_id
        )
        rows = await self._run(lambda conn: conn.execute(statement).all())
        return await self._conversations(rows)

    async def expire_rings(self, now: float) -> list[EndedRing]:
        """Requeue every ring whose deadline has passed; ``SKIP LOCKED`` lets each node claim
        different rows, and the compare-and-set makes a late claimer a no-op."""

        def work(conn: Connection) -> list[tuple[AnyRow, int]]:
            due = conn.execute(
                sa.select(conversations.c.id, conversations.c.ringing_staff_id)
                .where(conversations.c.status == "ringing", conversations.c.ring_deadline <= now)
                .with_for_update(skip_locked=True)
            ).all()
            ended: list[tuple[AnyRow, int]] = []
            for conversation_id, staff_id in due:
                row = conn.execute(
                    sa.update(conversations)
                    .where(
                        conversations.c.id == conversation_id,
                        conversations.c.status == "ringing",
                        conversations.c.ringing_staff_id == staff_id,
                    )
                    .values(_requeued_values())
                    .returning(conversations)
                ).first()
                if row is not None:
                    ended.append((row, staff_id))
            conn.commit()
            return ended

        return [
            EndedRing(row.id, staff_id, await self._conversation(row))
            for row, staff_id in await self._run(work)
        ]

    async def expire_grace(self, now: float) -> list[tuple[int, list[Closed]]]:
        """Return to the queue the conversations of staff whose grace has passed and who have
        not come back; their running calls end in the same transaction."""

        def work(conn: Connection) -> list[tuple[int, list[tuple[AnyRow, Call | None]]]]:
            due = list(
                conn.scalars(
                    sa.select(staff_presence.c.staff_id)
                    .where(staff_presence.c.grace_until <= now)
                    .with_for_update(skip_locked=True)
                )
            )
            done: list[tuple[int, list[tuple[AnyRow, Call | None]]]] = []
            for staff_id in due:
                conn.execute(
                    sa.update(staff_presence)
                    .where(staff_presence.c.staff_id == staff_id)
                    .values(grace_until=None)
                )
                back = conn.scalar(
                    sa.select(sa.func.count()).where(staff_sockets.c.staff_id == staff_id)
                )
                if back:
                    continue
                rows = conn.execute(
                    sa.update(conversations)
                    .where(
                        conversations.c.status == "active",
                        conversations.c.assignee_id == staff_id,
                    )
                    .values(status="queued", assignee_id=None, version=BUMP)
                    .returning(conversations.c.id)
                ).all()
                closed = []
                for (conversation_id,) in rows:
                    call = close_calls(conn, conversation_id, "requeued", now)
                    row = conn.execute(
                        sa.select(conversations).where(conversations.c.id == conversation_id)
                    ).one()
                    closed.append((row, call))
                closed.sort(key=lambda pair: (pair[0].queued_at, pair[0].id))
                done.append((staff_id, closed))
            conn.commit()
            return done

        result: list[tuple[int, list[Closed]]] = []
        for staff_id, closed in await self._run(work):
            back = []
            for row, call in closed:
                conversation = await self._conversation(row)
                if conversation is not None:
                    back.append(Closed(conversation, call))
            result.append((staff_id, back))
        return result

    async def assigned_to(self, staff_id: int) -> list[Conversation]:
        """The staff member's active conversations, oldest first."""
        statement = (
            sa.select(conversations)
            .where(conversations.c.status == "active", conversations.c.assignee_id == staff_id)
            .order_by(conversations.c.queued_at, conversations.c.id)
        )
        rows = await self._run(lambda conn: conn.execute(statement).all())
        return await self._conversations(rows)

    async def waiting(self) -> list[Conversation]:
        """Queued and ringing conversations, first come first served."""
        rows = await self._run(lambda conn: conn.execute(_WAITING).all())
        return await self._conversations(rows)

    async def left_waiting(self, before: float) -> list[Conversation]:
        """Waiting conversations whose customer went before ``before``."""
        statement = _WAITING.where(conversations.c.customer_left_at < before)
        rows = await self._run(lambda conn: conn.execute(statement).all())
        return await self._conversations(rows)

    async def queue_position(self, conversation: Conversation) -> int | None:
        """1 for the first waiting conversation; None when this one is not waiting."""
        if conversation.status not in ("queued", "ringing"):
            return None
        params = {"at": conversation.queued_at, "conversation_id": conversation.id}
        count = await self._run(lambda conn: conn.scalar(_AHEAD, params))
        return int(count or 0) + 1


def _start_grace(conn: Connection, staff_id: int, now: float, grace: float) -> bool:
    """If ``staff_id`` has no socket left and holds conversations, set their grace deadline
    (unless one runs already). Returns whether they are now without a socket."""
    left = conn.scalar(sa.select(sa.func.count()).where(staff_sockets.c.staff_id == staff_id))
    if left:
        return False
    holds = conn.scalar(
        sa.select(sa.func.count()).where(
            conversations.c.status == "active", conversations.c.assignee_id == staff_id
        )
    )
    if holds:
        conn.execute(
            sa.update(staff_presence)
            .where(staff_presence.c.staff_id == staff_id, staff_presence.c.grace_until.is_(None))
            .values(grace_until=now + grace)
        )
    return True


def _free_candidates(conn: Connection, now: float) -> list[Candidate]:
    """Connected, available staff who are not being rung, not wrapping up and have a free
    chat slot."""
    rows = [
        row
        for row in conn.execute(_FREE_CANDIDATES).all()
        if row.wrapup_until is None or row.wrapup_until <= now
    ]
    candidates = [
        Candidate(
            member=staff_from_row(row._mapping),
            status="available",
            active=row.held,
            ringing=bool(row.ringing),
            idle_since=row.idle_since,
            # Call capacity 0: chats only, so no call is ever offered to them.
            media=frozenset(json.loads(row.media)) if row.max_calls > 0 else frozenset(),
            in_call=bool(row.in_call),
        )
        for row in rows
    ]
    return [c for c in candidates if not c.ringing and c.has_capacity]


def _bare_conversation(row: AnyRow) -> Conversation:
    """A conversation for the chooser inside a transaction (``site_key`` is not needed to
    choose, and reading it could need another query)."""
    values = dict(row._mapping)
    values["tried"] = _ids(values.get("tried"))
    return Conversation(site_key="", **values)
