"""A scenario with known waits, misses, transfers, ratings and tags, written as real events
through the store, around the night Paris moves its clocks forward (2026-03-29, a 23-hour
day). Local dates differ from UTC dates for three of the five conversations' queue times,
so bucketing by UTC instead of the viewer's zone would show.

| conv | site | channel | queued (Paris)    | what happens                                       |
| ---- | ---- | ------- | ----------------- | -------------------------------------------------- |
| c1   | A    | chat    | 03-28 10:00 CET   | Ann accepts after 10 s, ends at +310; rated 5; sale |
| c2   | A    | video   | 03-28 23:30 CET   | Ann misses (+20), Bob accepts at +40, transfers to  |
|      |      |         |                   | Ann, ends at +640; rated 2; sale                    |
| c3   | B    | voice   | 03-29 00:30 CET   | Bob declines (+5), customer abandons at +60         |
| c4   | B    | chat    | 03-30 00:30 CEST  | Ann accepts at +25, ends at +125; rated 4; tagged   |
|      |      |         |                   | sale, then re-tagged support                        |
| c5   | A    | chat    | 03-29 12:00 CEST  | Bob misses (+20), Bob accepts at +90, ends at +290; |
|      |      |         |                   | refund                                              |
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from server.auth import hash_password
from server.store import SqlStore
from signaling.domain_events import DomainEvent, EventKind
from signaling.ports import NewConversation, Site, StaffMember
from tests.support import PASSWORD

PARIS = ZoneInfo("Europe/Paris")


@dataclass
class Scenario:
    site_a: Site
    site_b: Site
    ann: StaffMember
    bob: StaffMember
    supervisor: StaffMember
    agent: StaffMember  # answers nothing here; must be refused the figures
    conversations: dict[str, str]


def at(text: str) -> float:
    """Paris wall-clock time as epoch seconds."""
    return datetime.fromisoformat(text).replace(tzinfo=PARIS).timestamp()


async def build(store: SqlStore, prefix: str = "") -> Scenario:
    async def site(key: str, name: str) -> Site:
        return await store.create_site(
            key=prefix + key,
            name=name,
            allowed_origins=("http://shop.test",),
            greeting="Hi",
            secret="s" * 32,
        )

    async def member(name: str, role: Any) -> StaffMember:
        return await store.create_staff(
            email=f"{prefix}{name.lower()}@analytics.test",
            name=name,
            role=role,
            password_hash=hash_password(PASSWORD),
        )

    site_a, site_b = await site("site-a", "Shop A"), await site("site-b", "Shop B")
    ann, bob = await member("Ann", "agent"), await member("Bob", "agent")
    supervisor, agent = await member("Sue", "supervisor"), await member("Al", "agent")
    ids: dict[str, str] = {}

    async def event(
        kind: EventKind,
        when: float,
        name: str,
        staff: StaffMember | None = None,
        **detail: Any,
    ) -> None:
        actor = "staff" if staff is not None else "system"
        await store.append_event(
            DomainEvent(kind, when, actor, ids[name], staff.id if staff else None, detail)
        )

    async def queued(name: str, where: Site, channel: str, local: str) -> float:
        start = at(local)
        conversation = await store.create_conversation(
            NewConversation(site=where, visitor_id=f"visitor-{name}", channel=channel), start
        )
        ids[name] = conversation.id
        await store.append_event(
            DomainEvent(
                EventKind.CONVERSATION_QUEUED,
                start,
                "customer",
                conversation.id,
                detail={"channel": channel},
            )
        )
        return start

    K = EventKind
    t = await queued("c1", site_a, "chat", "2026-03-28T10:00:00")
    await event(K.CONVERSATION_RUNG, t + 1, "c1", ann)
    await event(K.CONVERSATION_ACCEPTED, t + 10, "c1", ann)
    await event(K.CONVERSATION_ENDED, t + 310, "c1", ann)
    await event(K.CONVERSATION_RATED, t + 320, "c1", score=5)
    await event(K.CONVERSATION_TAGGED, t + 330, "c1", ann, tag="sale")

    t = await queued("c2", site_a, "video", "2026-03-28T23:30:00")
    await event(K.CONVERSATION_RUNG, t, "c2", ann)
    await event(K.CONVERSATION_MISSED, t + 20, "c2", ann, reason="timeout")
    await event(K.CONVERSATION_RUNG, t + 21, "c2", bob)
    await event(K.CONVERSATION_ACCEPTED, t + 40, "c2", bob)
    await event(K.CONVERSATION_TRANSFERRED, t + 100, "c2", bob, to_staff_id=ann.id)
    await event(K.CONVERSATION_ENDED, t + 640, "c2", ann)
    await event(K.CONVERSATION_RATED, t + 650, "c2", score=2)
    await event(K.CONVERSATION_TAGGED, t + 660, "c2", ann, tag="sale")

    t = await queued("c3", site_b, "voice", "2026-03-29T00:30:00")
    await event(K.CONVERSATION_RUNG, t, "c3", bob)
    await event(K.CONVERSATION_DECLINED, t + 5, "c3", bob)
    await event(K.CONVERSATION_ABANDONED, t + 60, "c3")

    t = await queued("c4", site_b, "chat", "2026-03-30T00:30:00")
    await event(K.CONVERSATION_RUNG, t, "c4", ann)
    await event(K.CONVERSATION_ACCEPTED, t + 25, "c4", ann)
    await event(K.CONVERSATION_ENDED, t + 125, "c4", ann)
    await event(K.CONVERSATION_RATED, t + 130, "c4", score=4)
    await event(K.CONVERSATION_TAGGED, t + 140, "c4", ann, tag="sale")
    await event(K.CONVERSATION_TAGGED, t + 150, "c4", ann, tag="support")

    t = await queued("c5", site_a, "chat", "2026-03-29T12:00:00")
    await event(K.CONVERSATION_RUNG, t, "c5", bob)
    await event(K.CONVERSATION_MISSED, t + 20, "c5", bob, reason="timeout")
    await event(K.CONVERSATION_RUNG, t + 30, "c5", bob)
    await event(K.CONVERSATION_ACCEPTED, t + 90, "c5", bob)
    await event(K.CONVERSATION_ENDED, t + 290, "c5", bob)
    await event(K.CONVERSATION_TAGGED, t + 300, "c5", bob, tag="refund")
    return Scenario(site_a, site_b, ann, bob, supervisor, agent, ids)
