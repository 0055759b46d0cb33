"""Catch-up beyond the replay page, in real Chromium: when more than a page of messages
reached neither side (their hints were lost), the next message shows the gap and both the
widget and the console fill it from the first missing seq, page after page."""

from __future__ import annotations

from playwright.async_api import Browser, Page, expect

from signaling.conversations import REPLAY_LIMIT
from tests.e2e.conftest import ConsoleErrors, Stack
from tests.e2e.test_chat_flow import TIMEOUT, ask, sides, sign_in
from tests.support import store_unannounced

UNHEARD = REPLAY_LIMIT + 100


async def conversation_id(shop: Page) -> str:
    """The conversation the widget keeps (through the loader, in the shop's storage: the
    frame's own is third-party there)."""
    found = await shop.evaluate("localStorage.getItem('porchlight:demo-shop:conversation')")
    assert isinstance(found, str), found
    return found


async def test_catch_up_goes_beyond_the_replay_page(
    browser: Browser, stack: Stack, console_errors: ConsoleErrors
) -> None:
    member = await stack.server.add_staff("Sam")
    async with sides(browser) as (staff_context, customer_context):
        staff = console_errors.watch(await staff_context.new_page())
        await sign_in(staff, stack.server.url, member.email)
        shop = console_errors.watch(await customer_context.new_page())
        frame = await ask(shop, stack.shop_url, "First question")
        await (
            staff.get_by_role("alertdialog", name="Incoming chat")
            .get_by_role("button", name="Accept")
            .click()
        )
        panel = staff.get_by_role("region", name="Conversation with Visitor")
        staff_log = panel.get_by_role("log")
        customer_log = frame.get_by_role("log", name="Conversation")
        await expect(staff_log).to_contain_text("First question", timeout=TIMEOUT)
        await expect(customer_log).to_contain_text("Sam joined", timeout=TIMEOUT)

        cid = await conversation_id(shop)
        await store_unannounced(stack.server, cid, [f"Unheard {n}" for n in range(UNHEARD)])
        # The next message tells both sides that they hold a gap wider than a page.
        await panel.get_by_label("Reply").fill("After the gap")
        await panel.get_by_role("button", name="Send").click()

        for log in (staff_log, customer_log):
            await expect(log).to_contain_text("After the gap", timeout=TIMEOUT)
            for n in (0, REPLAY_LIMIT - 1, REPLAY_LIMIT, UNHEARD - 1):
                await expect(log.get_by_text(f"Unheard {n}", exact=True)).to_have_count(
                    1, timeout=TIMEOUT
                )
            await expect(log.locator(".msg").filter(has_text="Unheard ")).to_have_count(UNHEARD)
        assert console_errors.errors == []
