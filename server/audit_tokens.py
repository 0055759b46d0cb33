"""API token use in the audit log: creations and revocations, and uses (``server.api_tokens``
announces each one). A script calling every second would fill the log, so a successful use is
recorded at most once a minute per token and route; every refused one is recorded."""

from __future__ import annotations

from server.api_tokens import TokenEvent
from server.audit import Actor, Audit, AuditAction

EVERY = 60.0
MAX_TRACKED = 10_000


class TokenAudit:
    def __init__(self, audit: Audit, every: float = EVERY) -> None:
        self.audit = audit
        self.every = every
        self._last: dict[tuple[int, str, str], float] = {}

    async def __call__(self, event: TokenEvent) -> None:
        target = f"api_token:{event.token.id}"
        address = event.address or None
        if event.kind != "used":
            # The admin who created or revoked it.
            actor = Actor(f"staff:{event.staff_id}", event.staff_id, address)
        else:
            # The token, acting for the admin who made it.
            actor = Actor(target, event.staff_id, address)
        if event.kind == "created":
            details = {"name": event.token.name, "scope": event.token.scope}
            await self.audit.record(actor, AuditAction.API_TOKEN_CREATED, target, details)
            return
        if event.kind == "revoked":
            await self.audit.record(actor, AuditAction.API_TOKEN_REVOKED, target)
            return
        route = f"{event.method} {event.path}"
        if event.status < 400:
            key = (event.token.id, event.method, event.path)
            last = self._last.get(key)
            if last is not None and event.at - last < self.every:
                return
            if len(self._last) >= MAX_TRACKED:
                self._last.clear()
            self._last[key] = event.at
        use: dict[str, object] = {"route": route, "status": event.status}
        await self.audit.record(actor, AuditAction.API_TOKEN_USED, target, use)
