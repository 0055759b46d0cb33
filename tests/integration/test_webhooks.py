"""The webhook outbox on both databases, on simulated time, against a real receiver: a
receiver down for ten minutes gets every event afterwards, once per id; retries go on for a
day, then stop; the relay writes one row per (endpoint, event) however often it runs; any
node may claim due work, never the same row as another."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from server.safe_fetch import FetchPolicy
from server.store import SqlStore
from server.store_webhooks import WebhookStore
from server.webhook_signing import new_secret
from server.webhooks import KEEP_LOG, PRUNE_EVERY, RETRY_FOR, Outbox
from signaling.domain_events import DomainEvent, EventKind
from signaling.ports import NewConversation, Site
from tests.fakes import FakeClock
from tests.receiver import Receiver

POLICY = FetchPolicy(
    allow_http=True, allowed_networks=(ipaddress.ip_network("127.0.0.2/32"),), total_timeout=5
)


@dataclass
class World:
    store: SqlStore
    hooks: WebhookStore
    clock: FakeClock
    outbox: Outbox
    site: Site
    receiver: Receiver

    async def event(self, kind: EventKind, **detail: object) -> None:
        conversation = await self.store.create_conversation(
            NewConversation(self.site, "visitor-1"), self.clock.now()
        )
        await self.store.append_event(
            DomainEvent(kind, self.clock.now(), "system", conversation.id, 4, detail)
        )

    async def run_for(self, seconds: float, step: float = 15.0) -> None:
        """Advance simulated time, one outbox pass per step."""
        end = self.clock.time + seconds
        while self.clock.time < end:
            self.clock.time += step
            await self.outbox.tick()


@pytest.fixture
async def world(store: SqlStore) -> AsyncIterator[World]:
    clock = FakeClock()
    hooks = WebhookStore(store._run, store.dialect)
    site = await store.create_site(
        key="shop", name="Shop", allowed_origins=(), greeting="Hi", secret="s" * 32
    )
    receiver = Receiver()
    await receiver.start()
    outbox = Outbox(hooks, clock, POLICY, rng=random.Random(7))
    yield World(store, hooks, clock, outbox, site, receiver)
    await receiver.close()


async def subscribe(world: World, *kinds: str, site: Site | None = None) -> int:
    secret = new_secret()
    world.receiver.secrets.append(secret)
    endpoint = await world.hooks.create_endpoint(
        (site or world.site).id, world.receiver.url, "", list(kinds), secret, world.clock.now()
    )
    return endpoint.id


async def test_a_receiver_down_for_ten_minutes_gets_every_event_once(world: World) -> None:
    endpoint = await subscribe(world, "conversation.queued", "call.ended")
    await world.receiver.down()
    sent = []
    for minute in range(10):
        await world.event(EventKind.CONVERSATION_QUEUED, channel="chat", note="private")
        await world.event(EventKind.CALL_ENDED, call_id=f"k{minute}", reason="hangup")
        sent += ["conversation.queued", "call.ended"]
        await world.run_for(60)
    assert world.receiver.hits == []
    log = await world.hooks.deliveries(endpoint, limit=100)
    assert len(log) == 20 and all(d.status == "pending" for d in log)
    assert max(d.attempts for d in log) >= 5  # backed off, but kept trying
    assert "cannot connect" in (log[-1].last_error or "")
    assert world.outbox.depth().pending == 20

    await world.receiver.start()
    back = world.clock.time
    while world.outbox.depth().pending and world.clock.time < back + 30 * 60:
        await world.run_for(30, step=30)
    ids = [hit.webhook_id for hit in world.receiver.hits]
    assert sorted(ids) == sorted(d.message_id for d in log)
    assert len(set(ids)) == len(ids) == 20
    assert world.receiver.unverified == []
    kinds = sorted(json.loads(hit.body)["type"] for hit in world.receiver.hits)
    assert kinds == sorted(sent)
    assert all("private" not in hit.body for hit in world.receiver.hits)
    after = await world.hooks.deliveries(endpoint, limit=100)
    assert {d.status for d in after} == {"delivered"}
    assert all(d.response_status == 204 for d in after)
    assert world.outbox.depth().pending == 0
    # Nothing more is sent once everything was delivered.
    await world.run_for(3600, step=600)
    assert len(world.receiver.hits) == 20
    # The log forgets what ended a month ago.
    world.clock.time += KEEP_LOG + PRUNE_EVERY
    await world.outbox.tick()
    assert await world.hooks.deliveries(endpoint) == []


async def test_retries_go_on_for_a_day_then_stop_and_send_again_works(world: World) -> None:
    endpoint = await subscribe(world, "conversation.ended")
    world.receiver.status = 503
    await world.event(EventKind.CONVERSATION_ENDED)
    await world.outbox.tick()
    start = world.clock.time
    gaps = []
    while True:
        (delivery,) = await world.hooks.deliveries(endpoint)
        if delivery.status != "pending":
            break
        assert delivery.next_attempt_at is not None
        gaps.append(delivery.next_attempt_at - world.clock.time)
        world.clock.time = delivery.next_attempt_at
        await world.outbox.tick()
    assert delivery.status == "failed"
    assert delivery.response_status == 503
    assert world.clock.time - start >= RETRY_FOR
    assert len(world.receiver.hits) == delivery.attempts
    # Exponential with jitter, up to an hour between attempts.
    assert gaps[0] < 10 < gaps[3] < gaps[5] and max(gaps) <= 3600
    assert len({round(g, 3) for g in gaps}) == len(gaps)
    assert world.outbox.depth().failed == 1

    world.receiver.status = 200
    again = await world.hooks.resend(endpoint, delivery.id, world.clock.now())
    assert again is not None and again.status == "pending"
    await world.outbox.tick()
    (delivery,) = await world.hooks.deliveries(endpoint)
    assert delivery.status == "delivered"
    # The same webhook-id every time: the receiver can tell a repeat.
    assert {hit.webhook_id for hit in world.receiver.hits} == {delivery.message_id}


async def test_the_relay_writes_one_row_per_endpoint_and_event(world: World) -> None:
    other_site = await world.store.create_site(
        key="other", name="Other", allowed_origins=(), greeting="Hi", secret="s" * 32
    )
    await world.event(EventKind.CONVERSATION_QUEUED, channel="chat")  # before any endpoint
    world.clock.time += 1
    first = await subscribe(world, "conversation.queued", "conversation.accepted")
    second = await subscribe(world, "conversation.accepted")
    elsewhere = await subscribe(world, "conversation.queued", site=other_site)
    world.clock.time += 1
    await world.event(EventKind.CONVERSATION_QUEUED, channel="video")
    await world.event(EventKind.CONVERSATION_ACCEPTED)
    await world.event(EventKind.CONVERSATION_RUNG)  # nobody subscribes to it
    # Two nodes' relays, full and quick passes, again and again: still one row each.
    other_node = WebhookStore(world.store._run, world.store.dialect)
    for _ in range(3):
        await asyncio.gather(
            world.hooks.relay(world.clock.now(), 30.0),
            other_node.relay(world.clock.now(), 30.0, after=0),
        )
    assert [d.kind for d in await world.hooks.deliveries(first)] == [
        "conversation.accepted",
        "conversation.queued",
    ]
    assert [d.kind for d in await world.hooks.deliveries(second)] == ["conversation.accepted"]
    assert await world.hooks.deliveries(elsewhere) == []
    # Once settled, the cursor moves past them, and the next pass reads nothing old.
    world.clock.time += 60
    await world.hooks.relay(world.clock.now(), 30.0)
    added, _ = await world.hooks.relay(world.clock.now(), 30.0)
    assert added == 0


async def test_two_nodes_never_claim_the_same_delivery(world: World) -> None:
    await subscribe(world, "conversation.queued")
    for _ in range(30):
        await world.event(EventKind.CONVERSATION_QUEUED, channel="chat")
    await world.hooks.relay(world.clock.now(), 30.0)
    nodes = [WebhookStore(world.store._run, world.store.dialect) for _ in range(3)]
    claims = await asyncio.gather(*(n.claim(world.clock.now(), 60.0, 20) for n in nodes))
    claimed = [due.id for batch in claims for due in batch]
    assert len(claimed) == len(set(claimed)) == 30
    # Leased: nothing is due again until the lease runs out (the claimer died).
    assert await world.hooks.claim(world.clock.now() + 59, 60.0, 50) == []
    assert len(await world.hooks.claim(world.clock.now() + 61, 60.0, 50)) == 30


async def test_a_node_that_dies_mid_delivery_loses_nothing(world: World) -> None:
    """Node A relays and claims, then dies before sending; node B (a fresh process: no
    memory of the log) sends every one once A's lease has run out."""
    await subscribe(world, "conversation.queued")
    for _ in range(5):
        await world.event(EventKind.CONVERSATION_QUEUED, channel="chat")
    node_a = WebhookStore(world.store._run, world.store.dialect)
    await node_a.relay(world.clock.now(), 30.0)
    assert len(await node_a.claim(world.clock.now(), 60.0, 50)) == 5
    node_b = Outbox(WebhookStore(world.store._run, world.store.dialect), world.clock, POLICY)
    await node_b.tick()
    assert world.receiver.hits == []  # still A's
    world.clock.time += 61
    await node_b.tick()
    assert len({hit.webhook_id for hit in world.receiver.hits}) == len(world.receiver.hits) == 5


async def test_a_deleted_sites_endpoints_hear_nothing_more(world: World) -> None:
    await subscribe(world, "conversation.queued")
    await world.event(EventKind.CONVERSATION_QUEUED, channel="chat")
    await world.hooks.relay(world.clock.now(), 30.0)
    assert await world.store.delete_site(world.site.key)
    await world.event(EventKind.CONVERSATION_QUEUED, channel="chat")
    added, _ = await world.hooks.relay(world.clock.now(), 30.0)
    assert added == 0
    assert await world.hooks.claim(world.clock.now(), 60.0, 50) == []
