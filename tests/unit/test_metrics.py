"""The metrics subscriber counts domain events; gauge sources are read at each scrape."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from server.metrics import Metrics
from signaling.domain_events import DomainEvent, EventKind


def samples(text: bytes) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text.decode())
        for s in family.samples
    }


async def test_calls_and_missed_rings_are_counted() -> None:
    metrics = Metrics()
    for event in (
        DomainEvent(EventKind.CALL_STARTED, 1.0, "customer", "c1", 7, {"channel": "video"}),
        DomainEvent(
            EventKind.CALL_ENDED, 9.0, "staff", "c1", 7, {"channel": "video", "reason": "hangup"}
        ),
        DomainEvent(EventKind.CONVERSATION_MISSED, 2.0, "system", "c2", 7, {"reason": "timeout"}),
        DomainEvent(
            EventKind.CONVERSATION_ABANDONED, 3.0, "customer", "c3", None, {"waited_s": 40}
        ),
    ):
        await metrics.observe(event)
    found = samples(await metrics.scrape())
    assert found[("porchlight_calls_started_total", frozenset({("channel", "video")}))] == 1
    ended = frozenset({("channel", "video"), ("reason", "hangup")})
    assert found[("porchlight_calls_ended_total", ended)] == 1
    missed = frozenset({("outcome", "missed_timeout")})
    assert found[("porchlight_ring_outcomes_total", missed)] == 1
    abandoned = frozenset({("outcome", "abandoned")})
    assert found[("porchlight_wait_seconds_count", abandoned)] == 1
    assert found[("porchlight_wait_seconds_sum", abandoned)] == 40


async def test_outbox_depth_sources_and_a_failing_source() -> None:
    metrics = Metrics()
    depth = [3.0]

    async def email() -> float:
        return depth[0]

    def broken() -> float:
        raise RuntimeError("outbox table missing")

    metrics.outbox_depth("email", email)
    metrics.outbox_depth("webhook", broken)
    found = samples(await metrics.scrape())
    assert found[("porchlight_outbox_depth", frozenset({("outbox", "email")}))] == 3
    # A broken source leaves its gauge alone and the others still report.
    assert found[("porchlight_outbox_depth", frozenset({("outbox", "webhook")}))] == 0
    depth[0] = 1
    found = samples(await metrics.scrape())
    assert found[("porchlight_outbox_depth", frozenset({("outbox", "email")}))] == 1
