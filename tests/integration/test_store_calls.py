"""The calls aggregate of the store: calls and proposals are rows, each change one transaction
holding the conversation's row, with the database's own "one running call per conversation"
and "one per staff member". The contract runs on SQLite, PostgreSQL and the in-memory fake."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import create_async_engine

from server.migrate import alembic_config, migrate
from server.store import SqlStore
from server.tables import calls
from signaling.ports import CallRefused, Changes, Conversation, NewCall, NewConversation
from tests.fakes import MemoryStore

NOW = 1_700_000_000.0
_names = itertools.count(1)


class Setup:
    """Active conversations on any store with ``create_site``/``create_staff``."""

    def __init__(self, store: Any) -> None:
        self.store = store

    async def staff(self) -> int:
        n = next(_names)
        member = await self.store.create_staff(f"s{n}@staff.test", f"Staff {n}", "agent", "h")
        return int(member.id)

    async def conversation(self, staff_id: int | None = None) -> tuple[Conversation, int]:
        """A new conversation, active with ``staff_id`` (a new staff member if None)."""
        site = await self.store.get_site("site-key") or await self.store.create_site(
            key="site-key", name="Shop", allowed_origins=(), greeting="Hi", secret="s"
        )
        staff_id = staff_id if staff_id is not None else await self.staff()
        created = await self.store.create_conversation(
            NewConversation(site=site, visitor_id=f"visitor-{next(_names)}"), NOW
        )
        active = await self.store.update_conversation(
            created.id, Changes(status="active", assignee_id=staff_id, accepted_at=NOW)
        )
        assert active is not None
        return active, staff_id


async def a_started_call_is_running_for_its_conversation_and_staff_member(
    store: Any, setup: Setup
) -> None:
    conversation, staff_id = await setup.conversation()
    started = await store.start_call(NewCall(conversation.id, staff_id, "video", "customer"), NOW)
    call = started.call
    assert started.switched is None
    assert (call.conversation_id, call.staff_id, call.channel, call.started_by) == (
        conversation.id,
        staff_id,
        "video",
        "customer",
    )
    assert (call.started_at, call.ended_at, call.ended_by, call.end_reason) == (
        NOW,
        None,
        None,
        None,
    )
    assert len(call.id) == 32
    assert await store.running_call(conversation.id) == call
    assert await store.running_call_of_staff(staff_id) == call
    assert await store.running_call_of_staff(staff_id + 1000) is None
    stored = await store.get_conversation(conversation.id)
    assert stored.channel == "video"


async def a_call_starts_only_in_an_active_conversation_with_its_staff_member(
    store: Any, setup: Setup
) -> None:
    conversation, staff_id = await setup.conversation()
    other = await setup.staff()
    with pytest.raises(CallRefused) as refused:
        await store.start_call(NewCall(conversation.id, other, "voice", "customer"), NOW)
    assert refused.value.reason == "not_active"
    await store.update_conversation(conversation.id, Changes(status="queued", clear_assignee=True))
    with pytest.raises(CallRefused) as refused:
        await store.start_call(NewCall(conversation.id, staff_id, "voice", "customer"), NOW)
    assert refused.value.reason == "not_active"
    with pytest.raises(CallRefused):
        await store.start_call(NewCall("0" * 32, staff_id, "voice", "customer"), NOW)
    assert await store.running_call(conversation.id) is None
    assert (await store.get_conversation(conversation.id)).channel == "chat"


async def a_staff_member_in_a_call_is_busy_in_their_other_conversations(
    store: Any, setup: Setup
) -> None:
    first, staff_id = await setup.conversation()
    second, _ = await setup.conversation(staff_id)
    call = (await store.start_call(NewCall(first.id, staff_id, "voice", "customer"), NOW)).call
    with pytest.raises(CallRefused) as refused:
        await store.start_call(NewCall(second.id, staff_id, "video", "customer"), NOW)
    assert refused.value.reason == "busy"
    assert await store.running_call(second.id) is None
    await store.end_call(first.id, call.id, "customer", "hangup", NOW + 5)
    later = await store.start_call(NewCall(second.id, staff_id, "video", "customer"), NOW + 6)
    assert await store.running_call_of_staff(staff_id) == later.call


async def starting_again_switches_the_running_call(store: Any, setup: Setup) -> None:
    conversation, staff_id = await setup.conversation()
    voice = (
        await store.start_call(NewCall(conversation.id, staff_id, "voice", "customer"), NOW)
    ).call
    video = await store.start_call(NewCall(conversation.id, staff_id, "video", "staff"), NOW + 7)
    assert video.switched is not None
    assert video.switched.id == voice.id
    assert (video.switched.ended_at, video.switched.ended_by, video.switched.end_reason) == (
        NOW + 7,
        "staff",
        "switched",
    )
    assert await store.running_call(conversation.id) == video.call
    assert (await store.get_conversation(conversation.id)).channel == "video"


async def end_call_ends_only_the_named_running_call(store: Any, setup: Setup) -> None:
    conversation, staff_id = await setup.conversation()
    call = (
        await store.start_call(NewCall(conversation.id, staff_id, "video", "customer"), NOW)
    ).call
    assert await store.end_call(conversation.id, "f" * 32, "staff", "hangup", NOW + 1) is None
    assert await store.running_call(conversation.id) == call
    ended = await store.end_call(conversation.id, call.id, "staff", "ice_failed", NOW + 9)
    assert ended is not None
    assert (ended.id, ended.ended_at, ended.ended_by, ended.end_reason) == (
        call.id,
        NOW + 9,
        "staff",
        "ice_failed",
    )
    assert await store.running_call(conversation.id) is None
    assert await store.running_call_of_staff(staff_id) is None
    assert (await store.get_conversation(conversation.id)).channel == "chat"
    assert await store.end_call(conversation.id, call.id, "staff", "hangup", NOW + 10) is None
    # None for "whichever runs"
    again = (await store.start_call(NewCall(conversation.id, staff_id, "voice", "staff"), NOW)).call
    any_call = await store.end_call(conversation.id, None, "staff", "switched", NOW + 11)
    assert any_call is not None and any_call.id == again.id
    assert await store.end_call(conversation.id, None, "staff", "switched", NOW + 12) is None


async def closing_a_conversation_ends_its_call_and_withdraws_its_proposal(
    store: Any, setup: Setup
) -> None:
    conversation, staff_id = await setup.conversation()
    call = (
        await store.start_call(NewCall(conversation.id, staff_id, "voice", "customer"), NOW)
    ).call
    proposal = await store.propose_call(conversation.id, staff_id, "video", NOW)
    ending = Changes(status="ended", ended_at=NOW + 30, ended_by="customer")
    assert (
        await store.close_conversation(
            conversation.id, ending, "conversation_ended", NOW + 30, expect_status=("queued",)
        )
        is None
    )
    assert await store.running_call(conversation.id) == call  # no match, nothing changed
    closed = await store.close_conversation(
        conversation.id, ending, "conversation_ended", NOW + 30, expect_status=("active",)
    )
    assert closed is not None
    assert (closed.conversation.status, closed.conversation.channel) == ("ended", "chat")
    assert closed.conversation == await store.get_conversation(conversation.id)
    assert closed.call is not None
    assert (closed.call.id, closed.call.ended_by, closed.call.end_reason) == (
        call.id,
        "system",
        "conversation_ended",
    )
    assert await store.running_call(conversation.id) is None
    assert await store.running_call_of_staff(staff_id) is None
    assert await store.answer_proposal(conversation.id, proposal.id, True, NOW + 31) is None
    with pytest.raises(CallRefused):
        await store.start_call(NewCall(conversation.id, staff_id, "voice", "customer"), NOW + 32)
    # without a running call, the channel stays what it was
    queued, _ = await setup.conversation(staff_id)
    back = await store.close_conversation(
        queued.id,
        Changes(status="queued", clear_assignee=True),
        "requeued",
        NOW,
        expect_status=("active",),
        expect_assignee=staff_id,
    )
    assert back is not None
    assert (back.call, back.conversation.status, back.conversation.assignee_id) == (
        None,
        "queued",
        None,
    )


async def proposals_are_answered_once_and_superseded(store: Any, setup: Setup) -> None:
    conversation, staff_id = await setup.conversation()
    first = await store.propose_call(conversation.id, staff_id, "video", NOW)
    second = await store.propose_call(conversation.id, staff_id, "chat", NOW + 1)
    assert first is not None and second is not None and first.id != second.id
    assert (second.conversation_id, second.staff_id, second.channel) == (
        conversation.id,
        staff_id,
        "chat",
    )
    assert await store.answer_proposal(conversation.id, first.id, True, NOW + 2) is None
    other, _ = await setup.conversation()
    assert await store.answer_proposal(other.id, second.id, True, NOW + 2) is None
    answered = await store.answer_proposal(conversation.id, second.id, False, NOW + 3)
    assert answered is not None
    assert (answered.id, answered.channel, answered.answer, answered.answered_at) == (
        second.id,
        "chat",
        "declined",
        NOW + 3,
    )
    assert await store.answer_proposal(conversation.id, second.id, True, NOW + 4) is None
    # only the conversation's own staff member, only while it is active
    assert await store.propose_call(conversation.id, staff_id + 1000, "voice", NOW) is None
    await store.update_conversation(conversation.id, Changes(status="ended"))
    assert await store.propose_call(conversation.id, staff_id, "voice", NOW) is None


Check = Callable[[Any, Setup], Awaitable[None]]
CONTRACT: list[Check] = [
    a_started_call_is_running_for_its_conversation_and_staff_member,
    a_call_starts_only_in_an_active_conversation_with_its_staff_member,
    a_staff_member_in_a_call_is_busy_in_their_other_conversations,
    starting_again_switches_the_running_call,
    end_call_ends_only_the_named_running_call,
    closing_a_conversation_ends_its_call_and_withdraws_its_proposal,
    proposals_are_answered_once_and_superseded,
]


@pytest.mark.parametrize("check", CONTRACT, ids=lambda check: check.__name__)
async def test_sql_store_keeps_the_calls_contract(store: SqlStore, check: Check) -> None:
    await check(store, Setup(store))


async def test_the_database_itself_allows_one_running_call_per_conversation_and_staff_member(
    store: SqlStore,
) -> None:
    setup = Setup(store)
    conversation, staff_id = await setup.conversation()
    other, other_staff = await setup.conversation()
    await store.start_call(NewCall(conversation.id, staff_id, "voice", "customer"), NOW)
    row = {"channel": "voice", "started_by": "customer", "started_at": NOW}
    for n, (cid, sid) in enumerate([(conversation.id, other_staff), (other.id, staff_id)]):
        values = {**row, "id": f"{n:032d}", "conversation_id": cid, "staff_id": sid}
        with pytest.raises(IntegrityError):
            await insert_call(store, values)
    # ended calls do not count
    ended = {**row, "id": "e" * 32, "conversation_id": conversation.id, "staff_id": staff_id}
    await insert_call(store, {**ended, "ended_at": NOW})


async def insert_call(store: SqlStore, values: dict[str, Any]) -> None:
    """A row straight into ``calls``, past the store's own checks."""

    def work(conn: Connection) -> None:
        conn.execute(sa.insert(calls).values(values))
        conn.commit()

    await store._run(work)


async def test_starts_in_two_conversations_of_one_staff_member_at_once_make_one_call(
    store: SqlStore,
) -> None:
    setup = Setup(store)
    for _ in range(10):
        first, staff_id = await setup.conversation()
        second, _ = await setup.conversation(staff_id)
        results = await asyncio.gather(
            store.start_call(NewCall(first.id, staff_id, "voice", "customer"), NOW),
            store.start_call(NewCall(second.id, staff_id, "voice", "customer"), NOW),
            return_exceptions=True,
        )
        refused = [r for r in results if isinstance(r, CallRefused)]
        assert len(refused) == 1 and refused[0].reason == "busy", results
        running = [await store.running_call(c.id) for c in (first, second)]
        assert sum(call is not None for call in running) == 1


async def test_closing_and_starting_at_once_leave_no_call_in_a_closed_conversation(
    store: SqlStore,
) -> None:
    setup = Setup(store)
    for _ in range(10):
        conversation, staff_id = await setup.conversation()
        ending = Changes(status="ended", ended_at=NOW, ended_by="customer")
        closed, started = await asyncio.gather(
            store.close_conversation(conversation.id, ending, "conversation_ended", NOW),
            store.start_call(NewCall(conversation.id, staff_id, "voice", "customer"), NOW),
            return_exceptions=True,
        )
        assert not isinstance(closed, BaseException) and closed is not None
        if isinstance(started, BaseException):
            assert isinstance(started, CallRefused), started
        else:
            assert closed.call is not None and closed.call.id == started.call.id
        assert await store.running_call(conversation.id) is None


async def test_an_upgrade_carries_over_the_calls_running_before_it(database_url: str) -> None:
    """Calls used to be rebuilt from the transcript at every start; the migration does that
    one last time, so a call running across the upgrade keeps running."""
    await asyncio.to_thread(command.upgrade, alembic_config(database_url), "0002_calls")
    engine = create_async_engine(database_url)
    rows: list[tuple[str, dict[str, Any]]] = [
        (
            "INSERT INTO sites (id, key, name, greeting, secret, created_at)"
            " VALUES (1, 'site-key', 'Shop', 'Hi', 's', 0)",
            {},
        ),
        (
            "INSERT INTO staff (id, email, name, role, password_hash, created_at)"
            " VALUES (7, 'a@staff.test', 'A', 'agent', 'h', 0)",
            {},
        ),
    ]
    for cid, channel, notes in [
        ("a" * 32, "video", ["call_started"]),  # running
        ("b" * 32, "chat", ["call_started", "call_ended"]),  # over
        ("c" * 32, "voice", ["call_started", "call_ended"]),  # over, channel left behind
    ]:
        rows.append(
            (
                "INSERT INTO conversations (id, site_id, visitor_id, status, channel,"
                " assignee_id, created_at, queued_at)"
                " VALUES (:id, 1, :visitor, 'active', :channel, 7, 0, 0)",
                {"id": cid, "visitor": f"v-{cid[0]}", "channel": channel},
            )
        )
        for seq, body in enumerate(notes, start=1):
            detail = {"call_id": f"{cid[0] * 31}{seq}", "channel": "video", "started_by": "staff"}
            rows.append(
                (
                    "INSERT INTO messages (conversation_id, seq, sender, kind, body, created_at,"
                    " detail) VALUES (:cid, :seq, 'system', 'system', :body, :at, :detail)",
                    {
                        "cid": cid,
                        "seq": seq,
                        "body": body,
                        "at": NOW + seq,
                        "detail": json.dumps(detail),
                    },
                )
            )
    try:
        async with engine.begin() as conn:
            for statement, params in rows:
                await conn.execute(sa.text(statement), params)
    finally:
        await engine.dispose()
    await migrate(database_url)
    store = await SqlStore.open(database_url)
    try:
        running = await store.running_call("a" * 32)
        assert running is not None
        assert (running.id, running.staff_id, running.channel, running.started_by) == (
            "a" * 31 + "1",
            7,
            "video",
            "staff",
        )
        assert running.started_at == NOW + 1
        assert await store.running_call("b" * 32) is None
        assert await store.running_call("c" * 32) is None
        assert await store.running_call_of_staff(7) == running
    finally:
        await store.close()


@pytest.mark.parametrize("check", CONTRACT, ids=lambda check: check.__name__)
async def test_memory_store_keeps_the_calls_contract(check: Check) -> None:
    """The unit tests' fake (tests/fakes.py) is held to the same contract."""
    store = MemoryStore()
    await check(store, Setup(store))
