"""A site owner sets up a website from the console's settings: adds it, gives it a colour, a
greeting, a launcher text and side, copies the snippet into a page on another origin, and that
page's widget shows exactly those settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp import web
from playwright.async_api import Browser, Page, expect

from tests.e2e.conftest import ConsoleErrors, Stack
from tests.e2e.test_chat_flow import open_console
from tests.support import free_port

TIMEOUT = 10_000


@asynccontextmanager
async def owner_page(port: int, snippet: str) -> AsyncIterator[str]:
    """The site owner's own page, on its own origin, with the pasted snippet."""

    async def page(_request: web.Request) -> web.Response:
        head = '<!doctype html><title>Lamps</title><link rel="icon" href="data:,">'
        html = f"{head}<h1>Lamp &amp; Co</h1>{snippet}"
        return web.Response(text=html, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://localhost:{port}"
    finally:
        await runner.cleanup()


async def open_sites(page: Page, server_url: str, email: str) -> None:
    await open_console(page, server_url, email)
    await page.get_by_role("link", name="Settings").click()
    await expect(page.get_by_role("heading", name="Sites", level=1)).to_be_visible(timeout=TIMEOUT)


async def test_a_site_set_up_in_the_browser_shows_its_settings_on_another_origin(
    browser: Browser, stack: Stack, console_errors: ConsoleErrors, tmp_path: Path
) -> None:
    admin = await stack.server.add_staff("Root", role="admin")
    port = free_port()
    context = await browser.new_context(permissions=["clipboard-read", "clipboard-write"])
    try:
        page = console_errors.watch(await context.new_page())
        await open_sites(page, stack.server.url, admin.email)
        await expect(page.get_by_role("link", name="Sites")).to_have_attribute(
            "aria-current", "page"
        )

        editor = page.get_by_role("region", name="Add a site")
        await editor.get_by_label("Name", exact=True).fill("Lamp & Co")
        await editor.get_by_label("Allowed origins").fill("lamps.example")
        await editor.get_by_role("button", name="Add site").click()
        await expect(editor.get_by_role("alert")).to_have_text(
            '"lamps.example" is not an origin: write the scheme and host,'
            " such as https://shop.example.com."
        )
        await expect(editor.get_by_label("Allowed origins")).to_have_attribute(
            "aria-invalid", "true"
        )
        await editor.get_by_label("Allowed origins").fill(f"http://localhost:{port}")
        await editor.get_by_role("button", name="Add site").click()
        card = page.get_by_role("region", name="Lamp & Co", exact=True)
        await expect(card).to_contain_text("Not seen yet", timeout=TIMEOUT)

        await card.get_by_role("button", name="Edit").click()
        editor = page.get_by_role("region", name="Edit Lamp & Co")
        await editor.get_by_label("Brand colour").fill("#ffd400")
        await editor.get_by_label("Greeting").fill("Hello from the lamp shop!")
        await editor.get_by_label("Launcher text").fill("Ask a lamp expert")
        await editor.get_by_label("Launcher position").select_option("left")
        # The preview follows the form, with text chosen for contrast on yellow.
        preview = editor.locator(".launcher")
        await expect(preview).to_have_text("Ask a lamp expert")
        await expect(preview).to_have_css("color", "rgb(29, 36, 48)")
        await editor.get_by_role("button", name="Save changes").click()
        await expect(page.get_by_role("status").filter(has_text="Saved")).to_be_visible()
        await page.screenshot(path=tmp_path / "settings-sites.png", full_page=True)

        await card.get_by_role("button", name="Copy snippet").click()
        await expect(card.get_by_role("status")).to_contain_text("Copied")
        snippet = await page.evaluate("navigator.clipboard.readText()")
        assert snippet.startswith(f'<script async src="{stack.server.url}/widget.js"')

        async with owner_page(port, snippet) as origin:
            shop = console_errors.watch(await context.new_page())
            await shop.set_viewport_size({"width": 1280, "height": 800})
            await shop.goto(origin)
            launcher = shop.get_by_role("button", name="Ask a lamp expert")
            await expect(launcher).to_be_visible(timeout=TIMEOUT)
            await expect(launcher).to_have_css("background-color", "rgb(255, 212, 0)")
            await expect(launcher).to_have_css("color", "rgb(29, 36, 48)")
            box = await launcher.bounding_box()
            assert box is not None and box["x"] < 100, box
            await launcher.click()
            frame = shop.frame_locator("iframe[title='Porchlight chat']")
            await expect(frame.get_by_text("Hello from the lamp shop!")).to_be_visible(
                timeout=TIMEOUT
            )
            await expect(frame.locator("header.top")).to_have_css(
                "background-color", "rgb(255, 212, 0)"
            )
            frame_box = await shop.locator("porchlight-widget iframe").bounding_box()
            assert frame_box is not None and frame_box["x"] < 100, frame_box
            await shop.screenshot(path=tmp_path / "owner-page.png")

        # The install check saw the snippet run on the owner's page.
        await page.reload()
        await expect(page.get_by_role("region", name="Lamp & Co", exact=True)).to_contain_text(
            f"Working: seen on {origin}", timeout=TIMEOUT
        )
    finally:
        await context.close()
    assert console_errors.errors == []


async def test_a_deleted_site_needs_its_name_and_then_its_widget_is_gone(
    browser: Browser, stack: Stack, console_errors: ConsoleErrors
) -> None:
    admin = await stack.server.add_staff("Root", role="admin")
    context = await browser.new_context()
    try:
        page = console_errors.watch(await context.new_page())
        await open_sites(page, stack.server.url, admin.email)
        card = page.get_by_role("region", name="Shop")
        await card.get_by_role("button", name="Delete…").click()
        confirm = page.get_by_role("form", name="Delete Shop")
        await expect(confirm.get_by_role("textbox")).to_be_focused()
        await confirm.get_by_role("textbox").fill("shop")
        await confirm.get_by_role("button", name="Delete this site").click()
        await expect(confirm.get_by_role("alert")).to_have_text("The name does not match.")
        await confirm.get_by_role("textbox").fill("Shop")
        await confirm.get_by_role("button", name="Delete this site").click()
        await expect(page.get_by_text("No sites yet.")).to_be_visible(timeout=TIMEOUT)
    finally:
        await context.close()
    assert console_errors.errors == []
    shop = await browser.new_page()
    try:
        response = await shop.goto(
            f"{stack.server.url}/w/frame?site=demo-shop&host={stack.shop_url}"
        )
        assert response is not None and response.status == 404
    finally:
        await shop.close()
