"""The webhook outbox in SQL, on the ``SqlStore``'s database (the endpoints' half is
``server.store_hook_endpoints``).

The outbox is fed from the stored event log (``relay``), claimed by any node (``claim``,
``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite serves one process), and each attempt's
outcome is recorded (``record``). Every method is one transaction.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, RowMapping

from server.accounts import commit
from server.store_hook_endpoints import EndpointStore, secrets_at
from server.tables import (
    conversations,
    events,
    sites,
    webhook_cursor,
    webhook_deliveries,
    webhook_endpoints,
)
from server.webhook_kinds import KINDS, payload

DeliveryStatus = Literal["pending", "delivered", "failed"]


@dataclass(frozen=True, slots=True)
class Delivery:
    """One line of an endpoint's delivery log."""

    id: int
    endpoint_id: int
    event_id: int
    message_id: str
    kind: str
    body: str
    status: DeliveryStatus
    attempts: int
    created_at: float
    next_attempt_at: float | None
    last_attempt_at: float | None
    response_status: int | None
    last_error: str | None
    delivered_at: float | None


@dataclass(frozen=True, slots=True)
class Due:
    """A claimed delivery, with what sending it needs."""

    id: int
    message_id: str
    body: str
    attempts: int
    retry_from: float
    url: str
    secrets: tuple[str, ...]


_DELIVERY = tuple(getattr(webhook_deliveries.c, name) for name in Delivery.__dataclass_fields__)


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one attempt went: ``pending`` with its next attempt, or final."""

    delivery_id: int
    at: float
    status: DeliveryStatus
    response_status: int | None
    error: str | None
    next_attempt_at: float | None


def _delivery(row: RowMapping) -> Delivery:
    return Delivery(**{name: row[name] for name in Delivery.__dataclass_fields__})


class WebhookStore(EndpointStore):
    """Endpoints (``EndpointStore``), the outbox and the relay cursor."""

    # -- the relay: event log → outbox ---------------------------------------------------

    async def relay(
        self, now: float, settle: float, after: int | None = None, limit: int = 1000
    ) -> tuple[int, int]:
        """Add an outbox row for every stored event after the cursor (or after ``after``,
        a quicker pass from where this node last looked) that an enabled endpoint of its
        site subscribes to; a row that exists already is left alone. A full pass
        (``after`` None) then moves the cursor up to the first event younger than
        ``settle`` seconds: an event id can become visible after a higher one, so the
        recent past is read again until it has settled. Returns (rows added, the last
        event id read). Another node relaying at the same moment makes this a no-op."""

        def work(conn: Connection) -> tuple[int, int]:
            cursor = conn.execute(
                sa.select(webhook_cursor.c.last_event_id)
                .where(webhook_cursor.c.id == 1)
                .with_for_update(skip_locked=True)
            ).scalar()
            if cursor is None:
                return 0, after or 0
            start = max(cursor, after or 0)
            targets = (
                conn.execute(
                    sa.select(webhook_endpoints, sites.c.key.label("site_key"))
                    .join(sites, sites.c.id == webhook_endpoints.c.site_id)
                    # A deleted site's endpoints hear nothing more.
                    .where(webhook_endpoints.c.enabled.is_(True), sites.c.deleted_at.is_(None))
                )
                .mappings()
                .all()
            )
            added, last, full = 0, start, True
            if targets:
                found = (
                    conn.execute(
                        sa.select(events, conversations.c.site_id)
                        .join(conversations, conversations.c.id == events.c.conversation_id)
                        .where(
                            events.c.id > start, events.c.kind.in_([str(kind) for kind in KINDS])
                        )
                        .order_by(events.c.id)
                        .limit(limit)
                    )
                    .mappings()
                    .all()
                )
                full = len(found) < limit
                if found:
                    last = found[-1]["id"]
                    added = self._fan_out(conn, found, targets, now)
            if after is None:
                young = conn.execute(
                    sa.select(sa.func.min(events.c.id)).where(
                        events.c.id > cursor, events.c.created_at > now - settle
                    )
                ).scalar()
                newest = conn.execute(sa.select(sa.func.max(events.c.id))).scalar() or cursor
                moved = newest if young is None else young - 1
                if not full:
                    moved = min(moved, last)
                if moved > cursor:
                    conn.execute(
                        sa.update(webhook_cursor)
                        .where(webhook_cursor.c.id == 1)
                        .values(last_event_id=moved)
                    )
            conn.commit()
            return added, last

        return await self._run(work)

    def _fan_out(
        self,
        conn: Connection,
        found: Sequence[RowMapping],
        targets: Sequence[RowMapping],
        now: float,
    ) -> int:
        rows = []
        for event in found:
            for target in targets:
                if (
                    target["site_id"] != event["site_id"]
                    or event["kind"] not in json.loads(target["kinds"])
                    or target["created_at"] > event["created_at"]
                ):
                    continue
                detail = json.loads(event["detail"]) if event["detail"] else {}
                body = payload(
                    event["kind"],
                    event["created_at"],
                    event["actor"],
                    event["conversation_id"],
                    event["staff_id"],
                    detail,
                    target["site_key"],
                )
                rows.append(
                    {
                        "endpoint_id": target["id"],
                        "event_id": event["id"],
                        "message_id": "msg_" + secrets.token_hex(16),
                        "kind": event["kind"],
                        "body": body,
                        "status": "pending",
                        "attempts": 0,
                        "created_at": now,
                        "retry_from": now,
                        "next_attempt_at": now,
                    }
                )
        if not rows:
            return 0
        insert = (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(
            webhook_deliveries
        ).on_conflict_do_nothing(index_elements=["endpoint_id", "event_id"])
        return int(conn.execute(insert, rows).rowcount or 0)

    # -- delivery ------------------------------------------------------------------------

    async def claim(self, now: float, lease: float, limit: int) -> list[Due]:
        """Take up to ``limit`` due deliveries of enabled endpoints, pushing each one's next
        attempt ``lease`` seconds out so that no other node takes it meanwhile (and a node
        that dies while sending only delays it)."""

        def work(conn: Connection) -> list[Due]:
            rows = (
                conn.execute(
                    sa.select(
                        webhook_deliveries.c.id,
                        webhook_deliveries.c.message_id,
                        webhook_deliveries.c.body,
                        webhook_deliveries.c.attempts,
                        webhook_deliveries.c.retry_from,
                        webhook_endpoints.c.url,
                        webhook_endpoints.c.secret,
                        webhook_endpoints.c.previous_secret,
                        webhook_endpoints.c.previous_until,
                    )
                    .join(
                        webhook_endpoints,
                        webhook_endpoints.c.id == webhook_deliveries.c.endpoint_id,
                    )
                    .join(sites, sites.c.id == webhook_endpoints.c.site_id)
                    .where(
                        webhook_deliveries.c.status == "pending",
                        webhook_deliveries.c.next_attempt_at <= now,
                        webhook_endpoints.c.enabled.is_(True),
                        sites.c.deleted_at.is_(None),
                    )
                    .order_by(webhook_deliveries.c.next_attempt_at)
                    .limit(limit)
                    .with_for_update(skip_locked=True, of=webhook_deliveries)
                )
                .mappings()
                .all()
            )
            if rows:
                conn.execute(
                    sa.update(webhook_deliveries)
                    .where(webhook_deliveries.c.id.in_([row["id"] for row in rows]))
                    .values(next_attempt_at=now + lease)
                )
            conn.commit()
            return [
                Due(
                    id=row["id"],
                    message_id=row["message_id"],
                    body=row["body"],
                    attempts=row["attempts"],
                    retry_from=row["retry_from"],
                    url=row["url"],
                    secrets=secrets_at(row, now),
                )
                for row in rows
            ]

        return await self._run(work)

    async def record(self, outcomes: Sequence[Outcome]) -> None:
        """The outcomes of a batch of attempts, in one transaction."""

        def work(conn: Connection) -> None:
            for outcome in outcomes:
                conn.execute(
                    sa.update(webhook_deliveries)
                    .where(
                        webhook_deliveries.c.id == outcome.delivery_id,
                        webhook_deliveries.c.status == "pending",
                    )
                    .values(
                        status=outcome.status,
                        attempts=webhook_deliveries.c.attempts + 1,
                        last_attempt_at=outcome.at,
                        response_status=outcome.response_status,
                        last_error=None if outcome.error is None else outcome.error[:300],
                        next_attempt_at=outcome.next_attempt_at,
                        delivered_at=outcome.at if outcome.status == "delivered" else None,
                    )
                )
            conn.commit()

        if outcomes:
            await self._run(work)

    # -- the delivery log ----------------------------------------------------------------

    async def deliveries(
        self,
        endpoint_id: int,
        before: int | None = None,
        limit: int = 50,
        status: str | None = None,
    ) -> list[Delivery]:
        """An endpoint's deliveries, newest first; ``before`` a delivery id (the cursor)."""
        statement = (
            sa.select(*_DELIVERY)
            .where(webhook_deliveries.c.endpoint_id == endpoint_id)
            .order_by(webhook_deliveries.c.id.desc())
            .limit(limit)
        )
        if before is not None:
            statement = statement.where(webhook_deliveries.c.id < before)
        if status is not None:
            statement = statement.where(webhook_deliveries.c.status == status)
        rows = await self._run(lambda conn: conn.execute(statement).mappings().all())
        return [_delivery(row) for row in rows]

    async def resend(self, endpoint_id: int, delivery_id: int, now: float) -> Delivery | None:
        """Send a delivery again now, with the same ``webhook-id`` (a receiver that has it
        already knows it as a repeat), retrying for another full window if it fails."""
        statement = (
            sa.update(webhook_deliveries)
            .where(
                webhook_deliveries.c.id == delivery_id,
                webhook_deliveries.c.endpoint_id == endpoint_id,
            )
            .values(status="pending", next_attempt_at=now, retry_from=now, delivered_at=None)
            .returning(*_DELIVERY)
        )
        row = await self._run(lambda conn: commit(conn, conn.execute(statement).mappings().first()))
        return None if row is None else _delivery(row)

    async def prune(self, before: float) -> int:
        """Forget deliveries that ended (delivered or failed) before ``before``; returns how
        many. Pending ones are kept whatever their age."""
        statement = sa.delete(webhook_deliveries).where(
            webhook_deliveries.c.status.in_(("delivered", "failed")),
            webhook_deliveries.c.last_attempt_at < before,
        )
        return await self._run(lambda conn: commit(conn, int(conn.execute(statement).rowcount)))

    async def depth(self) -> dict[str, int]:
        """How many deliveries are pending and how many failed for good."""
        statement = (
            sa.select(webhook_deliveries.c.status, sa.func.count())
            .where(webhook_deliveries.c.status.in_(("pending", "failed")))
            .group_by(webhook_deliveries.c.status)
        )
        rows = await self._run(lambda conn: conn.execute(statement).all())
        counts = {"pending": 0, "failed": 0}
        counts.update({status: count for status, count in rows})
        return counts
