"""The SQL store against real databases: every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import create_async_engine

from server.accounts import SITE_TTL, commit
from server.migrate import alembic_config, migrate
from server.store import DuplicateError, SqlStore
from server.tables import metadata
from signaling.domain_events import DomainEvent, EventKind
from signaling.ports import Changes, Conversation, NewConversation, NewMessage, Owners, Site
from tests.support import until

NOW = 1_700_000_000.0


async def make_site(store: SqlStore, key: str = "site-key") -> Site:
    return await store.create_site(
        key=key,
        name="Shop",
        allowed_origins=("https://shop.example",),
        greeting="Hello",
        secret="s3cret",
    )


async def make_conversation(store: SqlStore, visitor_id: str = "visitor-1") -> Conversation:
    site = await store.get_site("site-key") or await make_site(store)
    return await store.create_conversation(NewConversation(site=site, visitor_id=visitor_id), NOW)


def text(conversation_id: str, body: str, client_msg_id: str | None = None) -> NewMessage:
    return NewMessage(
        conversation_id=conversation_id,
        sender="customer",
        kind="text",
        body=body,
        client_msg_id=client_msg_id,
    )


async def test_migration_creates_all_tables(database_url: str) -> None:
    await migrate(database_url)
    await migrate(database_url)  # a second run is a no-op
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            columns = await conn.run_sync(
                lambda sync: {
                    name: {c["name"] for c in sa.inspect(sync).get_columns(name)}
                    for name in sa.inspect(sync).get_table_names()
                }
            )
            indexes = await conn.run_sync(
                lambda sync: {
                    name: {
                        (i["name"], tuple(i["column_names"]))
                        for i in sa.inspect(sync).get_indexes(name)
                        # PostgreSQL lists the index behind each unique constraint too.
                        if not i.get("duplicates_constraint")
                    }
                    for name in sa.inspect(sync).get_table_names()
                }
            )
            version = await conn.scalar(sa.text("SELECT version_num FROM alembic_version"))
    finally:
        await engine.dispose()
    # the migrations build exactly the schema server/tables.py declares
    for name, table in metadata.tables.items():
        assert columns[name] == {c.name for c in table.columns}, name
        declared = {(i.name, tuple(c.name for c in i.columns)) for i in table.indexes}
        assert indexes[name] == declared, name
    # one chain of migrations, and the database is at its head
    (head,) = ScriptDirectory.from_config(alembic_config(database_url)).get_heads()
    assert version == head


async def test_sites_round_trip(store: SqlStore) -> None:
    site = await make_site(store)
    assert site.allowed_origins == ("https://shop.example",)
    assert await store.get_site("site-key") == site
    assert await store.get_site("nope") is None
    updated = await store.update_site("site-key", allowed_origins=["https://a.example"])
    assert updated is not None
    assert updated.allowed_origins == ("https://a.example",)
    assert updated.greeting == "Hello"
    assert await store.update_site("nope", name="x") is None
    assert await store.list_sites() == [updated]
    with pytest.raises(DuplicateError):
        await make_site(store)


async def test_conversation_round_trip(store: SqlStore) -> None:
    created = await make_conversation(store)
    assert created.status == "queued"
    assert created.last_seq == 0
    assert created.site_key == "site-key"
    assert len(created.id) == 32
    assert await store.get_conversation(created.id) == created
    assert await store.open_conversation_for(created.site_id, "visitor-1") == created
    assert await store.list_conversations(("queued",)) == [created]
    assert await store.list_conversations(("active",)) == []


async def test_append_message_assigns_gapless_seq(store: SqlStore) -> None:
    conversation = await make_conversation(store)
    seqs = []
    for n in range(3):
        appended = await store.append_message(
            text(conversation.id, f"m{n}", f"c{n}"), NOW + 100 + n
        )
        assert appended.created
        seqs.append(appended.message.seq)
    assert seqs == [1, 2, 3]
    stored = await store.get_conversation(conversation.id)
    assert stored is not None
    # Only last_seq moved: the conversation is otherwise as it was.
    assert stored == conversation.__class__(**{**_fields(conversation), "last_seq": 3})


async def test_same_client_msg_id_is_stored_once(store: SqlStore) -> None:
    conversation = await make_conversation(store)
    first = await store.append_message(text(conversation.id, "hello", "abc"), NOW)
    again = await store.append_message(text(conversation.id, "hello (resent)", "abc"), NOW + 5)
    assert first.created
    assert not again.created
    assert again.message == first.message
    following = await store.append_message(text(conversation.id, "next", "def"), NOW)
    assert following.message.seq == 2  # the absorbed duplicate did not use up a seq
    assert [m.body for m in await store.messages_after(conversation.id, 0)] == ["hello", "next"]


async def test_messages_without_client_id_never_collide(store: SqlStore) -> None:
    conversation = await make_conversation(store)
    for _ in range(2):
        appended = await store.append_message(
            NewMessage(conversation.id, "system", "system", "joined"), NOW
        )
        assert appended.created
    assert len(await store.messages_after(conversation.id, 0)) == 2


async def test_append_to_unknown_conversation_raises_key_error(store: SqlStore) -> None:
    with pytest.raises(KeyError):
        await store.append_message(text("0" * 32, "hello", "abc"), NOW)


async def test_append_checks_the_owners_inside_its_transaction(store: SqlStore) -> None:
    conversation = await make_conversation(store)
    seen: list[Owners] = []

    def refuse(owners: Owners) -> None:
        seen.append(owners)
        raise PermissionError("not yours")

    with pytest.raises(PermissionError):
        await store.append_message(text(conversation.id, "sneaky", "x1"), NOW, refuse)
    assert seen == [
        Owners(
            status="queued",
            site_id=conversation.site_id,
            visitor_id=conversation.visitor_id,
            assignee_id=None,
        )
    ]
    # Refused means rolled back: no message, and the seq was not used up.
    assert await store.messages_after(conversation.id, 0) == []
    appended = await store.append_message(text(conversation.id, "mine", "x2"), NOW, seen.append)
    assert appended.created
    assert appended.message.seq == 1
    assert appended.owners == seen[0]


async def test_concurrent_appends_get_seqs_without_gaps(store: SqlStore) -> None:
    conversation = await make_conversation(store)
    results = await asyncio.gather(
        *(store.append_message(text(conversation.id, f"m{n}", f"c{n}"), NOW) for n in range(50))
    )
    assert all(result.created for result in results)
    assert sorted(result.message.seq for result in results) == list(range(1, 51))
    stored = await store.messages_after(conversation.id, 0)
    assert [m.seq for m in stored] == list(range(1, 51))
    assert {m.client_msg_id for m in stored} == {f"c{n}" for n in range(50)}


async def test_concurrent_duplicates_store_one_row(store: SqlStore) -> None:
    conversation = await make_conversation(store)
    results = await asyncio.gather(
        *(store.append_message(text(conversation.id, "once", "same"), NOW) for _ in range(20))
    )
    assert sum(result.created for result in results) == 1
    assert {result.message.seq for result in results} == {1}
    assert len(await store.messages_after(conversation.id, 0)) == 1
    stored = await store.get_conversation(conversation.id)
    assert stored is not None
    assert stored.last_seq == 1


async def test_messages_after_returns_later_ones_in_order(store: SqlStore) -> None:
    conversation = await make_conversation(store)
    other = await make_conversation(store, "visitor-2")
    for n in range(5):
        await store.append_message(text(conversation.id, f"m{n + 1}", f"c{n}"), NOW + n)
        await store.append_message(text(other.id, "elsewhere", f"c{n}"), NOW + n)
    later = await store.messages_after(conversation.id, 2)
    assert [(m.seq, m.body) for m in later] == [(3, "m3"), (4, "m4"), (5, "m5")]
    assert [m.seq for m in await store.messages_after(conversation.id, 1, limit=2)] == [2, 3]
    assert await store.messages_after(conversation.id, 5) == []


async def test_update_conversation_is_compare_and_set(store: SqlStore) -> None:
    conversation = await make_conversation(store)
    agent = await store.create_staff("Ann@Example.com", "Ann", "agent", "hash")

    assert (
        await store.update_conversation(
            conversation.id, Changes(status="active"), expect_status=("ringing",)
        )
        is None
    )
    ringing = await store.update_conversation(
        conversation.id,
        Changes(status="ringing", ringing_staff_id=agent.id),
        expect_status=("queued",),
    )
    assert ringing is not None
    assert (ringing.status, ringing.ringing_staff_id) == ("ringing", agent.id)
    active = await store.update_conversation(
        conversation.id,
        Changes(status="active", assignee_id=agent.id, accepted_at=NOW + 1, clear_ringing=True),
        expect_status=("ringing",),
    )
    assert active is not None
    assert (active.status, active.assignee_id, active.ringing_staff_id) == (
        "active",
        agent.id,
        None,
    )
    assert (
        await store.update_conversation(
            conversation.id, Changes(status="ended"), expect_assignee=agent.id + 1
        )
        is None
    )
    switched = await store.update_conversation(conversation.id, Changes(extra={"channel": "video"}))
    assert switched is not None
    assert switched.channel == "video"
    with pytest.raises(ValueError, match="last_seq"):
        await store.update_conversation(conversation.id, Changes(extra={"last_seq": 9}))
    assert await store.update_conversation("0" * 32, Changes(status="ended")) is None
    assert await store.get_conversation(conversation.id) == switched


async def test_set_read_never_lowers(store: SqlStore) -> None:
    conversation = await make_conversation(store)
    for n in range(5):
        await store.append_message(text(conversation.id, "hi", f"c{n}"), NOW)
    await store.set_read(conversation.id, "customer", 3)
    await store.set_read(conversation.id, "customer", 1)
    await store.set_read(conversation.id, "staff", 99)  # capped at last_seq
    stored = await store.get_conversation(conversation.id)
    assert stored is not None
    assert (stored.customer_read_seq, stored.staff_read_seq) == (3, 5)


async def test_recent_handling_seconds(store: SqlStore) -> None:
    for n, handled in enumerate((30.0, 60.0, None)):
        conversation = await make_conversation(store, f"visitor-{n}")
        await store.update_conversation(
            conversation.id,
            Changes(
                status="ended",
                accepted_at=None if handled is None else NOW,
                ended_at=NOW + (handled or 10.0) + n,
                ended_by="customer",
            ),
        )
    assert await store.recent_handling_seconds() == [61.0, 30.0]
    assert await store.recent_handling_seconds(limit=1) == [61.0]


async def test_the_event_log_keeps_what_happened_in_order(store: SqlStore) -> None:
    conversation = await make_conversation(store)
    rung = DomainEvent(EventKind.CONVERSATION_RUNG, NOW, "system", conversation.id, 7)
    away = DomainEvent(
        EventKind.PRESENCE_CHANGED, NOW + 1, "staff", staff_id=7, detail={"status": "away"}
    )
    await store.append_event(rung)
    await store.append_event(away)
    assert await store.list_events() == [rung, away]
    assert await store.list_events(conversation.id) == [rung]


async def test_sessions_expire(store: SqlStore) -> None:
    member = await store.create_staff("ann@example.com", "Ann", "admin", "hash", ("en", "fr"))
    await store.create_session("a" * 64, member.id, "csrf-1", NOW, NOW + 60)
    await store.create_session("b" * 64, member.id, "csrf-2", NOW, NOW + 3600)
    assert await store.get_session("a" * 64, NOW + 59) == (member, "csrf-1")
    assert await store.get_session("a" * 64, NOW + 60) is None
    assert await store.get_session("c" * 64, NOW) is None
    assert await store.purge_sessions(NOW + 61) == 1
    assert await store.get_session("b" * 64, NOW + 61) == (member, "csrf-2")
    await store.delete_session("b" * 64)
    assert await store.get_session("b" * 64, NOW + 61) is None


async def test_staff_accounts(store: SqlStore) -> None:
    member = await store.create_staff("Ann@Example.com", "Ann", "agent", "hash-1", ("en",), 5)
    assert member.email == "ann@example.com"
    assert (member.languages, member.max_chats) == (("en",), 5)
    assert await store.staff_credentials("ANN@example.com") == (member, "hash-1")
    assert await store.set_password_hash(member.id, "hash-2")
    assert await store.staff_credentials("ann@example.com") == (member, "hash-2")
    assert await store.staff_credentials("bob@example.com") is None
    assert await store.get_staff(member.id) == member
    assert await store.list_staff() == [member]


async def test_duplicate_staff_email_raises(store: SqlStore) -> None:
    await store.create_staff("ann@example.com", "Ann", "agent", "hash")
    with pytest.raises(DuplicateError):
        await store.create_staff("ANN@example.com", "Ann again", "admin", "hash")
    assert len(await store.list_staff()) == 1


async def test_data_survives_reopening(database_url: str) -> None:
    await migrate(database_url)
    store = await SqlStore.open(database_url)
    try:
        conversation = await make_conversation(store)
        await store.append_message(text(conversation.id, "kept", "abc"), NOW)
    finally:
        await store.close()
    reopened = await SqlStore.open(database_url)
    try:
        assert await reopened.get_conversation(conversation.id) == conversation.__class__(
            **{**_fields(conversation), "last_seq": 1}
        )
        [message] = await reopened.messages_after(conversation.id, 0)
        assert (message.seq, message.body) == (1, "kept")
        resent = await reopened.append_message(text(conversation.id, "kept", "abc"), NOW)
        assert not resent.created
    finally:
        await reopened.close()


def _fields(conversation: Conversation) -> dict[str, object]:
    return {name: getattr(conversation, name) for name in conversation.__slots__}


async def test_sqlite_checkpoints_off_the_event_loop(tmp_path: Path) -> None:
    """The loop's connection never checkpoints (that would wait for the disk); the
    checkpointer thread copies the WAL into the database file on its own."""
    path = tmp_path / "checkpoints.db"
    url = f"sqlite+aiosqlite:///{path}"
    await migrate(url)
    store = await SqlStore.open(url)
    try:
        assert (
            await store._run(
                lambda conn: conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
            )
            == 0
        )
        conversation = await make_conversation(store)
        before = path.stat().st_size
        body = "x" * 2000
        for n in range(500):  # about 1 MB of WAL
            await store.append_message(text(conversation.id, body, f"c{n}"), NOW)
        grown = before + 500 * 2000
        await until(lambda: path.stat().st_size >= grown, timeout=10, what="a checkpoint")
    finally:
        await store.close()


async def test_every_change_of_a_conversation_bumps_its_version(store: SqlStore) -> None:
    conversation = await make_conversation(store)
    assert conversation.version == 1
    ringing = await store.update_conversation(
        conversation.id, Changes(status="ringing"), expect_status=("queued",)
    )
    assert ringing is not None and ringing.version == 2
    # A compare-and-set that does not match changes nothing, the version included.
    missed = await store.update_conversation(
        conversation.id, Changes(status="active"), expect_status=("queued",)
    )
    assert missed is None
    paged = await store.update_conversation(conversation.id, Changes(page_url="https://a.test/"))
    assert paged is not None and paged.version == 3
    # Messages and read markers are ordered by their seqs, not by the version.
    await store.append_message(text(conversation.id, "hi", "c1"), NOW)
    await store.set_read(conversation.id, "customer", 1)
    stored = await store.get_conversation(conversation.id)
    assert stored is not None and (stored.version, stored.last_seq) == (3, 1)
    concurrent = await asyncio.gather(
        *(
            store.update_conversation(conversation.id, Changes(page_title=f"page {n}"))
            for n in range(10)
        )
    )
    assert sorted(c.version for c in concurrent if c is not None) == list(range(4, 14))


async def test_sites_are_read_through_a_short_cache(store: SqlStore) -> None:
    site = await make_site(store)
    assert await store.get_site(site.key) == site
    # Changed behind this store's back (another node): seen once the cache entry is old.
    statement = sa.text("UPDATE sites SET greeting = 'Changed' WHERE key = :key")
    await store._run(lambda conn: commit(conn, conn.execute(statement, {"key": site.key})))
    assert (await store.get_site(site.key)) == site
    store._sites[site.key] = (store._sites[site.key][0] - SITE_TTL, site)
    changed = await store.get_site(site.key)
    assert changed is not None and changed.greeting == "Changed"
    # Changed through this store: seen at once.
    await store.update_site(site.key, greeting="Again")
    again = await store.get_site(site.key)
    assert again is not None and again.greeting == "Again"
