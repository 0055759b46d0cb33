"""Sending the outbox: ``SmtpTransport`` speaks SMTP through ``aiosmtplib`` (STARTTLS or
TLS, with authentication); ``MailWorker`` claims due emails, sends them over one connection
per batch and records each outcome, retrying with exponential back-off.

Every node may run a worker: claims never overlap (``server.store_mail``). An email is sent
again only if its sender died between the server's "250 OK" and recording it, and then with
the same Message-ID, by which mail clients recognise the copy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib

from server.settings import Settings
from server.store_mail import Claimed, MailStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Back-off between attempts: ``base`` s, doubling up to ``ceiling``; after ``attempts``
    attempts an email is given up on (``failed``). The defaults retry for about four hours."""

    base: float = 5.0
    ceiling: float = 900.0
    attempts: int = 20

    def delay(self, attempt: int) -> float:
        return float(min(self.base * 2 ** (attempt - 1), self.ceiling))


class Permanent(Exception):
    """The server refused this email for good (a 5xx reply): retrying cannot help."""


def mime(claimed: Claimed, sender: str) -> EmailMessage:
    """The email as sent: the same bytes on every attempt (the Date is the enqueue time)."""
    email = claimed.email
    message = EmailMessage()
    message["From"] = sender
    message["To"] = email.recipient
    message["Subject"] = email.subject
    message["Message-ID"] = email.message_id
    message["Date"] = formatdate(claimed.created_at, localtime=False)
    message["Content-Language"] = email.language
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(email.text_body)
    message.add_alternative(email.html_body, subtype="html")
    return message


class SmtpTransport:
    """One SMTP connection per batch, as the settings say."""

    def __init__(self, settings: Settings) -> None:
        assert settings.smtp_host is not None
        self.settings = settings

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[Callable[[EmailMessage], object]]:
        s = self.settings
        client = aiosmtplib.SMTP(
            hostname=s.smtp_host,
            port=s.smtp_port,
            use_tls=s.smtp_security == "tls",
            start_tls=s.smtp_security == "starttls",
            username=s.smtp_username,
            password=s.smtp_password,
            timeout=s.smtp_timeout,
            cert_bundle=str(s.smtp_ca_file) if s.smtp_ca_file else None,
        )
        await client.connect()
        try:
            yield lambda message: self._send(client, message)
        finally:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                await client.quit()

    @staticmethod
    async def _send(client: aiosmtplib.SMTP, message: EmailMessage) -> None:
        try:
            await client.send_message(message)
        except aiosmtplib.SMTPRecipientsRefused as refused:
            if all(r.code >= 500 for r in refused.recipients):
                raise Permanent(str(refused)) from None
            raise
        except aiosmtplib.SMTPResponseException as reply:
            if reply.code >= 500 and not isinstance(reply, aiosmtplib.SMTPServerDisconnected):
                raise Permanent(f"{reply.code} {reply.message}") from None
            raise


class MailWorker:
    """Claims and sends due emails. ``deliver_due`` does one batch (tests call it with their
    own clock); ``start`` runs batches until ``stop``, waking every ``poll`` s, or at once on
    ``wake`` (an email queued on this node).

    :param now: the clock (epoch seconds).
    """

    BATCH = 10

    def __init__(
        self,
        store: MailStore,
        transport: SmtpTransport,
        sender: str,
        *,
        now: Callable[[], float] = time.time,
        policy: RetryPolicy = RetryPolicy(),
        poll: float = 1.0,
    ) -> None:
        self.store = store
        self.transport = transport
        self.sender = sender
        self.now = now
        self.policy = policy
        self.poll = poll
        # Long enough for a whole batch to time out message by message.
        self.lease = transport.settings.smtp_timeout * (self.BATCH + 2)
        self._woken = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def deliver_due(self) -> int:
        """Claim one batch of due emails and try each; returns how many were claimed."""
        batch = await self.store.claim_emails(self.now(), self.lease, self.BATCH)
        if not batch:
            return 0
        pending = list(batch)
        try:
            async with self.transport.connection() as send:
                while pending:
                    claimed = pending[0]
                    try:
                        await send(mime(claimed, self.sender))  # type: ignore[misc]
                    except Permanent as refused:
                        pending.pop(0)
                        log.warning("email refused for good", extra={"id": claimed.id})
                        await self.store.email_failed(claimed, str(refused), None)
                        continue
                    pending.pop(0)
                    await self.store.email_sent(claimed, self.now())
                    log.info("email sent", extra={"id": claimed.id, "attempt": claimed.attempt})
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            # The server is down, timed out or refused us (auth, TLS): everything not yet
            # sent waits for its next attempt.
            log.warning("mail server unavailable: %s", type(error).__name__)
            for claimed in pending:
                await self._retry(claimed, f"{type(error).__name__}: {error}")
        return len(batch)

    async def _retry(self, claimed: Claimed, error: str) -> None:
        if claimed.attempt >= self.policy.attempts:
            log.error("email given up after %d attempts", claimed.attempt)
            await self.store.email_failed(claimed, error, None)
        else:
            retry_at = self.now() + self.policy.delay(claimed.attempt)
            await self.store.email_failed(claimed, error, retry_at)

    def wake(self) -> None:
        self._woken.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="porchlight-mail")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                full = await self.deliver_due() == self.BATCH
            except Exception:  # the database away: the next poll tries again
                log.exception("email delivery failed")
                full = False
            if full:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._woken.wait(), self.poll)
            self._woken.clear()
