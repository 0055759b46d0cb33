"""A message typed while away, in real Chromium, when the staff member ends the conversation
meanwhile: the widget says so, keeps the text, and sends it in a new conversation on request."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Browser, expect

from tests.e2e.conftest import ConsoleErrors, Stack
from tests.e2e.test_chat_flow import TIMEOUT, accept, ask, sides, sign_in


async def test_a_message_typed_while_away_is_not_dropped_when_the_conversation_has_ended(
    browser: Browser, stack: Stack, console_errors: ConsoleErrors, tmp_path: Path
) -> None:
    member = await stack.server.add_staff("Sam")
    async with sides(browser) as (staff_context, customer_context):
        staff = console_errors.watch(await staff_context.new_page())
        await sign_in(staff, stack.server.url, member.email)
        shop = console_errors.watch(await customer_context.new_page())
        frame = await ask(shop, stack.shop_url, "First question")
        panel = await accept(staff, "First question")
        log = frame.get_by_role("log", name="Conversation")
        await expect(log).to_contain_text("Sam joined", timeout=TIMEOUT)

        # The customer's network drops (Chromium closes the open socket too).
        await customer_context.set_offline(True)
        await expect(frame.get_by_text("Reconnecting…")).to_be_visible(timeout=TIMEOUT)
        await frame.get_by_label("Message").fill("Typed while away")
        await frame.get_by_role("button", name="Send").click()
        await expect(log).to_contain_text("Sending…")
        await panel.get_by_role("button", name="End conversation").click()
        await expect(panel).to_contain_text("Ended", timeout=TIMEOUT)

        await customer_context.set_offline(False)
        notice = frame.get_by_role("alert").filter(
            has_text="This conversation ended before your message was sent."
        )
        await expect(notice).to_be_visible(timeout=TIMEOUT)
        kept = log.locator(".msg").filter(has_text="Typed while away")
        await expect(kept).to_contain_text("Not sent")
        await expect(frame.get_by_role("button", name="Start again")).to_be_hidden()
        # To look at: the notice, the kept text, the two choices.
        await shop.screenshot(path=tmp_path / "ended-before-sent.png")

        await notice.get_by_role("button", name="Send in a new conversation").click()
        ring = staff.get_by_role("alertdialog", name="Incoming chat")
        await expect(ring).to_be_visible(timeout=TIMEOUT)
        await panel.get_by_role("button", name="Close").click()
        await ring.get_by_role("button", name="Accept").click()
        fresh = staff.get_by_role("region", name="Conversation with Visitor")
        await expect(fresh.get_by_role("log")).to_contain_text("Typed while away", timeout=TIMEOUT)
        await expect(fresh.get_by_role("log")).not_to_contain_text("First question")
        await expect(notice).to_be_hidden()
        await expect(log.get_by_text("Typed while away")).to_have_count(1)
        await expect(log).not_to_contain_text("Not sent")
        await expect(log).not_to_contain_text("Sending…", timeout=TIMEOUT)
        await expect(log).not_to_contain_text("First question")
        # The cut sockets log WebSocket errors; nothing else may go wrong.
        assert [e for e in console_errors.errors if "WebSocket" not in e] == []
