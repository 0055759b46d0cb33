"""The console's queue, in real Chromium, kept from one small ``queue.changed`` per change."""

from __future__ import annotations

from playwright.async_api import Browser, expect

from tests.e2e.conftest import ConsoleErrors, Stack
from tests.e2e.test_chat_flow import TIMEOUT, open_console
from tests.support import Peer, customer, staff_peer


async def test_the_console_queue_follows_each_change(
    browser: Browser, stack: Stack, console_errors: ConsoleErrors
) -> None:
    server = stack.server
    watching = await server.add_staff("Ana")
    answering = await server.add_staff("Ben")
    peers: list[Peer] = []
    context = await browser.new_context()
    try:
        page = console_errors.watch(await context.new_page())
        await open_console(page, server.url, watching.email)  # away: never rung
        queue = page.get_by_role("list", name="Queue")
        await expect(page.get_by_text("Nobody is waiting.")).to_be_visible(timeout=TIMEOUT)

        ids = []
        for name in ("Ines", "Joao"):
            visitor = customer(server, site_key="demo-shop", host=stack.shop_url)
            peers.append(visitor)
            await visitor.connect()
            started = await visitor.ok("conversation.start", {"name": name})
            ids.append(started["conversation"]["id"])
        await expect(queue.get_by_role("listitem")).to_have_count(2, timeout=TIMEOUT)
        await expect(queue.get_by_role("listitem").first).to_contain_text("Ines")

        ben = await staff_peer(server, answering)
        peers.append(ben)
        await ben.wait_for("ring", lambda ring: ring["conversation"]["id"] == ids[0])
        await expect(queue.get_by_role("listitem").first).to_contain_text("ringing")
        await ben.ok("ring.accept", {"conversation_id": ids[0]})
        await expect(queue.get_by_role("listitem")).to_have_count(1, timeout=TIMEOUT)
        await expect(queue).to_contain_text("Joao")

        await peers[1].ok("conversation.end", {"conversation_id": ids[1]})
        await expect(page.get_by_text("Nobody is waiting.")).to_be_visible(timeout=TIMEOUT)
        assert console_errors.errors == []
    finally:
        await context.close()
        for peer in peers:
            await peer.close()
