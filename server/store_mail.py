"""The email outbox in SQL: the ``emails`` half of ``SqlStore``.

A row is written, rendered and with its Message-ID, before anything is sent. Any node may
claim due rows: on PostgreSQL with ``FOR UPDATE SKIP LOCKED`` (two nodes never claim the same
row), on SQLite inside the one process's turn-taking transactions. Claiming marks the row
``sending`` with a lease, in the same transaction, so no other claimer sees it until the
sender reports back (``sent``, or ``pending`` again with a later attempt time) or the lease
runs out (the sender died; then the same Message-ID is sent again).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from server.tables import emails

T = TypeVar("T")

# An error text kept for the admin, not a log: long SMTP replies are cut.
ERROR_LENGTH = 500


@dataclass(frozen=True, slots=True)
class Email:
    """One rendered email as the outbox holds it."""

    message_id: str
    recipient: str
    template: str
    language: str
    subject: str
    text_body: str
    html_body: str


@dataclass(frozen=True, slots=True)
class Claimed:
    """An email claimed for sending; ``attempt`` counts this one (1 for the first)."""

    id: int
    email: Email
    attempt: int
    created_at: float


def insert_email(conn: Connection, email: Email, now: float) -> None:
    """Add ``email`` to the outbox inside the caller's transaction (who commits): a store
    method that writes something and its email at once uses this."""
    conn.execute(
        sa.insert(emails).values(
            message_id=email.message_id,
            recipient=email.recipient,
            template=email.template,
            language=email.language,
            subject=email.subject,
            text_body=email.text_body,
            html_body=email.html_body,
            status="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    )


_DUE = sa.or_(
    sa.and_(emails.c.status == "pending", emails.c.next_attempt_at <= sa.bindparam("now")),
    sa.and_(emails.c.status == "sending", emails.c.lease_until <= sa.bindparam("now")),
)


class MailStore:
    """The outbox's transactions; each method is one."""

    async def _run(self, work: Callable[[Connection], T]) -> T:
        raise NotImplementedError

    async def add_email(self, email: Email, now: float) -> None:
        """Queue ``email`` to be sent as soon as a sender is free."""

        def work(conn: Connection) -> None:
            insert_email(conn, email, now)
            conn.commit()

        await self._run(work)

    async def claim_emails(self, now: float, lease: float, limit: int = 20) -> list[Claimed]:
        """Claim up to ``limit`` due emails, oldest first, for ``lease`` seconds."""

        def work(conn: Connection) -> list[Claimed]:
            ids = list(
                conn.scalars(
                    sa.select(emails.c.id)
                    .where(_DUE)
                    .order_by(emails.c.next_attempt_at, emails.c.id)
                    .limit(limit)
                    .with_for_update(skip_locked=True),
                    {"now": now},
                )
            )
            if not ids:
                conn.rollback()
                return []
            rows = conn.execute(
                sa.update(emails)
                .where(emails.c.id.in_(ids), _DUE)
                .values(status="sending", lease_until=now + lease, attempts=emails.c.attempts + 1)
                .returning(emails),
                {"now": now},
            ).all()
            conn.commit()
            claimed = [
                Claimed(
                    id=row.id,
                    email=Email(
                        message_id=row.message_id,
                        recipient=row.recipient,
                        template=row.template,
                        language=row.language,
                        subject=row.subject,
                        text_body=row.text_body,
                        html_body=row.html_body,
                    ),
                    attempt=row.attempts,
                    created_at=row.created_at,
                )
                for row in rows
            ]
            return sorted(claimed, key=lambda c: c.id)

        return await self._run(work)

    async def email_sent(self, claimed: Claimed, now: float) -> None:
        """The SMTP server took the email: it is never claimed again."""
        await self._finish(claimed, status="sent", sent_at=now, lease_until=None)

    async def email_failed(self, claimed: Claimed, error: str, retry_at: float | None) -> None:
        """The attempt failed: try again at ``retry_at``, or never (``None``: ``failed``)."""
        values: dict[str, object] = {"last_error": error[:ERROR_LENGTH], "lease_until": None}
        if retry_at is None:
            values["status"] = "failed"
        else:
            values.update(status="pending", next_attempt_at=retry_at)
        await self._finish(claimed, **values)

    async def _finish(self, claimed: Claimed, **values: object) -> None:
        # Only this claim's row: one whose lease ran out and that was claimed again (its
        # attempts counted up) is the new claimer's to finish.
        statement = (
            sa.update(emails)
            .where(
                emails.c.id == claimed.id,
                emails.c.status == "sending",
                emails.c.attempts == claimed.attempt,
            )
            .values(values)
        )

        def work(conn: Connection) -> None:
            conn.execute(statement)
            conn.commit()

        await self._run(work)

    async def outbox_depth(self) -> int:
        """Emails not yet sent and not given up on (pending or being sent)."""
        statement = sa.select(sa.func.count()).where(emails.c.status.in_(("pending", "sending")))
        count: int | None = await self._run(lambda conn: conn.scalar(statement))
        return count or 0

    async def email_statuses(self) -> dict[str, int]:
        """How many emails are in each status."""
        statement = sa.select(emails.c.status, sa.func.count()).group_by(emails.c.status)
        rows = await self._run(lambda conn: conn.execute(statement).all())
        return {row[0]: int(row[1]) for row in rows}
