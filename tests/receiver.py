"""A real webhook receiver for tests: an aiohttp server on its own address that records
every delivery and checks its signature with the Standard Webhooks reference library. It can
go down (its listener closed: connections are refused) and come back on the same port."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiohttp import web
from standardwebhooks.webhooks import Webhook

from tests.support import free_port


@dataclass
class Hit:
    webhook_id: str
    timestamp: int
    signature: str
    body: str


@dataclass
class Receiver:
    """Records hits; answers ``status``. ``secret`` (or ``secrets``) verify each hit:
    a hit is ``verified`` when one of its signatures matches one of them."""

    host: str = "127.0.0.2"
    status: int = 204
    secrets: list[str] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)
    unverified: list[Hit] = field(default_factory=list)
    port: int = 0
    _runner: web.AppRunner | None = None
    _site: web.TCPSite | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/hooks"

    async def _handle(self, request: web.Request) -> web.Response:
        hit = Hit(
            request.headers.get("webhook-id", ""),
            int(request.headers.get("webhook-timestamp", "0")),
            request.headers.get("webhook-signature", ""),
            await request.text(),
        )
        (self.hits if self.verified(hit) else self.unverified).append(hit)
        return web.Response(status=self.status)

    def verified(self, hit: Hit) -> bool:
        when = datetime.fromtimestamp(hit.timestamp, UTC)
        sent = set(hit.signature.split(" "))
        return any(
            Webhook(secret).sign(hit.webhook_id, when, hit.body) in sent for secret in self.secrets
        )

    async def start(self) -> None:
        if self._runner is None:
            app = web.Application()
            app.router.add_post("/hooks", self._handle)
            self._runner = web.AppRunner(app)
            await self._runner.setup()
            self.port = self.port or free_port()
        self._site = web.TCPSite(self._runner, self.host, self.port)
        await self._site.start()

    async def down(self) -> None:
        assert self._site is not None
        await self._site.stop()
        self._site = None

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
