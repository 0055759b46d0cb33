"""The email port: what the domain and the server's features call to send an email."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class Mail(Protocol):
    """Queues emails in a durable outbox; a sender delivers each one exactly once."""

    async def enqueue(
        self, to: str, template: str, context: Mapping[str, Any], language: str = "en"
    ) -> str:
        """Render ``template`` (``server/templates/email/<template>.txt`` and ``.html``) with
        ``context`` in ``language`` (falling back to English), store it in the outbox and
        return its Message-ID. Returns once it is stored: it is then sent even if the mail
        server is down for a while. Raises ``ValueError`` for a bad address or template."""
        ...
