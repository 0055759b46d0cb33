"""Browser fixtures: Debian's Chromium driven by Playwright's async API, the real server and
the demo shop on another origin. Without Chromium the tests skip, except on CI."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright

from demo_site.app import create_app as create_shop
from tests.coturn import Coturn
from tests.support import Server, free_port, settings_for

CHROMIUM = os.environ.get("PORCHLIGHT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--allow-loopback-in-peer-connection",
]


def chromium_present() -> bool:
    return Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is not None


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not chromium_present():
        reason = f"Chromium not found at {CHROMIUM} (make system installs it as root)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        await launched.close()


@dataclass
class Stack:
    server: Server
    shop_url: str


@asynccontextmanager
async def running_stack(tmp_path: Path, **settings: Any) -> AsyncIterator[Stack]:
    """Porchlight on 127.0.0.1 and the demo shop on localhost: two origins, as in production.
    ``settings`` add to the server's test settings."""
    server = Server(
        settings_for(f"sqlite+aiosqlite:///{tmp_path / 'e2e.db'}", ring_timeout=20.0, **settings)
    )
    await server.start()
    shop = None
    try:
        shop_port = free_port()
        shop_url = f"http://localhost:{shop_port}"
        await server.add_site("demo-shop", origins=(shop_url,))
        shop = web.AppRunner(create_shop(server.url, "demo-shop"), handle_signals=False)
        await shop.setup()
        await web.TCPSite(shop, "127.0.0.1", shop_port).start()
        yield Stack(server, shop_url)
    finally:
        if shop is not None:
            await shop.cleanup()
        await server.stop()


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with running_stack(tmp_path) as running:
        yield running


class ConsoleErrors:
    """Collects console errors and uncaught exceptions of every page it watches."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def watch(self, page: Page) -> Page:
        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                self.errors.append(f"{page.url}: {message.text}")

        page.on("console", on_console)
        page.on("pageerror", lambda error: self.errors.append(f"{page.url}: {error}"))
        return page


@pytest.fixture
def console_errors() -> ConsoleErrors:
    return ConsoleErrors()


@pytest.fixture
async def call_stack(tmp_path: Path, coturn: Coturn) -> AsyncIterator[Stack]:
    """The `stack` of conftest with coturn as TURN and relay-only ICE: both browsers may only
    use relay candidates on 127.0.0.1, never the machine's other interfaces."""
    async with running_stack(
        tmp_path,
        turn_host=coturn.turn_host,
        turn_port=coturn.turn_port,
        turn_secret=coturn.turn_secret,
        ice_transport_policy="relay",
    ) as running:
        yield running
