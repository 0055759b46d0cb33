"""The first complete slice, in real Chromium: a customer on the demo shop talks to a staff
member in the console, reloads, and sees the conversation end."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from playwright.async_api import Browser, BrowserContext, FrameLocator, Locator, Page, expect

from tests.e2e.conftest import ConsoleErrors, Stack
from tests.support import PASSWORD

TIMEOUT = 10_000


@asynccontextmanager
async def sides(browser: Browser) -> AsyncIterator[tuple[BrowserContext, BrowserContext]]:
    """A browser context for the staff member and one for the customer, closed afterwards."""
    staff = await browser.new_context()
    customer = await browser.new_context()
    try:
        yield staff, customer
    finally:
        await staff.close()
        await customer.close()


async def open_console(page: Page, server_url: str, email: str) -> None:
    """Sign in to the console (presence stays as the server has it: away)."""
    await page.goto(f"{server_url}/console")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()


async def sign_in(page: Page, server_url: str, email: str) -> None:
    """Sign in to the console and become available."""
    await open_console(page, server_url, email)
    await page.get_by_label("Presence").select_option("available")


async def ask(shop: Page, shop_url: str, text: str) -> FrameLocator:
    """On the shop, open the widget and send `text`; returns the chat frame."""
    await shop.goto(shop_url)
    await shop.get_by_role("button", name="Talk to a person").click()
    frame = shop.frame_locator('iframe[title="Porchlight chat"]')
    await frame.get_by_label("Message").fill(text)
    await frame.get_by_role("button", name="Send").click()
    return frame


async def accept(staff: Page, first: str) -> Locator:
    """Accept the incoming chat in the console; returns its panel, once `first` shows."""
    await (
        staff.get_by_role("alertdialog", name="Incoming chat")
        .get_by_role("button", name="Accept")
        .click()
    )
    panel = staff.get_by_role("region", name="Conversation with Visitor")
    await expect(panel.get_by_role("log")).to_contain_text(first, timeout=TIMEOUT)
    return panel


async def test_customer_chats_with_staff_reloads_and_sees_the_end(
    browser: Browser, stack: Stack, console_errors: ConsoleErrors
) -> None:
    member = await stack.server.add_staff("Sam")
    async with sides(browser) as (staff_context, customer_context):
        staff = console_errors.watch(await staff_context.new_page())
        await sign_in(staff, stack.server.url, member.email)

        shop = console_errors.watch(await customer_context.new_page())
        await shop.goto(stack.shop_url)
        launcher = shop.get_by_role("button", name="Talk to a person")
        await expect(launcher).to_be_visible()
        # Nothing is stored and no frame exists before the visitor asks for it.
        assert await shop.evaluate("localStorage.length + sessionStorage.length") == 0
        assert await customer_context.cookies() == []
        assert await shop.locator("iframe").count() == 0
        await launcher.click()
        frame = shop.frame_locator('iframe[title="Porchlight chat"]')
        await frame.get_by_label("Message").fill("Do you ship to Lisbon?")
        await frame.get_by_role("button", name="Send").click()
        log = frame.get_by_role("log", name="Conversation")
        await expect(log).to_contain_text("Do you ship to Lisbon?", timeout=TIMEOUT)

        ring = staff.get_by_role("alertdialog", name="Incoming chat")
        await expect(ring).to_be_visible(timeout=TIMEOUT)
        await ring.get_by_role("button", name="Accept").click()
        panel = staff.get_by_role("region", name="Conversation with Visitor")
        await expect(panel.get_by_role("log")).to_contain_text(
            "Do you ship to Lisbon?", timeout=TIMEOUT
        )
        await expect(frame.get_by_role("status")).to_contain_text(
            "You're talking with Sam", timeout=TIMEOUT
        )

        await panel.get_by_label("Reply").fill("Yes, in 3 days.")
        await panel.get_by_role("button", name="Send").click()
        await expect(log).to_contain_text("Yes, in 3 days.", timeout=TIMEOUT)

        await shop.reload()
        await shop.get_by_role("button", name="Talk to a person").click()
        frame = shop.frame_locator('iframe[title="Porchlight chat"]')
        log = frame.get_by_role("log", name="Conversation")
        await expect(log).to_contain_text("Do you ship to Lisbon?", timeout=TIMEOUT)
        await expect(log).to_contain_text("Yes, in 3 days.", timeout=TIMEOUT)
        await expect(frame.get_by_role("status")).to_contain_text(
            "You're talking with Sam", timeout=TIMEOUT
        )

        await panel.get_by_role("button", name="End conversation").click()
        await expect(frame.get_by_text("This conversation has ended.")).to_be_visible(
            timeout=TIMEOUT
        )
        await expect(frame.get_by_role("button", name="Start again")).to_be_visible()
        assert console_errors.errors == []


# Chrome on Android refuses `new Notification()` from a page (TypeError), and the console
# tab is in the background when the ring comes.
REFUSED_NOTIFICATIONS = """
Object.defineProperty(document, "hidden", { get: () => true });
window.Notification = class {
  static permission = "granted";
  static requestPermission() { return Promise.resolve("granted"); }
  constructor() { throw new TypeError("Illegal constructor"); }
};
"""


async def test_a_ring_works_where_page_notifications_are_refused(
    browser: Browser, stack: Stack, console_errors: ConsoleErrors
) -> None:
    member = await stack.server.add_staff("Sam")
    async with sides(browser) as (staff_context, customer_context):
        await staff_context.add_init_script(REFUSED_NOTIFICATIONS)
        staff = console_errors.watch(await staff_context.new_page())
        await sign_in(staff, stack.server.url, member.email)
        shop = console_errors.watch(await customer_context.new_page())
        await ask(shop, stack.shop_url, "Hello from my phone")
        ring = staff.get_by_role("alertdialog", name="Incoming chat")
        await expect(ring).to_be_visible(timeout=TIMEOUT)
        await expect(ring).to_contain_text("Answer within")
        await ring.get_by_role("button", name="Accept").click()
        await expect(ring).to_have_count(0)
        panel = staff.get_by_role("region", name="Conversation with Visitor")
        await expect(panel.get_by_role("log")).to_contain_text("Hello from my phone")
        assert console_errors.errors == []
