"""Nothing lost while Porchlight is down: a message typed meanwhile waits in the outbox, is
shown as sending and arrives exactly once when the server is back; a presence chosen
meanwhile holds."""

from __future__ import annotations

from playwright.async_api import Browser, expect

from tests.e2e.conftest import ConsoleErrors, Stack
from tests.e2e.test_chat_flow import TIMEOUT, accept, ask, open_console, sides, sign_in


async def test_a_message_sent_during_a_restart_arrives_once(
    browser: Browser, stack: Stack, console_errors: ConsoleErrors
) -> None:
    member = await stack.server.add_staff("Sam")
    async with sides(browser) as (staff_context, customer_context):
        staff = await staff_context.new_page()
        await sign_in(staff, stack.server.url, member.email)
        shop = console_errors.watch(await customer_context.new_page())
        frame = await ask(shop, stack.shop_url, "First question")
        panel = await accept(staff, "First question")

        await stack.server.stop()
        await expect(frame.get_by_text("Reconnecting…")).to_be_visible(timeout=TIMEOUT)
        await frame.get_by_label("Message").fill("Sent while you were down")
        await frame.get_by_role("button", name="Send").click()
        log = frame.get_by_role("log", name="Conversation")
        await expect(log).to_contain_text("Sent while you were down")
        await expect(log).to_contain_text("Sending…")

        await stack.server.start()
        staff_log = panel.get_by_role("log")
        await expect(staff_log).to_contain_text("Sent while you were down", timeout=20_000)
        await expect(log).not_to_contain_text("Sending…", timeout=TIMEOUT)
        await expect(staff_log.get_by_text("Sent while you were down")).to_have_count(1)
        await expect(log.get_by_text("Sent while you were down")).to_have_count(1)
        # a reload shows it once too: it is stored, not just on screen
        await shop.reload()
        await shop.get_by_role("button", name="Talk to a person").click()
        frame = shop.frame_locator('iframe[title="Porchlight chat"]')
        log = frame.get_by_role("log", name="Conversation")
        await expect(log.get_by_text("Sent while you were down")).to_have_count(1, timeout=TIMEOUT)
        # The reconnect attempts while the server was down log errors; only page errors
        # (uncaught exceptions) count here.
        assert [e for e in console_errors.errors if "WebSocket" not in e] == []


async def test_presence_chosen_while_reconnecting_holds_when_the_server_is_back(
    browser: Browser, stack: Stack, console_errors: ConsoleErrors
) -> None:
    member = await stack.server.add_staff("Sam")
    async with sides(browser) as (staff_context, customer_context):
        staff = await staff_context.new_page()
        await open_console(staff, stack.server.url, member.email)
        presence = staff.get_by_label("Presence")
        await expect(presence).to_have_value("away", timeout=TIMEOUT)

        await stack.server.stop()
        await expect(staff.get_by_text("Reconnecting…")).to_be_visible(timeout=TIMEOUT)
        await presence.select_option("available")
        await stack.server.start()
        await expect(staff.get_by_text("Reconnecting…")).to_be_hidden(timeout=20_000)
        await expect(presence).to_have_value("available")

        # The server took the choice: a new chat rings Sam.
        shop = console_errors.watch(await customer_context.new_page())
        await ask(shop, stack.shop_url, "Anyone there?")
        ring = staff.get_by_role("alertdialog", name="Incoming chat")
        await expect(ring).to_be_visible(timeout=TIMEOUT)
        assert console_errors.errors == []
