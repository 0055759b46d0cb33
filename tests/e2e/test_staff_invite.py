"""The must-show of staff invitations: an admin invites someone from the console's Staff
page, the email arrives at a real SMTP server, and the invitee follows its link, chooses a
password and signs in to the console."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, FilePayload, ViewportSize, expect

from tests.e2e.conftest import ConsoleErrors, Stack, running_stack
from tests.e2e.test_chat_flow import open_console
from tests.images import png
from tests.smtp import SmtpServer
from tests.support import free_port

TIMEOUT = 10_000
LINK = re.compile(r"http://127\.0\.0\.1:\d+/account/password\?token=[\w-]+")
PHONE: ViewportSize = {"width": 390, "height": 844}


@pytest.fixture
async def mailed(tmp_path: Path) -> AsyncIterator[tuple[Stack, SmtpServer]]:
    smtp = SmtpServer()
    await smtp.start()
    try:
        async with running_stack(
            tmp_path, smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_security="none"
        ) as stack:
            yield stack, smtp
    finally:
        await smtp.stop()


async def test_an_invited_member_follows_the_emailed_link_sets_a_password_and_signs_in(
    browser: Browser,
    mailed: tuple[Stack, SmtpServer],
    console_errors: ConsoleErrors,
    tmp_path: Path,
) -> None:
    stack, smtp = mailed
    url = stack.server.url
    admin = await stack.server.add_staff("Root", role="admin")
    context = await browser.new_context()
    try:
        page = console_errors.watch(await context.new_page())
        await open_console(page, url, admin.email)
        await page.get_by_role("link", name="Settings").click()
        await page.get_by_role("link", name="Staff").click()
        await expect(page.get_by_role("heading", name="Staff", level=1)).to_be_visible(
            timeout=TIMEOUT
        )
        invite = page.get_by_role("region", name="Invite someone")
        await invite.get_by_label("Email").fill("ana@")
        await invite.get_by_label("Name").fill("Ana Silva")
        await invite.get_by_role("button", name="Send invitation").click()
        await expect(invite.get_by_role("alert")).to_have_text(
            "Write their email address, such as ana@example.com."
        )
        await invite.get_by_label("Email").fill("ana@example.com")
        await invite.get_by_label("Languages").fill("en, pt-BR")
        await invite.get_by_label("Role").select_option("supervisor")
        await invite.get_by_role("button", name="Send invitation").click()
        await expect(page.get_by_role("status").first).to_contain_text(
            "on its way to ana@example.com", timeout=TIMEOUT
        )
        row = page.get_by_role("row").filter(has_text="ana@example.com")
        await expect(row).to_contain_text("Invited")
        await expect(row).to_contain_text("en, pt-BR")
        await page.screenshot(path=tmp_path / "staff.png", full_page=True)

        # Editing: the same limits as the API, said in words; Escape or Cancel closes.
        await page.get_by_role("button", name="Edit Ana Silva").click()
        editor = page.get_by_role("region", name="Edit Ana Silva")
        await expect(editor.get_by_label("Name")).to_be_focused()
        await editor.get_by_label("Chats at once").fill("0")
        await editor.get_by_role("button", name="Save").click()
        await expect(editor.get_by_role("alert")).to_have_text(
            "Chats at once: a whole number from 1 to 50."
        )
        await page.screenshot(path=tmp_path / "staff-edit.png", full_page=True)
        await editor.get_by_label("Chats at once").fill("5")
        await editor.get_by_label("Takes voice and video calls (one at a time)").uncheck()
        await editor.get_by_role("button", name="Save").click()
        await expect(row).to_contain_text("5 chats, no calls", timeout=TIMEOUT)
        await expect(editor).to_have_count(0)
        await page.set_viewport_size(PHONE)
        await page.screenshot(path=tmp_path / "staff-phone.png", full_page=True)
    finally:
        await context.close()

    [email] = await smtp.wait_for(1)
    assert email["To"] == "ana@example.com"
    assert email["Subject"] == "Root invited you to Shop on Porchlight"
    text = email.get_body(("plain",))
    assert text is not None
    found = LINK.search(text.get_content())
    assert found is not None

    invitee = await browser.new_context(viewport=PHONE)
    try:
        page = console_errors.watch(await invitee.new_page())
        await page.goto(found.group(0))
        await expect(page.get_by_role("heading", name="Welcome to Porchlight")).to_be_visible()
        await page.get_by_label("New password").fill("ana's own password")
        await page.get_by_label("Repeat it").fill("ana's own password")
        await page.screenshot(path=tmp_path / "set-password.png", full_page=True)
        await page.get_by_role("button", name="Set password").click()
        await expect(page.get_by_role("status")).to_contain_text("is set")
        await page.get_by_role("link", name="Sign in to the console").click()
        await expect(page.get_by_role("link", name="Forgot your password?")).to_be_visible()
        await page.screenshot(path=tmp_path / "sign-in-phone.png")
        await page.get_by_label("Email").fill("ana@example.com")
        await page.get_by_label("Password").fill("ana's own password")
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.get_by_label("Presence")).to_be_visible(timeout=TIMEOUT)
        # Her profile says who she is; the invitation set her role.
        await page.get_by_role("link", name="Settings").click()
        await page.get_by_role("navigation").get_by_role("link", name="Profile").click()
        await expect(page.get_by_role("heading", name="Profile", level=1)).to_be_visible(
            timeout=TIMEOUT
        )
        await expect(page.get_by_text("supervisor", exact=True)).to_be_visible()
        photo = page.get_by_role("region", name="Photo")
        await expect(photo.locator(".avatar")).to_have_text("AS")
        picture: FilePayload = {"name": "me.png", "mimeType": "image/png", "buffer": png(400, 300)}
        await photo.get_by_label("Choose a photo").set_input_files(files=[picture])
        await expect(photo.get_by_role("status")).to_have_text("Photo saved.", timeout=TIMEOUT)
        shown = photo.locator(".avatar img")
        await expect(shown).to_have_attribute("src", re.compile("^/staff-photos/"))
        assert await shown.evaluate("img => img.complete && img.naturalWidth") == 256
        await page.screenshot(path=tmp_path / "profile-phone.png", full_page=True)
        # The link worked once.
        await page.goto(found.group(0))
        await expect(page.get_by_role("alert")).to_contain_text("expired or has been used")
    finally:
        await invitee.close()
    assert [e for e in console_errors.errors if "410" not in e] == []


async def test_in_development_the_console_lists_every_email_caught(
    browser: Browser, tmp_path: Path, console_errors: ConsoleErrors
) -> None:
    async with running_stack(
        tmp_path,
        mail_catcher=True,
        smtp_host="127.0.0.1",
        smtp_port=free_port(),
        smtp_security="none",
    ) as stack:
        admin = await stack.server.add_staff("Root", role="admin")
        kim = await stack.server.add_staff("Kim")
        context = await browser.new_context()
        try:
            page = console_errors.watch(await context.new_page())
            await open_console(page, stack.server.url, admin.email)
            await expect(page.get_by_label("Presence")).to_be_visible(timeout=TIMEOUT)
            await page.goto(f"{stack.server.url}/console/staff")
            await page.get_by_role("button", name="Send password reset to Kim").click()
            await expect(page.get_by_role("status").first).to_contain_text(
                f"on its way to {kim.email}", timeout=TIMEOUT
            )
            await page.get_by_role("link", name="Caught email").click()
            mail = page.get_by_role("article", name="Reset your Porchlight password")
            await expect(mail).to_contain_text(f"To {kim.email}", timeout=TIMEOUT)
            link = mail.locator('pre a[href*="/account/password?token="]')
            assert "/account/password?token=" in (await link.get_attribute("href") or "")
            await page.screenshot(path=tmp_path / "caught-mail.png", full_page=True)
            async with context.expect_page() as opened:
                await mail.get_by_role("link", name="View as the recipient sees it").click()
            html = await opened.value
            await expect(html.get_by_role("link", name="Choose a new password")).to_be_visible()
            await html.screenshot(path=tmp_path / "caught-mail-html.png", full_page=True)
        finally:
            await context.close()
    assert console_errors.errors == []
