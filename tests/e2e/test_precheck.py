"""The pre-call check from Chromium against the real server's aiortc peer, for a customer
(frame) and a staff member (console). The site sends calls through the relay only, so the
direct path is reported as not needed, and all media stays on 127.0.0.1."""

from __future__ import annotations

from playwright.async_api import Browser, Locator, expect

from server.precheck_api import PRECHECK
from tests.e2e.conftest import ConsoleErrors, Stack
from tests.e2e.test_calls import open_widget
from tests.e2e.test_chat_flow import sign_in
from tests.support import Peer, staff_peer, until

CHECK_TIMEOUT = 40_000


async def verdicts(panel: Locator) -> dict[str, str]:
    items = (
        await panel.get_by_role("list", name="Check results")
        .get_by_role("listitem")
        .all_text_contents()
    )
    return {text.split(":", 1)[0]: text.split(":", 1)[1].split("—")[0].strip() for text in items}


async def run_check(where: Locator) -> dict[str, str]:
    await where.get_by_role("button", name="Check my camera and connection").click()
    panel = where.get_by_role("region", name="Pre-call check")
    await expect(
        panel.get_by_role("list", name="Check results").get_by_role("listitem")
    ).to_have_count(5, timeout=CHECK_TIMEOUT)
    return await verdicts(panel)


async def test_the_pre_call_check_reports_each_item(
    browser: Browser, call_stack: Stack, console_errors: ConsoleErrors, clients: list[Peer]
) -> None:
    manager = call_stack.server.app[PRECHECK]
    member = await call_stack.server.add_staff("Sam")
    # Someone to call is there (with nobody, the widget offers to leave a message instead).
    ana = await call_stack.server.add_staff("Ana")
    clients.append(await staff_peer(call_stack.server, ana))
    customer_context = await browser.new_context()
    staff_context = await browser.new_context()
    try:
        shop = console_errors.watch(await customer_context.new_page())
        frame = await open_widget(shop, call_stack.shop_url)
        customer = await run_check(frame.locator("body"))
        assert customer == {
            "Camera": "pass",
            "Microphone": "pass",
            "Direct connection": "skipped",
            "TURN relay": "pass",
            "Round trip": "pass",
        }, customer
        await until(lambda: manager.live_peers == 0, what="the customer's check peer closed")

        staff = console_errors.watch(await staff_context.new_page())
        await sign_in(staff, call_stack.server.url, member.email)
        checked = await run_check(staff.locator("body"))
        assert checked["Camera"] == "pass" and checked["TURN relay"] == "pass", checked
        await until(lambda: manager.live_peers == 0 and manager.live_tasks == 0, what="all freed")
        assert console_errors.errors == []
    finally:
        await customer_context.close()
        await staff_context.close()
