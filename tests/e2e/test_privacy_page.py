"""An admin answers a person's data requests in the console: exports their data as a file,
erases it after confirming, exports again to find only the record of the erasure, and sets
how long a site keeps ended conversations."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

from playwright.async_api import Browser, expect

from server.keys import STORE
from signaling.ports import Changes, NewConversation, NewMessage
from tests.e2e.conftest import ConsoleErrors, Stack
from tests.e2e.test_chat_flow import open_console

TIMEOUT = 10_000


async def test_an_admin_exports_then_erases_a_persons_data(
    browser: Browser, stack: Stack, console_errors: ConsoleErrors, tmp_path: Path
) -> None:
    server = stack.server
    store = server.app[STORE]
    admin = await server.add_staff("Root", role="admin")
    site = await store.get_site("demo-shop")
    assert site is not None
    made = await store.create_conversation(
        NewConversation(site, "visitor-42", visitor_name="Ines"), time.time()
    )
    for n, body in enumerate(("Hello", "My address is Rua Augusta 1")):
        await store.append_message(
            NewMessage(made.id, "customer", "text", body, f"m-{n}"), time.time()
        )
    await store.update_conversation(
        made.id, Changes(status="ended", ended_at=time.time(), ended_by="customer")
    )
    shots = Path(os.environ["PORCHLIGHT_SHOTS"]) if os.environ.get("PORCHLIGHT_SHOTS") else tmp_path

    context = await browser.new_context(accept_downloads=True)
    try:
        page = console_errors.watch(await context.new_page())
        await open_console(page, server.url, admin.email)
        await page.get_by_role("link", name="Settings").click()
        await page.get_by_role("link", name="Personal data").click()
        await expect(page.get_by_role("heading", name="Personal data", level=1)).to_be_visible(
            timeout=TIMEOUT
        )
        status = page.get_by_role("form", name="A person's data").get_by_role("status")
        await page.get_by_role("button", name="Export their data").click()
        await expect(page.get_by_role("alert")).to_have_text(
            "Paste the id of one of their conversations."
        )
        await page.get_by_label("Conversation id").fill(made.id)
        async with page.expect_download() as waiting:
            await page.get_by_role("button", name="Export their data").click()
        download = await waiting.value
        exported = json.loads(await asyncio.to_thread(Path(await download.path()).read_text))
        assert exported["subject"]["visitor_id"] == "visitor-42"
        assert [m["body"] for m in exported["conversations"][0]["messages"]] == [
            "Hello",
            "My address is Rua Augusta 1",
        ]
        await expect(status).to_have_text("Downloaded 1 conversation and 2 messages.")

        await page.get_by_role("button", name="Erase their data…").click()
        await expect(page.get_by_role("button", name="Keep it")).to_be_focused()
        await page.screenshot(path=shots / "privacy-confirm.png", full_page=True)
        await page.get_by_role("button", name="Erase for good").click()
        await expect(status).to_have_text("Erased: 2 messages from 1 conversation.")

        await page.get_by_label("Find them by").select_option(label="Their visitor id on a site")
        await page.get_by_label("Visitor id").fill("visitor-42")
        async with page.expect_download():
            await page.get_by_role("button", name="Export their data").click()
        await expect(status).to_have_text(
            "Downloaded 0 conversations and 0 messages; their data was erased before (1 time)."
        )

        shop = page.get_by_role("form", name="Shop")
        await shop.get_by_label("Keep forever").uncheck()
        await shop.get_by_label("Delete after").fill("30")
        await shop.get_by_role("button", name="Save").click()
        await expect(shop.get_by_role("status")).to_have_text("Saved: deleted after 30 days.")
        saved = await store.get_site("demo-shop")
        assert saved is not None and saved.retention_days == 30
        await page.reload()
        await expect(shop.get_by_label("Delete after")).to_have_value("30", timeout=TIMEOUT)
        await page.set_viewport_size({"width": 390, "height": 844})
        await page.screenshot(path=shots / "privacy-phone.png", full_page=True)
    finally:
        await context.close()
    assert console_errors.errors == []
