"""Prometheus metrics for one node, at ``GET /metrics`` behind a bearer token.

Counters and histograms are fed by a subscriber of the domain's event publisher
(``Metrics.observe``), so the domain knows nothing of them; the delivery latency is timed by
``MeteredOutbound`` around the emit; the store times each of its transactions through its
``observe`` hook. Gauges are read when scraped: sockets from the socket server, the queue
from the store, and whatever other parts register with ``Metrics.gauge`` (the email and
webhook outboxes report their depth there as ``porchlight_outbox_depth{outbox=...}``).

Each node exposes its own figures (the registry is per app, never the process-global one):
scrape every node and sum in Prometheus.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from server.auth import secrets_match
from server.keys import SETTINGS, SIO
from server.rest import error
from server.store import SqlStore
from signaling.domain_events import DomainEvent, EventKind
from signaling.errors import ErrorCode
from signaling.events import ServerEvent
from signaling.outbound import CUSTOMER_NS, STAFF_NS, Outbound

log = logging.getLogger(__name__)

GaugeSource = Callable[[], float | Awaitable[float]]
"""A gauge's value, read at each scrape (a plain or an async function)."""

# Waits people notice: from a second to a quarter of an hour.
WAIT_BUCKETS = (1, 2, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600, 900)
# Delivery and store times: sub-millisecond to a second.
FAST_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0)
RING_OUTCOMES = {
    EventKind.CONVERSATION_ACCEPTED: "accepted",
    EventKind.CONVERSATION_DECLINED: "declined",
}
WAIT_ENDS = {
    EventKind.CONVERSATION_ACCEPTED: "answered",
    EventKind.CONVERSATION_ABANDONED: "abandoned",
}
# Message emits whose delivery is not yet timed; past this many, the oldest are forgotten
# (an emit that never happened must not grow the map forever).
PENDING_LIMIT = 10_000


class Metrics:
    """This node's figures, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.sockets = Gauge(
            "porchlight_sockets", "Open sockets on this node", ["namespace"], registry=r
        )
        self.queue = Gauge(
            "porchlight_queue_length",
            "Conversations waiting for a person (queued or ringing), in the whole fleet",
            registry=r,
        )
        self.waits = Histogram(
            "porchlight_wait_seconds",
            "Time from queueing to being answered, or to leaving unanswered",
            ["outcome"],
            buckets=WAIT_BUCKETS,
            registry=r,
        )
        self.conversations = Counter(
            "porchlight_conversations",
            "Conversations started, by channel",
            ["channel"],
            registry=r,
        )
        self.rings = Counter("porchlight_rings", "Rings started", registry=r)
        self.ring_outcomes = Counter(
            "porchlight_ring_outcomes",
            "Rings ended: accepted, declined, or missed (timeout, offline, away)",
            ["outcome"],
            registry=r,
        )
        self.calls = Counter(
            "porchlight_calls_started", "Calls started, by channel", ["channel"], registry=r
        )
        self.calls_ended = Counter(
            "porchlight_calls_ended",
            "Calls ended, by channel and reason",
            ["channel", "reason"],
            registry=r,
        )
        self.messages = Counter(
            "porchlight_messages", "Messages stored, by sender", ["sender"], registry=r
        )
        self.delivery = Histogram(
            "porchlight_delivery_seconds",
            "From a message's commit to its emit to the other side",
            buckets=FAST_BUCKETS,
            registry=r,
        )
        self.store = Histogram(
            "porchlight_store_seconds",
            "Duration of one store transaction",
            buckets=FAST_BUCKETS,
            registry=r,
        )
        self.outbox = Gauge(
            "porchlight_outbox_depth",
            "Items waiting in a durable outbox (email, webhook)",
            ["outbox"],
            registry=r,
        )
        self._sources: list[tuple[Gauge, GaugeSource]] = []
        self._stored: dict[tuple[str, int], float] = {}

    def gauge(self, gauge: Gauge, source: GaugeSource) -> None:
        """Read ``source`` into ``gauge`` (with its labels applied) at every scrape."""
        self._sources.append((gauge, source))

    def attach_store(self, store: SqlStore) -> None:
        """The store's figures: its transaction times and the queue."""
        store.observe = self.store.observe
        self.gauge(self.queue, store.count_waiting)

    def outbox_depth(self, name: str, source: GaugeSource) -> None:
        """For an outbox: report its depth as ``porchlight_outbox_depth{outbox=name}``."""
        self.gauge(self.outbox.labels(outbox=name), source)

    async def scrape(self) -> bytes:
        """Read every gauge source, then render the registry. A failing source leaves its
        gauge as it was and is logged: one broken part must not hide the others."""
        for gauge, source in self._sources:
            try:
                value = source()
                if inspect.isawaitable(value):
                    value = await value
                gauge.set(float(value))
            except Exception:
                log.warning("metrics source for %s failed", gauge, exc_info=True)
        return generate_latest(self.registry)

    async def observe(self, event: DomainEvent) -> None:
        """The event publisher's subscriber: counts what happened."""
        kind, detail = event.kind, event.detail
        if kind in WAIT_ENDS and "waited_s" in detail:
            self.waits.labels(outcome=WAIT_ENDS[kind]).observe(float(detail["waited_s"]))
        if kind is EventKind.MESSAGE_STORED:
            self.messages.labels(sender=event.actor).inc()
            if event.conversation_id is not None and "seq" in detail:
                if len(self._stored) >= PENDING_LIMIT:
                    self._stored.clear()
                self._stored[(event.conversation_id, int(detail["seq"]))] = time.perf_counter()
        elif kind is EventKind.CONVERSATION_QUEUED:
            self.conversations.labels(channel=str(detail.get("channel", "chat"))).inc()
        elif kind is EventKind.CONVERSATION_RUNG:
            self.rings.inc()
        elif kind in RING_OUTCOMES:
            self.ring_outcomes.labels(outcome=RING_OUTCOMES[kind]).inc()
        elif kind is EventKind.CONVERSATION_MISSED:
            reason = str(detail.get("reason", "timeout"))
            self.ring_outcomes.labels(outcome=f"missed_{reason}").inc()
        elif kind is EventKind.CALL_STARTED:
            self.calls.labels(channel=str(detail.get("channel", "unknown"))).inc()
        elif kind is EventKind.CALL_ENDED:
            self.calls_ended.labels(
                channel=str(detail.get("channel", "unknown")),
                reason=str(detail.get("reason") or "unknown"),
            ).inc()

    def emitted(self, conversation_id: str, seq: int) -> None:
        """A stored message was handed to the socket server."""
        started = self._stored.pop((conversation_id, seq), None)
        if started is not None:
            self.delivery.observe(time.perf_counter() - started)


class MeteredOutbound(Outbound):
    """``Outbound`` that times each new message from its commit to its emit."""

    def __init__(self, sio: Any, metrics: Metrics) -> None:
        super().__init__(sio)
        self.metrics = metrics

    async def to_both(
        self,
        conversation_id: str,
        staff_id: int | None,
        event: ServerEvent,
        data: dict[str, Any],
        skip_sid: str | None = None,
    ) -> None:
        await super().to_both(conversation_id, staff_id, event, data, skip_sid)
        if event is ServerEvent.MESSAGE_NEW:
            self.metrics.emitted(conversation_id, int(data["message"]["seq"]))


METRICS = web.AppKey("metrics", Metrics)
routes = web.RouteTableDef()


def open_sockets(sio: Any, namespace: str) -> Callable[[], float]:
    """This node's connected sockets on ``namespace`` (socket.io keeps every sid of a
    namespace in its room ``None``)."""

    def count() -> float:
        return float(len(sio.manager.rooms.get(namespace, {}).get(None, {})))

    return count


def install(app: web.Application) -> Metrics:
    """Create this app's metrics and the gauges that need only the socket server; the
    runtime adds the store's once it is open."""
    metrics = Metrics()
    app[METRICS] = metrics
    for namespace in (CUSTOMER_NS, STAFF_NS):
        metrics.gauge(
            metrics.sockets.labels(namespace=namespace), open_sockets(app[SIO], namespace)
        )
    app.add_routes(routes)
    return metrics


@routes.get("/metrics")
async def scrape(request: web.Request) -> web.Response:
    """The node's metrics in Prometheus's text format, for ``Authorization: Bearer
    <metrics_token>``; 404 while no token is configured, 401 without the right one."""
    token = request.app[SETTINGS].metrics_token
    if token is None:
        raise web.HTTPNotFound()
    sent = request.headers.get("Authorization", "")
    if not (sent.startswith("Bearer ") and secrets_match(sent[7:].strip(), token)):
        return error(
            401,
            ErrorCode.AUTH_REQUIRED,
            "A metrics token is required.",
            **{"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    body = await request.app[METRICS].scrape()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
