"""The SQL store: implements ``signaling.ports.Store`` on SQLite (default) or PostgreSQL.

Conversations and messages live here; sites, staff and sessions in ``server.accounts``;
calls and call proposals in ``server.store_calls``; routing state in ``server.store_routing``.
Every public method is one transaction, and returns only once what it wrote, or read, is on
disk (an OS crash or a power cut cannot take it back): on SQLite through the group commit of
``server.wal_sync``, on PostgreSQL through ``synchronous_commit=on``. ``append_message`` is
the delivery contract: the message and its ``seq`` are committed together, and on disk,
before it returns.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, TypeAlias, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Row
from sqlalchemy.sql.compiler import SQLCompiler

from server import analytics_facts
from server.accounts import Accounts, DuplicateError, commit
from server.database import PostgresDatabase, SqliteDatabase
from server.store_audit import AuditStore
from server.store_calls import CallStore
from server.store_hours import HoursStore
from server.store_mail import MailStore
from server.store_photos import PhotoStore
from server.store_privacy import PrivacyStore
from server.store_routing import RoutingState
from server.store_shift import ShiftState
from server.store_staff import StaffStore
from server.store_tokens import TokenStore
from server.tables import conversations, events, messages
from signaling.domain_events import DomainEvent, EventKind
from signaling.ports import (
    Appended,
    Changes,
    Conversation,
    Message,
    NewConversation,
    NewMessage,
    Owners,
    Side,
    Status,
)

__all__ = ["DuplicateError", "SqlStore"]

log = logging.getLogger(__name__)

T = TypeVar("T")
AnyRow: TypeAlias = Row[*tuple[Any, ...]]

# Columns that ``Changes.extra`` may set, beyond its named fields.
EXTRA_COLUMNS = frozenset(
    {
        "channel",
        "language",
        "visitor_name",
        "rating",
        "rating_comment",
        "offline_at",
        "customer_email",
        "customer_left_at",
    }
)

_MESSAGE = (
    messages.c.conversation_id,
    messages.c.seq,
    messages.c.client_msg_id,
    messages.c.sender,
    messages.c.author_id,
    messages.c.author_name,
    messages.c.kind,
    messages.c.body,
    messages.c.created_at,
    messages.c.detail,
)
_READ_COLUMN = {
    "customer": conversations.c.customer_read_seq,
    "staff": conversations.c.staff_read_seq,
}

# The hot path's statements, built once (SQLAlchemy then reuses their compiled form).
_GET_CONVERSATION = sa.select(conversations).where(conversations.c.id == sa.bindparam("id"))
_INSERT_CONVERSATION = sa.insert(conversations)
_OPEN_CONVERSATION_FOR = (
    sa.select(conversations)
    .where(
        conversations.c.site_id == sa.bindparam("of_site"),
        conversations.c.visitor_id == sa.bindparam("of_visitor"),
        conversations.c.status != "ended",
    )
    .order_by(conversations.c.created_at.desc())
    .limit(1)
)
_INSERT_EVENT = sa.insert(events)
_BUMP_SEQ = (
    sa.update(conversations)
    .where(conversations.c.id == sa.bindparam("conversation_id"))
    .values(last_seq=conversations.c.last_seq + 1)
    .returning(
        conversations.c.last_seq,
        conversations.c.status,
        conversations.c.site_id,
        conversations.c.visitor_id,
        conversations.c.assignee_id,
    )
)
_FIND_MESSAGE = sa.select(*_MESSAGE).where(
    messages.c.conversation_id == sa.bindparam("conversation_id"),
    messages.c.client_msg_id == sa.bindparam("client_msg_id"),
)
# INSERT ... ON CONFLICT (conversation_id, client_msg_id) DO NOTHING RETURNING id: the same
# SQL on both databases, but each dialect has its own construct.
_CLIENT_KEY = [messages.c.conversation_id, messages.c.client_msg_id]
_INSERT_MESSAGE: dict[str, sa.Insert] = {
    "postgresql": postgresql.insert(messages)
    .on_conflict_do_nothing(index_elements=_CLIENT_KEY)
    .returning(messages.c.id),
    "sqlite": sqlite.insert(messages)
    .on_conflict_do_nothing(index_elements=_CLIENT_KEY)
    .returning(messages.c.id),
}


class _Compiled:
    """A Core statement compiled once for the ``sqlite3`` driver (qmark parameters)."""

    def __init__(self, statement: sa.ClauseElement, column_keys: list[str] | None = None) -> None:
        compiled = statement.compile(dialect=sqlite.dialect(), column_keys=column_keys)
        assert isinstance(compiled, SQLCompiler)  # statements compile to SQL, never DDL
        self.sql = str(compiled)
        self.defaults = dict(compiled.params)
        self.order = tuple(compiled.positiontup or ())

    def bind(self, values: Mapping[str, Any]) -> tuple[str, tuple[Any, ...]]:
        """The SQL and its positional parameters for ``values``."""
        merged = {**self.defaults, **values}
        return self.sql, tuple(merged[name] for name in self.order)


_SQLITE_BUMP_SEQ = _Compiled(_BUMP_SEQ)
_SQLITE_INSERT_MESSAGE = _Compiled(
    _INSERT_MESSAGE["sqlite"], column_keys=[column.key for column in _MESSAGE]
)
_SQLITE_FIND_MESSAGE = _Compiled(_FIND_MESSAGE)


def _message(row: AnyRow | tuple[Any, ...]) -> Message:
    """A message from a row of the ``_MESSAGE`` columns, in that order."""
    fields = dict(zip((column.key for column in _MESSAGE), row, strict=True))
    fields["detail"] = json.loads(fields["detail"]) if fields["detail"] else None
    return Message(**fields)


class SqlStore(
    Accounts,
    CallStore,
    RoutingState,
    ShiftState,
    TokenStore,
    AuditStore,
    PrivacyStore,
    HoursStore,
    MailStore,
    StaffStore,
    PhotoStore,
):
    """Durable state in SQL (SQLAlchemy Core). Open with ``await SqlStore.open(url)``, close
    with ``await store.close()``. The schema must exist: see ``server.migrate``.

    Each method describes its transaction as a plain function of a ``Connection`` (committing
    what it writes) and runs it in one go: on SQLite on the event loop's thread, on
    PostgreSQL on a pooled async connection.
    """

    def __init__(self, database: SqliteDatabase | PostgresDatabase) -> None:
        self._database = database
        self._site_keys = {}
        self._sites = {}
        self._hours_cache = {}
        self.dialect: str = database.engine.dialect.name
        # Told each transaction's duration in seconds (server.metrics), when set.
        self.observe: Callable[[float], None] | None = None

    @classmethod
    async def open(cls, database_url: str) -> SqlStore:
        """Connect to ``sqlite+aiosqlite:///path`` (or ``sqlite:///path``) or
        ``postgresql+asyncpg://...``. Nothing is read until the first call."""
        url = sa.make_url(database_url)
        backend = url.get_backend_name()
        if backend == "sqlite":
            store = cls(SqliteDatabase(url))
        elif backend == "postgresql":
            store = cls(PostgresDatabase(url.set(drivername="postgresql+asyncpg")))
        else:
            raise ValueError(f"unsupported database: {backend}")
        log.info("store opened (%s)", backend)
        return store

    async def _run(self, work: Callable[[Connection], T]) -> T:
        if self.observe is None:
            return await self._database.run(work)
        started = time.perf_counter()
        try:
            return await self._database.run(work)
        finally:
            self.observe(time.perf_counter() - started)

    async def close(self) -> None:
        """Close every connection."""
        await self._database.close()

    async def durability(self) -> str:
        """What a call's return promises about the disk, read back from the connection that
        commits messages. PostgreSQL: its ``synchronous_commit`` (``on``: each commit is on
        disk before it returns). SQLite: ``FULL`` when each call returns only once its commit
        is on disk, which is SQLite's ``synchronous=FULL`` or ``EXTRA``, or ``NORMAL`` in WAL
        mode with ``WalSync``'s barrier in force (what the store runs); otherwise the
        connection's ``synchronous`` (``NORMAL``, ``OFF``: an OS crash may lose commits)."""
        barrier = isinstance(self._database, SqliteDatabase) and self._database.syncer is not None

        def read(conn: Connection) -> str:
            driver = conn.connection.dbapi_connection
            if isinstance(driver, sqlite3.Connection):
                # The append runs on this driver connection itself (see _append_sqlite).
                level = driver.execute("PRAGMA synchronous").fetchone()[0]
                wal = driver.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
                if level >= 2 or (level == 1 and wal and barrier):
                    return "FULL"
                return {0: "OFF", 1: "NORMAL"}[level]
            return str(conn.execute(sa.text("SHOW synchronous_commit")).scalar())

        return await self._run(read)

    # -- conversations -------------------------------------------------------------------

    async def _conversation(self, row: AnyRow | None) -> Conversation | None:
        if row is None:
            return None
        values = dict(row._mapping)
        tried = values.pop("tried", None)
        return Conversation(
            site_key=await self.site_key(values["site_id"]),
            tried=tuple(json.loads(tried)) if tried else (),
            **values,
        )

    async def create_conversation(self, new: NewConversation, now: float) -> Conversation:
        """Insert a ``queued`` conversation with ``last_seq`` 0."""
        conversation = Conversation(
            id=uuid.uuid4().hex,
            site_id=new.site.id,
            site_key=new.site.key,
            visitor_id=new.visitor_id,
            status="queued",
            channel=new.channel,
            language=new.language,
            assignee_id=None,
            ringing_staff_id=None,
            last_seq=0,
            customer_read_seq=0,
            staff_read_seq=0,
            visitor_name=new.visitor_name,
            page_url=new.page_url,
            page_title=new.page_title,
            created_at=now,
            queued_at=now,
            accepted_at=None,
            ended_at=None,
            ended_by=None,
            version=1,
        )
        values = {c.name: getattr(conversation, c.name) for c in conversations.columns}
        values["tried"] = "[]"
        await self._run(lambda conn: commit(conn, conn.execute(_INSERT_CONVERSATION, values)))
        self._site_keys[new.site.id] = new.site.key
        return conversation

    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        """One conversation, or None."""
        params = {"id": conversation_id}
        row = await self._run(lambda conn: conn.execute(_GET_CONVERSATION, params).first())
        return await self._conversation(row)

    async def open_conversation_for(self, site_id: int, visitor_id: str) -> Conversation | None:
        """The visitor's newest conversation on this site that has not ended."""
        params = {"of_site": site_id, "of_visitor": visitor_id}
        row = await self._run(lambda conn: conn.execute(_OPEN_CONVERSATION_FOR, params).first())
        return await self._conversation(row)

    async def list_conversations(self, statuses: tuple[Status, ...]) -> list[Conversation]:
        """Conversations in these states, oldest ``queued_at`` first."""
        if not statuses:
            return []
        statement = (
            sa.select(conversations)
            .where(conversations.c.status.in_(statuses))
            .order_by(conversations.c.queued_at, conversations.c.id)
        )
        rows = await self._run(lambda conn: conn.execute(statement).all())
        found = [await self._conversation(row) for row in rows]
        return [c for c in found if c is not None]

    async def update_conversation(
        self,
        conversation_id: str,
        changes: Changes,
        expect_status: tuple[Status, ...] | None = None,
        expect_assignee: int | None = None,
    ) -> Conversation | None:
        """Apply ``changes`` only if the row still matches the expectations (compare and set):
        one ``UPDATE ... WHERE`` that also bumps ``version`` and returns the new row, or None
        when nothing matched.

        ``changes.extra`` may set ``channel``, ``language`` and ``visitor_name``; any other
        key raises ``ValueError``.
        """
        statement = self._conversation_update(
            conversation_id, changes, expect_status, expect_assignee
        )
        row = await self._run(lambda conn: commit(conn, conn.execute(statement).first()))
        return await self._conversation(row)

    def _conversation_update(
        self,
        conversation_id: str,
        changes: Changes,
        expect_status: tuple[Status, ...] | None,
        expect_assignee: int | None,
    ) -> sa.Executable:
        """``update_conversation``'s statement (also run inside ``close_conversation``'s
        transaction): an ``UPDATE ... WHERE ... RETURNING`` the row, or None if no match."""
        values = _changed_values(changes)
        where = [conversations.c.id == conversation_id]
        if expect_status is not None:
            where.append(conversations.c.status.in_(expect_status))
        if expect_assignee is not None:
            where.append(conversations.c.assignee_id == expect_assignee)
        if values:
            bumped = {**values, "version": conversations.c.version + 1}
            return sa.update(conversations).where(*where).values(bumped).returning(conversations)
        # nothing to change: still answer whether the row matches
        return sa.select(conversations).where(*where)

    # -- messages ------------------------------------------------------------------------

    async def append_message(
        self, new: NewMessage, now: float, admit: Callable[[Owners], None] | None = None
    ) -> Appended:
        """Store a message and assign the next ``seq`` in the same transaction, after
        ``admit`` accepted the conversation's owners as read in it (whatever it raises rolls
        back). A message whose ``(conversation_id, client_msg_id)`` is stored already is
        returned unchanged, ``created`` False. Raises ``KeyError`` for an unknown
        conversation. Returns once the commit is on disk (see ``durability``)."""
        message = Message(
            conversation_id=new.conversation_id,
            seq=0,
            client_msg_id=new.client_msg_id,
            sender=new.sender,
            author_id=new.author_id,
            author_name=new.author_name,
            kind=new.kind,
            body=new.body,
            created_at=now,
            detail=new.detail,
        )
        return await self._run(lambda conn: _append(conn, message, admit))

    async def messages_after(
        self, conversation_id: str, after_seq: int, limit: int = 500
    ) -> list[Message]:
        """Messages with ``seq > after_seq`` in seq order, at most ``limit``."""
        statement = (
            sa.select(*_MESSAGE)
            .where(messages.c.conversation_id == conversation_id, messages.c.seq > after_seq)
            .order_by(messages.c.seq)
            .limit(limit)
        )
        rows = await self._run(lambda conn: conn.execute(statement).all())
        return [_message(row) for row in rows]

    async def set_read(self, conversation_id: str, side: Side, seq: int) -> None:
        """Raise this side's read marker to ``seq``, capped at ``last_seq``; never lowers it
        (the WHERE clause makes a lower or equal marker a no-op that writes nothing)."""
        column = _READ_COLUMN[side]
        capped = sa.case(
            (conversations.c.last_seq < seq, conversations.c.last_seq), else_=sa.literal(seq)
        )
        statement = (
            sa.update(conversations)
            .where(conversations.c.id == conversation_id, column < capped)
            .values({column: capped})
        )
        await self._run(lambda conn: commit(conn, conn.execute(statement)))

    # -- audit trail and estimates -------------------------------------------------------

    async def append_event(self, event: DomainEvent) -> None:
        """Append a domain event to the event log, and fold it into the analytics figures
        (``server.analytics_facts``) in the same transaction."""
        values = {
            "kind": str(event.kind),
            "conversation_id": event.conversation_id,
            "actor": event.actor,
            "staff_id": event.staff_id,
            "detail": json.dumps(dict(event.detail), separators=(",", ":"))
            if event.detail
            else None,
            "created_at": event.at,
        }

        def append(conn: Connection) -> None:
            conn.execute(_INSERT_EVENT, values)
            # The figures change with the log, in its transaction: they cannot drift apart.
            if event.kind in analytics_facts.FOLDED:
                analytics_facts.apply(
                    conn, event.kind, event.conversation_id, event.staff_id, event.detail, event.at
                )
            conn.commit()

        await self._run(append)

    async def rebuild_analytics(self) -> int:
        """Derive the analytics figures again from the whole event log, in one transaction
        (``server.analytics_facts.rebuild``); returns the number of events replayed."""

        def rebuild(conn: Connection) -> int:
            replayed = analytics_facts.rebuild(conn)
            conn.commit()
            return replayed

        return await self._run(rebuild)

    async def list_events(self, conversation_id: str | None = None) -> list[DomainEvent]:
        """The event log in order, for one conversation or for everything."""
        statement = sa.select(events).order_by(events.c.id)
        if conversation_id is not None:
            statement = statement.where(events.c.conversation_id == conversation_id)
        rows = await self._run(lambda conn: conn.execute(statement).all())
        return [
            DomainEvent(
                kind=EventKind(row.kind),
                at=row.created_at,
                actor=row.actor,
                conversation_id=row.conversation_id,
                staff_id=row.staff_id,
                detail=json.loads(row.detail) if row.detail else {},
            )
            for row in rows
        ]

    async def count_waiting(self) -> int:
        """How many conversations wait for a person (queued or ringing), fleet-wide."""
        statement = sa.select(sa.func.count()).where(
            conversations.c.status.in_(("queued", "ringing"))
        )
        counted: int | None = await self._run(lambda conn: conn.scalar(statement))
        return int(counted or 0)

    async def recent_handling_seconds(self, limit: int = 20) -> list[float]:
        """``ended_at - accepted_at`` for the most recently ended handled conversations,
        newest first."""
        statement = (
            sa.select(conversations.c.ended_at - conversations.c.accepted_at)
            .where(
                conversations.c.status == "ended",
                conversations.c.accepted_at.is_not(None),
                conversations.c.ended_at.is_not(None),
            )
            .order_by(conversations.c.ended_at.desc())
            .limit(limit)
        )
        durations = await self._run(lambda conn: conn.scalars(statement).all())
        return [float(d) for d in durations]


def _append(conn: Connection, message: Message, admit: Callable[[Owners], None] | None) -> Appended:
    """The delivery contract's transaction (see ``SqlStore.append_message``).

    The ``last_seq`` bump comes first and returns the conversation's owners: on PostgreSQL
    its row lock queues this conversation's writers, so the seq is gapless, ``admit`` sees
    the row as it will be committed, and a duplicate of a message committed before is seen;
    on SQLite it takes the write lock at once. The insert yields to an existing
    ``(conversation_id, client_msg_id)``; then the bump is rolled back and the stored copy
    returned. The usual case is two statements and a commit.
    """
    driver = conn.connection.dbapi_connection
    if isinstance(driver, sqlite3.Connection):
        return _append_sqlite(driver, message, admit)
    # Only the key the bump names: other keys of an UPDATE's parameters would join its SET.
    row = conn.execute(_BUMP_SEQ, {"conversation_id": message.conversation_id}).first()
    if row is None:
        conn.rollback()
        raise KeyError(message.conversation_id)
    seq, owners = row[0], Owners(*row[1:])
    if admit is not None:
        try:
            admit(owners)
        except BaseException:
            conn.rollback()
            raise
    values = _message_values(replace(message, seq=seq))
    if conn.scalar(_INSERT_MESSAGE[conn.dialect.name], values) is not None:
        conn.commit()
        return Appended(replace(message, seq=seq), True, owners)
    conn.rollback()
    existing = conn.execute(_FIND_MESSAGE, values).first()
    if existing is None:  # the conflict was on seq, which the row lock rules out
        raise RuntimeError("message neither stored nor found")
    return Appended(_message(existing), False, owners)


def _append_sqlite(
    db: sqlite3.Connection, message: Message, admit: Callable[[Owners], None] | None
) -> Appended:
    """``_append`` on SQLite, on the driver's own connection: the same statements, compiled
    once, without SQLAlchemy's work per execution (about half of a message's time in the
    store). The store tests hold both versions to the same contract."""
    values = _message_values(message)
    try:
        if not db.in_transaction:
            db.execute("BEGIN IMMEDIATE")
        rows = db.execute(*_SQLITE_BUMP_SEQ.bind(values)).fetchall()
        if not rows:
            raise KeyError(message.conversation_id)
        seq, owners = rows[0][0], Owners(*rows[0][1:])
        if admit is not None:
            admit(owners)
        values["seq"] = seq
        if db.execute(*_SQLITE_INSERT_MESSAGE.bind(values)).fetchall():
            db.commit()
            return Appended(replace(message, seq=seq), True, owners)
        db.rollback()
        existing = db.execute(*_SQLITE_FIND_MESSAGE.bind(values)).fetchone()
    except BaseException:
        db.rollback()
        raise
    if existing is None:
        raise RuntimeError("message neither stored nor found")
    return Appended(_message(existing), False, owners)


def _message_values(message: Message) -> dict[str, Any]:
    """A message's column values (``seq`` is set once the bump assigned it)."""
    return {
        "conversation_id": message.conversation_id,
        "seq": message.seq,
        "client_msg_id": message.client_msg_id,
        "sender": message.sender,
        "author_id": message.author_id,
        "author_name": message.author_name,
        "kind": message.kind,
        "body": message.body,
        "created_at": message.created_at,
        "detail": json.dumps(dict(message.detail)) if message.detail else None,
    }


def _changed_values(changes: Changes) -> dict[str, Any]:
    """The columns an UPDATE sets for ``changes``."""
    values: dict[str, Any] = {}
    for name in (
        "status",
        "assignee_id",
        "ringing_staff_id",
        "queued_at",
        "accepted_at",
        "ended_at",
        "ended_by",
        "page_url",
        "page_title",
    ):
        value = getattr(changes, name)
        if value is not None:
            values[name] = value
    if changes.clear_assignee:
        values["assignee_id"] = None
    if changes.clear_ringing:
        values["ringing_staff_id"] = None
    unknown = changes.extra.keys() - EXTRA_COLUMNS
    if unknown:
        raise ValueError(f"Changes.extra cannot set {sorted(unknown)}")
    values.update(changes.extra)
    return values
