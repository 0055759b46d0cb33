"""Wrap-up in real Chromium: after a chat ends, the console shows the wrap-up bar and no
ring comes (a colleague is rung instead); the outcome is picked, "+30 s" adds time, and
"Ready now" (from the keyboard) brings the next ring at once. Away reasons in the presence
control reach the server."""

from __future__ import annotations

import os
from pathlib import Path

from playwright.async_api import Browser, expect

from server.keys import STORE
from signaling.ports import ShiftPolicy
from tests.e2e.conftest import ConsoleErrors, Stack
from tests.e2e.test_chat_flow import TIMEOUT, sign_in
from tests.support import Peer, customer, staff_peer

# Set to a directory to keep pictures of the wrap-up bar (desktop and phone).
SHOTS = os.environ.get("PORCHLIGHT_SCREENS")
RULES = ShiftPolicy(wrapup_chat_s=40.0, outcome_tags=("Resolved", "Follow-up", "Escalated"))


async def test_no_ring_during_wrapup(
    browser: Browser, stack: Stack, console_errors: ConsoleErrors
) -> None:
    server = stack.server
    store = server.app[STORE]
    await store.set_shift("demo-shop", RULES)
    ana = await server.add_staff("Ana")
    peers: list[Peer] = []
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = console_errors.watch(await context.new_page())
        await sign_in(page, server.url, ana.email)
        first = customer(server, site_key="demo-shop", host=stack.shop_url)
        peers.append(first)
        await first.connect()
        one = (await first.ok("conversation.start", {"name": "Ines"}))["conversation"]["id"]
        ring = page.get_by_role("alertdialog", name="Incoming chat")
        await ring.get_by_role("button", name="Accept").click()
        panel = page.get_by_role("region", name="Conversation with Ines")
        await panel.get_by_role("button", name="End conversation").click()

        bar = page.get_by_role("region", name="Wrap-up")
        await expect(bar).to_be_visible(timeout=TIMEOUT)
        await expect(bar).to_contain_text("next ring in 0:")
        second = customer(server, site_key="demo-shop", host=stack.shop_url)
        peers.append(second)
        await second.connect()
        two = (await second.ok("conversation.start", {"name": "Joao"}))["conversation"]["id"]
        # Ben's ring is the checkpoint: routing ran, and passed over Ana.
        ben = await staff_peer(server, await server.add_staff("Ben"))
        peers.append(ben)
        await ben.wait_for("ring", lambda r: r["conversation"]["id"] == two)
        await expect(ring).to_have_count(0)
        await ben.ok("presence.set", {"status": "away"})  # his ring is withdrawn
        await ben.wait_for("ring.cancelled")

        await bar.get_by_label("Outcome").select_option("Resolved")
        await expect(bar.get_by_text("Saved")).to_be_visible(timeout=TIMEOUT)
        tagged = await store.get_conversation(one)
        assert tagged is not None and tagged.outcome == "Resolved"
        # The ended panel offers the same choice, and shows the one made.
        await expect(panel.get_by_label("Outcome")).to_have_value("Resolved")
        await bar.get_by_role("button", name="30 more seconds").click()
        await expect(bar).to_contain_text("next ring in 1:")
        if SHOTS:
            await page.screenshot(path=str(Path(SHOTS) / "console-wrapup-1280.png"))
        await page.set_viewport_size({"width": 390, "height": 844})
        if SHOTS:
            await page.screenshot(path=str(Path(SHOTS) / "console-wrapup-phone.png"))
        await expect(ring).to_have_count(0)

        ready = bar.get_by_role("button", name="Ready now")
        await ready.focus()
        await page.keyboard.press("Enter")
        await expect(ring).to_be_visible(timeout=TIMEOUT)
        await expect(bar).to_be_hidden()
        await expect(ring).to_contain_text("Joao")

        await page.get_by_label("Presence").select_option("away:lunch")
        await expect(ring).to_have_count(0, timeout=TIMEOUT)  # going away withdraws it
        presence = await store.get_presence(ana, 0)
        assert (presence.status, presence.reason) == ("away", "lunch")
        assert console_errors.errors == []
    finally:
        await context.close()
        for peer in peers:
            await peer.close()
