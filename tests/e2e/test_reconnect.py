"""Reconnect after a server restart, in real Chromium: the widget and the console retry at
once, then back off with jitter to at most 4 s (widget/src/shared/reconnect.ts), so both are
back within seconds of the server, however long it was down."""

from __future__ import annotations

import time
from collections.abc import Callable

from playwright.async_api import Browser, WebSocket, expect

from tests.e2e.conftest import ConsoleErrors, Stack
from tests.e2e.test_chat_flow import TIMEOUT, accept, ask, sides, sign_in
from tests.support import until

# Failed attempts to wait for while the server is down. After five, socket.io's own back-off
# (1 s doubling, capped at 10 s) waits the full 10 s before the next; ours at most 4 s.
FAILED_ATTEMPTS = 5
DOWN_DEADLINE = 60.0
# One deadline for both sides together, from the restart: well above our cap plus a connect
# and a resume, below the old 10 s (which the side that failed last would wait in full).
BACK_S = 8.0


async def test_reconnect_is_not_slower_than_it_needs_to_be(
    browser: Browser, stack: Stack, console_errors: ConsoleErrors
) -> None:
    member = await stack.server.add_staff("Sam")
    async with sides(browser) as (staff_context, customer_context):
        staff = console_errors.watch(await staff_context.new_page())
        await sign_in(staff, stack.server.url, member.email)
        shop = console_errors.watch(await customer_context.new_page())
        frame = await ask(shop, stack.shop_url, "First question")
        panel = await accept(staff, "First question")

        sockets: dict[str, list[str]] = {"widget": [], "console": []}

        def counter(side: str) -> Callable[[WebSocket], None]:
            def count(ws: WebSocket) -> None:
                if "/socket.io/" in ws.url:
                    sockets[side].append(ws.url)

            return count

        shop.on("websocket", counter("widget"))
        staff.on("websocket", counter("console"))
        await stack.server.stop()
        await expect(frame.get_by_text("Reconnecting…")).to_be_visible(timeout=TIMEOUT)
        await expect(staff.get_by_text("Reconnecting…")).to_be_visible(timeout=TIMEOUT)
        await until(
            lambda: all(len(tries) >= FAILED_ATTEMPTS for tries in sockets.values()),
            DOWN_DEADLINE,
            what=f"{FAILED_ATTEMPTS} failed attempts on each side",
        )

        await stack.server.start()
        back_by = time.monotonic() + BACK_S
        for notice in (frame.get_by_text("Reconnecting…"), staff.get_by_text("Reconnecting…")):
            # (Playwright reads a timeout of 0 as none.)
            left_ms = max(1.0, (back_by - time.monotonic()) * 1000)
            await expect(notice).to_be_hidden(timeout=left_ms)
        # Back for real: a message goes through each way.
        await frame.get_by_label("Message").fill("Are you back?")
        await frame.get_by_role("button", name="Send").click()
        await expect(panel.get_by_role("log")).to_contain_text("Are you back?", timeout=TIMEOUT)
        await panel.get_by_label("Reply").fill("Yes, all back.")
        await panel.get_by_role("button", name="Send").click()
        log = frame.get_by_role("log", name="Conversation")
        await expect(log).to_contain_text("Yes, all back.", timeout=TIMEOUT)
        # The failed attempts log WebSocket errors; nothing else may go wrong.
        assert [e for e in console_errors.errors if "WebSocket" not in e] == []
