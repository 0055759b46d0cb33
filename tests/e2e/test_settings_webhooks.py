"""A site owner connects a receiver from the console's Webhooks page: a URL inside the
network is refused, a good one is added and its secret shown once, and a delivery that
failed is sent again from the delivery log (at desktop and phone width)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from playwright.async_api import Browser, expect

from server.keys import STORE, WEBHOOKS
from server.webhooks import Outbox
from signaling.domain_events import DomainEvent, EventKind
from signaling.ports import NewConversation
from tests.e2e.conftest import ConsoleErrors, running_stack
from tests.e2e.test_chat_flow import open_console
from tests.receiver import Receiver

TIMEOUT = 10_000


async def settled(outbox: Outbox, status: str) -> None:
    """Until the one delivery has been attempted and is in ``status``."""
    deadline = time.monotonic() + TIMEOUT / 1000
    while time.monotonic() < deadline:
        (endpoint,) = await outbox.store.endpoints()
        rows = await outbox.store.deliveries(endpoint.id)
        if rows and rows[0].status == status and rows[0].last_attempt_at is not None:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"no delivery became {status}")


async def test_an_admin_adds_an_endpoint_and_sends_a_delivery_again(
    browser: Browser, console_errors: ConsoleErrors, tmp_path: Path
) -> None:
    shots = tmp_path
    receiver = Receiver(status=503)
    await receiver.start()
    async with running_stack(tmp_path, webhook_allowed_networks=("127.0.0.2/32",)) as stack:
        server = stack.server
        admin = await server.add_staff("Root", role="admin")
        context = await browser.new_context(permissions=["clipboard-read", "clipboard-write"])
        try:
            page = console_errors.watch(await context.new_page())
            await open_console(page, server.url, admin.email)
            await page.get_by_role("link", name="Settings").click()
            await page.get_by_role("link", name="Webhooks").click()
            await expect(page.get_by_role("heading", name="Webhooks", level=1)).to_be_visible(
                timeout=TIMEOUT
            )
            await expect(page.get_by_text("No endpoints yet.")).to_be_visible()

            await page.get_by_label("Endpoint URL").fill("http://localhost:9/hooks")
            await page.get_by_label("conversation.queued").check()
            await page.get_by_role("button", name="Add endpoint").click()
            form = page.get_by_role("region", name="Add an endpoint")
            await expect(form.get_by_role("alert")).to_contain_text("cannot be called")
            await expect(page.get_by_label("Endpoint URL")).to_have_attribute(
                "aria-invalid", "true"
            )

            await page.get_by_label("Endpoint URL").fill(receiver.url)
            await page.get_by_label("Description (optional)").fill("Our CRM")
            await page.get_by_label("conversation.ended").check()
            await page.get_by_role("button", name="Add endpoint").click()
            secret = page.get_by_label("Signing secret")
            await expect(secret).to_contain_text("whsec_", timeout=TIMEOUT)
            receiver.secrets.append((await secret.text_content() or "").strip())
            await page.get_by_role("button", name="Copy secret").click()
            assert await page.evaluate("navigator.clipboard.readText()") == receiver.secrets[0]
            card = page.get_by_role("region", name=receiver.url)
            await expect(card.get_by_role("list", name="Subscribed to")).to_contain_text(
                "conversation.queued"
            )
            await page.screenshot(path=shots / "settings-webhooks.png", full_page=True)

            # An event the receiver refuses (503): the log shows it retrying.
            store = server.app[STORE]
            site = await store.get_site("demo-shop")
            assert site is not None
            conversation = await store.create_conversation(NewConversation(site, "visitor-1"), 1.0)
            await store.append_event(
                DomainEvent(
                    EventKind.CONVERSATION_QUEUED,
                    time.time(),
                    "customer",
                    conversation.id,
                    detail={"channel": "chat"},
                )
            )
            await settled(server.app[WEBHOOKS], "pending")
            await card.get_by_role("button", name="Delivery log").click()
            log = page.get_by_role("region", name=f"Deliveries to {receiver.url}")
            await expect(log.get_by_role("cell", name="Retrying")).to_be_visible(timeout=TIMEOUT)
            await expect(log).to_contain_text("503")

            receiver.status = 204
            await log.get_by_role("button", name="Send conversation.queued again").click()
            await settled(server.app[WEBHOOKS], "delivered")
            await log.get_by_role("button", name="Refresh").click()
            await expect(log.get_by_role("cell", name="Delivered", exact=True)).to_be_visible()
            assert len(receiver.hits) >= 2 and receiver.unverified == []
            assert len({hit.webhook_id for hit in receiver.hits}) == 1
            await log.get_by_text("Payload").click()
            await expect(log.locator("details pre")).to_contain_text(
                '"type": "conversation.queued"'
            )
            # Full-page pictures from the top, so the sticky header is where a person sees it.
            await page.evaluate("window.scrollTo(0, 0)")
            await page.screenshot(path=shots / "settings-webhooks-log.png", full_page=True)
            await page.set_viewport_size({"width": 390, "height": 844})
            await page.screenshot(path=shots / "settings-webhooks-phone.png", full_page=True)
        finally:
            await context.close()
            await receiver.close()
    # Chromium logs the refusal of the inner URL (a 400 the page shows as an alert) as a
    # failed resource load; nothing else may be logged.
    assert [e for e in console_errors.errors if "400 (Bad Request)" not in e] == []
    assert len(console_errors.errors) == 1
