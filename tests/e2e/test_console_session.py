"""The console's sessions in real Chromium: "Sign out everywhere" ends this browser's
session and every other one of the same staff member."""

from __future__ import annotations

from playwright.async_api import Browser, expect

from tests.e2e.conftest import ConsoleErrors, Stack
from tests.e2e.test_chat_flow import open_console

TIMEOUT = 10_000


async def test_sign_out_everywhere_signs_out_the_other_browsers_too(
    browser: Browser, stack: Stack, console_errors: ConsoleErrors
) -> None:
    member = await stack.server.add_staff("Sam")
    laptop_context = await browser.new_context()
    phone_context = await browser.new_context()
    try:
        laptop = console_errors.watch(await laptop_context.new_page())
        phone = await phone_context.new_page()
        for page in (laptop, phone):
            await open_console(page, stack.server.url, member.email)
            await expect(page.get_by_label("Presence")).to_be_visible(timeout=TIMEOUT)

        await laptop.get_by_role("button", name="Sign out everywhere").click()

        await expect(laptop.get_by_role("button", name="Sign in")).to_be_visible(timeout=TIMEOUT)
        await expect(laptop.get_by_role("alert")).to_have_text("Signed out on every device.")
        # The phone's console socket is closed by the server and its session is gone.
        await expect(phone.get_by_role("button", name="Sign in")).to_be_visible(timeout=TIMEOUT)
        await phone.reload()
        await expect(phone.get_by_role("button", name="Sign in")).to_be_visible(timeout=TIMEOUT)
    finally:
        await laptop_context.close()
        await phone_context.close()
    assert console_errors.errors == []
