"""The widget's basics in real Chromium: what a fresh widget shows, where focus goes, what the
page's language markup claims, the launcher as a close button, live availability, and a
conversation that reopens at its newest message."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Browser, Page, expect

from tests.e2e.conftest import ConsoleErrors, Stack
from tests.e2e.test_chat_flow import accept, ask, sign_in
from tests.support import Peer, customer, staff_peer

TIMEOUT = 10_000
FRAME = 'iframe[title="Porchlight chat"]'

# WCAG relative luminance and contrast of "rgb(r, g, b)" against white, in the page.
CONTRAST_ON_WHITE = """(color) => {
  const [r, g, b] = color.match(/\\d+/g).slice(0, 3).map((v) => {
    const c = Number(v) / 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  const l = 0.2126 * r + 0.7152 * g + 0.0722 * b;
  return 1.05 / (l + 0.05);
}"""


async def open_widget(shop: Page, url: str) -> None:
    await shop.goto(url)
    await shop.get_by_role("button", name="Talk to a person").click()


async def test_a_fresh_widget_is_plain_english_and_offers_only_what_works(
    browser: Browser, stack: Stack, console_errors: ConsoleErrors
) -> None:
    # An Arabic-speaking visitor: the frame's strings are English, so its markup says so.
    context = await browser.new_context(locale="ar-EG")
    try:
        shop = console_errors.watch(await context.new_page())
        await open_widget(shop, stack.shop_url)
        frame = shop.frame_locator(FRAME)
        await expect(frame.get_by_role("button", name="Video call")).to_be_visible(timeout=TIMEOUT)
        assert not await frame.get_by_role("button", name="Back to chat").is_visible()
        html = frame.locator("html")
        await expect(html).to_have_attribute("lang", "en")
        await expect(html).to_have_attribute("dir", "ltr")
        await expect(frame.get_by_role("main")).to_have_count(1)
        await expect(frame.get_by_role("region", name="Chat history")).to_have_attribute(
            "tabindex", "0"
        )
        # The focus ring reads at 3:1 or better on white, in the frame and on the launcher.
        await frame.get_by_role("button", name="Video call").focus()
        await shop.keyboard.press("Shift+Tab")
        await shop.keyboard.press("Tab")
        ring = await frame.locator(":focus").evaluate("el => getComputedStyle(el).outlineColor")
        assert await shop.evaluate(CONTRAST_ON_WHITE, ring) >= 3, ring
        launcher = shop.get_by_role("button", name="Close chat")
        await expect(launcher).to_have_attribute("aria-expanded", "true")
        await shop.keyboard.press("Escape")
        await expect(shop.get_by_role("button", name="Talk to a person")).to_be_focused()
    finally:
        await context.close()
    assert console_errors.errors == []


async def test_queued_for_video_says_so_and_cancel_keeps_focus(
    browser: Browser, stack: Stack, console_errors: ConsoleErrors, clients: list[Peer]
) -> None:
    # The only staff member is busy with someone else, so the next visitor waits in line.
    busy = await staff_peer(stack.server, await stack.server.add_staff("Ana", max_chats=1))
    other = customer(stack.server, site_key="demo-shop", host=stack.shop_url)
    clients += [busy, other]
    await other.connect()
    cid = (await other.ok("conversation.start", {}))["conversation"]["id"]
    await busy.wait_for("ring")
    await busy.ok("ring.accept", {"conversation_id": cid})

    context = await browser.new_context()
    try:
        shop = console_errors.watch(await context.new_page())
        await open_widget(shop, stack.shop_url)
        frame = shop.frame_locator(FRAME)
        await frame.get_by_role("button", name="Video call").click()
        status = frame.get_by_role("status").first
        await expect(status).to_contain_text("You asked for a video call", timeout=TIMEOUT)
        await expect(status).to_contain_text("in line")
        await frame.get_by_role("button", name="Cancel").click()
        await expect(frame.get_by_role("button", name="Start again")).to_be_focused(timeout=TIMEOUT)
    finally:
        await context.close()
    assert console_errors.errors == []


async def test_the_launcher_follows_availability_without_a_socket(
    browser: Browser, stack: Stack, console_errors: ConsoleErrors, clients: list[Peer]
) -> None:
    context = await browser.new_context()
    try:
        shop = console_errors.watch(await context.new_page())
        await shop.goto(stack.shop_url)
        launcher = shop.get_by_role("button", name="Talk to a person")
        await expect(launcher).to_contain_text("leave a message", timeout=TIMEOUT)
        sam = await staff_peer(stack.server, await stack.server.add_staff("Sam"))
        clients.append(sam)
        # The page comes back into view: the launcher asks again.
        await shop.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
        await expect(launcher).to_contain_text("online", timeout=TIMEOUT)
    finally:
        await context.close()
    assert console_errors.errors == []


async def test_a_reloaded_conversation_opens_at_its_newest_message(
    browser: Browser, stack: Stack, console_errors: ConsoleErrors
) -> None:
    member = await stack.server.add_staff("Sam")
    staff_context = await browser.new_context()
    context = await browser.new_context()
    try:
        staff = console_errors.watch(await staff_context.new_page())
        await sign_in(staff, stack.server.url, member.email)
        shop = console_errors.watch(await context.new_page())
        frame = await ask(shop, stack.shop_url, "first question")
        panel = await accept(staff, "first question")
        for n in range(25):
            await panel.get_by_label("Reply").fill(f"answer line {n}")
            await panel.get_by_role("button", name="Send").click()
        log = frame.get_by_role("log", name="Conversation")
        await expect(log).to_contain_text("answer line 24", timeout=TIMEOUT)

        await shop.reload()
        await shop.get_by_role("button", name="Talk to a person").click()
        await expect(log).to_contain_text("answer line 24", timeout=TIMEOUT)
        region = frame.get_by_role("region", name="Chat history")
        await expect(frame.get_by_text("answer line 24")).to_be_in_viewport(timeout=TIMEOUT)
        # At the bottom, give or take the typing line's few pixels: not where it started.
        gap = await region.evaluate("el => el.scrollHeight - el.scrollTop - el.clientHeight")
        assert gap < 20, gap
    finally:
        await staff_context.close()
        await context.close()
    assert console_errors.errors == []


async def test_the_customer_rates_the_conversation_and_the_staff_member_sees_it(
    browser: Browser, stack: Stack, console_errors: ConsoleErrors, tmp_path: Path
) -> None:
    member = await stack.server.add_staff("Sam")
    staff_context = await browser.new_context()
    context = await browser.new_context()
    try:
        staff = console_errors.watch(await staff_context.new_page())
        await sign_in(staff, stack.server.url, member.email)
        shop = console_errors.watch(await context.new_page())
        frame = await ask(shop, stack.shop_url, "is the lamp dimmable?")
        panel = await accept(staff, "is the lamp dimmable?")
        await frame.get_by_role("button", name="End chat").click()

        rating = frame.get_by_role("form", name="How was your conversation?")
        await expect(rating).to_be_visible(timeout=TIMEOUT)
        await rating.get_by_role("button", name="Send rating").click()
        await expect(rating.get_by_role("radio", name="1 of 5")).to_be_focused()
        # Keyboard: the stars are one radio group.
        await shop.keyboard.press("ArrowRight")
        await shop.keyboard.press("ArrowRight")
        await shop.keyboard.press("ArrowRight")
        await expect(rating.get_by_role("radio", name="4 of 5")).to_be_checked()
        await rating.get_by_label("Anything to add? (optional)").fill("Quick and kind")
        await shop.screenshot(path=tmp_path / "rating.png")
        await rating.get_by_role("button", name="Send rating").click()
        await expect(frame.get_by_role("status").filter(has_text="Thank you")).to_have_text(
            "Thank you: you rated this conversation 4 of 5.", timeout=TIMEOUT
        )
        await expect(panel.get_by_text("Rated 4 of 5: “Quick and kind”")).to_be_visible(
            timeout=TIMEOUT
        )
        await staff.screenshot(path=tmp_path / "rated-panel.png")
    finally:
        await staff_context.close()
        await context.close()
    assert console_errors.errors == []
