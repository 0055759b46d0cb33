"""``/metrics``: refused without the bearer token, and its figures follow a real conversation
(rings and their outcomes, the wait, messages and their delivery, sockets, the queue)."""

from __future__ import annotations

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from server.keys import SIO
from tests.support import Peer, Server, customer, staff_peer, until

TOKEN = "m" * 32
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(server: Server, token: str | None = TOKEN) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{server.url}/metrics", headers=headers) as response,
    ):
        return response.status, await response.text()


async def figures(server: Server) -> Samples:
    status, text = await scrape(server)
    assert status == 200, text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.mark.settings(metrics_token=TOKEN)
async def test_metrics_follow_a_conversation(server: Server, clients: list[Peer]) -> None:
    assert (await scrape(server, None))[0] == 401
    assert (await scrape(server, "n" * 32))[0] == 401

    ann, sam = await server.add_staff("Ann"), await server.add_staff("Sam")
    first = await staff_peer(server, ann)
    clients.append(first)
    visitor = customer(server)
    clients.append(visitor)
    await visitor.connect()
    cid = (await visitor.ok("conversation.start", {"channel": "chat"}))["conversation"]["id"]
    await first.wait_for("ring")
    before = await figures(server)
    assert value(before, "porchlight_queue_length") == 1
    assert value(before, "porchlight_sockets", namespace="/customer") == 1
    assert value(before, "porchlight_sockets", namespace="/staff") == 1
    assert value(before, "porchlight_conversations_total", channel="chat") == 1

    second = await staff_peer(server, sam)
    clients.append(second)
    await first.ok("ring.decline", {"conversation_id": cid})
    await second.wait_for("ring")
    await second.ok("ring.accept", {"conversation_id": cid})
    await visitor.ok(
        "message.send", {"conversation_id": cid, "client_msg_id": "metric-01", "body": "Hello"}
    )
    await second.wait_for("message.new", lambda d: d["message"]["body"] == "Hello")
    await second.ok(
        "message.send", {"conversation_id": cid, "client_msg_id": "metric-02", "body": "Hi"}
    )
    await visitor.wait_for("message.new", lambda d: d["message"]["body"] == "Hi")

    after = await figures(server)
    assert value(after, "porchlight_queue_length") == 0
    assert value(after, "porchlight_sockets", namespace="/staff") == 2
    assert value(after, "porchlight_rings_total") == 2
    assert value(after, "porchlight_ring_outcomes_total", outcome="declined") == 1
    assert value(after, "porchlight_ring_outcomes_total", outcome="accepted") == 1
    assert value(after, "porchlight_wait_seconds_count", outcome="answered") == 1
    assert value(after, "porchlight_wait_seconds_sum", outcome="answered") > 0
    assert value(after, "porchlight_messages_total", sender="customer") == 1
    # The staff member's own message, and the "joined" note, are stored by staff actions.
    assert value(after, "porchlight_messages_total", sender="staff") == 1
    assert value(after, "porchlight_delivery_seconds_count") == 2
    assert value(after, "porchlight_store_seconds_count") > value(
        before, "porchlight_store_seconds_count"
    )

    await visitor.close()
    await until(
        lambda: server.app[SIO].manager.rooms.get("/customer", {}).get(None) in (None, {}),
        what="the customer's socket to close",
    )
    assert value(await figures(server), "porchlight_sockets", namespace="/customer") == 0


async def test_metrics_are_off_without_a_token(server: Server) -> None:
    assert (await scrape(server))[0] == 404
