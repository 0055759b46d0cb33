"""A site owner adds their website from the console's settings and copies its snippet."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Browser, expect

from tests.e2e.conftest import ConsoleErrors, Stack
from tests.e2e.test_chat_flow import open_console

TIMEOUT = 10_000


async def test_an_admin_adds_a_site_and_copies_its_snippet(
    browser: Browser, stack: Stack, console_errors: ConsoleErrors, tmp_path: Path
) -> None:
    admin = await stack.server.add_staff("Root", role="admin")
    context = await browser.new_context(permissions=["clipboard-read", "clipboard-write"])
    try:
        page = console_errors.watch(await context.new_page())
        await open_console(page, stack.server.url, admin.email)
        await page.get_by_role("link", name="Settings").click()
        await expect(page.get_by_role("heading", name="Sites", level=1)).to_be_visible(
            timeout=TIMEOUT
        )
        await expect(page.get_by_role("link", name="Sites")).to_have_attribute(
            "aria-current", "page"
        )

        await page.get_by_label("Name").fill("Lamp & Co")
        await page.get_by_label("Allowed origins").fill("lamps.example")
        await page.get_by_role("button", name="Add site").click()
        await expect(page.get_by_role("alert")).to_have_text(
            '"lamps.example" is not an origin: write the scheme and host,'
            " such as https://shop.example.com."
        )
        await expect(page.get_by_label("Allowed origins")).to_have_attribute("aria-invalid", "true")

        await page.get_by_label("Allowed origins").fill("https://lamps.example")
        await page.get_by_role("button", name="Add site").click()
        card = page.get_by_role("region", name="Lamp & Co")
        await expect(card).to_contain_text("https://lamps.example", timeout=TIMEOUT)
        await card.get_by_role("button", name="Copy snippet").click()
        await expect(card.get_by_role("status")).to_contain_text("Copied")
        await page.screenshot(path=tmp_path / "settings-sites.png", full_page=True)
        copied = await page.evaluate("navigator.clipboard.readText()")
        assert copied.startswith(f'<script async src="{stack.server.url}/widget.js" data-site=')
    finally:
        await context.close()
    assert console_errors.errors == []
