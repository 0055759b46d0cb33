"""An admin reads the audit log in the console: entries newest first, filtered by action and
by who, older ones a page at a time; at desktop and phone widths."""

from __future__ import annotations

import os
from pathlib import Path

import aiohttp
from playwright.async_api import Browser, expect

from server.audit import AUDIT, Actor, AuditAction
from tests.e2e.conftest import ConsoleErrors, Stack
from tests.e2e.test_chat_flow import open_console

TIMEOUT = 10_000
SHOTS = Path(os.environ.get("PORCHLIGHT_SHOTS", "")) if os.environ.get("PORCHLIGHT_SHOTS") else None


async def test_an_admin_filters_the_audit_log(
    browser: Browser, stack: Stack, console_errors: ConsoleErrors, tmp_path: Path
) -> None:
    server = stack.server
    admin = await server.add_staff("Root", role="admin")
    async with aiohttp.ClientSession() as http:
        refused = await http.post(
            f"{server.url}/api/v1/auth/login",
            json={"email": "mallory@example.org", "password": "guess"},
            headers={"Origin": server.url},
        )
        assert refused.status == 401
    audit = server.app[AUDIT]
    for n in range(55):
        await audit.record(
            Actor("cli"), AuditAction.SITE_CHANGED, "site:demo-shop", {"changed": [f"greeting {n}"]}
        )
    shots = SHOTS or tmp_path
    context = await browser.new_context()
    try:
        page = console_errors.watch(await context.new_page())
        await open_console(page, server.url, admin.email)
        await page.get_by_role("link", name="Settings").click()
        await page.get_by_role("link", name="Audit log").click()
        await expect(page.get_by_role("heading", name="Audit log", level=1)).to_be_visible(
            timeout=TIMEOUT
        )
        rows = page.get_by_role("table", name="Audit log entries").locator("tbody tr")
        status = page.get_by_role("status")
        await expect(status).to_have_text("50 entries, newest first; older ones below.")
        await expect(rows.first).to_contain_text("Signed in")
        await page.get_by_role("button", name="Show older entries").click()
        await expect(status).to_have_text("57 entries, newest first.")
        await expect(rows.last).to_contain_text("Sign-in refused")
        await expect(page.get_by_role("button", name="Show older entries")).to_be_hidden()

        await page.get_by_label("Action").select_option(label="Sign-ins (all)")
        await page.get_by_role("button", name="Filter").click()
        await expect(status).to_have_text("2 entries, newest first.")
        assert "action=auth." in page.url
        await page.screenshot(path=shots / "audit-log.png", full_page=True)

        await page.get_by_label("Who").fill("mallory@example.org")
        await page.get_by_label("Who").press("Enter")
        await expect(status).to_have_text("1 entry, newest first.")
        await expect(rows.first).to_contain_text("mallory@example.org")
        await expect(rows.first).to_contain_text("invalid")

        await page.reload()
        await expect(page.get_by_label("Who")).to_have_value("mallory@example.org")
        await expect(status).to_have_text("1 entry, newest first.", timeout=TIMEOUT)
        await page.get_by_label("From").fill("2999-01-01")
        await page.get_by_role("button", name="Filter").click()
        await expect(status).to_have_text("Nothing recorded matches these filters.")
        await page.get_by_role("button", name="Clear").click()
        await expect(status).to_have_text("50 entries, newest first; older ones below.")

        await page.set_viewport_size({"width": 390, "height": 844})
        await page.get_by_label("Action").select_option(label="Sign-ins (all)")
        await page.get_by_role("button", name="Filter").click()
        await expect(status).to_have_text("2 entries, newest first.")
        await page.screenshot(path=shots / "audit-log-phone.png", full_page=True)
    finally:
        await context.close()
    assert console_errors.errors == []
