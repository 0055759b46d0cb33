"""The development mail catcher: an SMTP server (``aiosmtpd``) in this process that keeps
the emails it receives instead of sending them, so that ``make demo`` shows every email
without a mail server. The console lists them (``server.api_mail``)."""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
import time
from collections import deque
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

log = logging.getLogger(__name__)

KEPT = 200


class CatcherUnavailable(OSError):
    """The catcher's port is taken (or not ours to listen on)."""


@dataclass(frozen=True, slots=True)
class CaughtEmail:
    """One email as the catcher received it."""

    number: int
    received_at: float
    sender: str
    recipients: tuple[str, ...]
    subject: str
    message_id: str
    text: str
    html: str


def _part(message: EmailMessage, subtype: str) -> str:
    body = message.get_body(preferencelist=(subtype,))
    return str(body.get_content()) if body is not None else ""


class MailCatcher:
    """Listens on ``host:port`` and keeps the last ``KEPT`` emails, newest last."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.caught: deque[CaughtEmail] = deque(maxlen=KEPT)
        self._count = 0
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(
                lambda: SMTP(self, hostname="porchlight-catcher", ident="Porchlight catcher"),
                self.host,
                self.port,
            )
        except OSError as exc:
            raise CatcherUnavailable(
                exc.errno,
                f"the mail catcher cannot listen on {self.host}:{self.port} ({exc.strerror}); "
                "choose another port with --mail-port",
            ) from None
        log.info("mail catcher listening on %s:%s", self.host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def handle_DATA(self, _server: SMTP, _session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        data = raw if isinstance(raw, bytes) else raw.encode()
        message: Any = email.message_from_bytes(data, policy=email.policy.default)
        self._count += 1
        self.caught.append(
            CaughtEmail(
                number=self._count,
                received_at=time.time(),
                sender=str(envelope.mail_from or ""),
                recipients=tuple(envelope.rcpt_tos),
                subject=str(message.get("Subject", "")),
                message_id=str(message.get("Message-ID", "")),
                text=_part(message, "plain"),
                html=_part(message, "html"),
            )
        )
        return "250 Message caught"
