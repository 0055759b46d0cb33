"""A supervisor opens Analytics, picks the range and the time zone, and reads the figures in
charts (uPlot canvases) and in the tables beside them; then on a phone."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Browser, Page, expect

from server.keys import STORE
from tests.analytics_scenario import build
from tests.e2e.conftest import ConsoleErrors, Stack
from tests.e2e.test_chat_flow import open_console

TIMEOUT = 10_000


async def _choose(page: Page) -> None:
    await page.get_by_label("From").fill("2026-03-28")
    await page.get_by_label("To").fill("2026-03-30")
    await page.get_by_label("Time zone").select_option("Europe/Paris")
    # Keyboard only: Enter in a field submits the form.
    await page.get_by_label("Service level within (s)").fill("60")
    await page.get_by_label("Service level within (s)").press("Enter")
    await expect(page.get_by_role("status")).to_have_text(
        "Showing 2026-03-28 to 2026-03-30 (Europe/Paris).", timeout=TIMEOUT
    )


async def test_a_supervisor_reads_the_charts_and_tables(
    browser: Browser, stack: Stack, console_errors: ConsoleErrors, tmp_path: Path
) -> None:
    scenario = await build(stack.server.app[STORE])
    context = await browser.new_context(viewport={"width": 1200, "height": 900})
    try:
        page = console_errors.watch(await context.new_page())
        await open_console(page, stack.server.url, scenario.supervisor.email)
        await page.get_by_role("link", name="Settings").click()
        await page.get_by_role("link", name="Analytics").click()
        await expect(page.get_by_role("heading", name="Analytics", level=1)).to_be_visible(
            timeout=TIMEOUT
        )
        await _choose(page)
        summary = page.get_by_role("region", name="Summary")
        await expect(summary).to_contain_text("Conversations5")
        await expect(summary).to_contain_text("Service level (< 60 s)60 %")
        await expect(summary).to_contain_text("CSAT66.7 %")
        # Three charts drawn, each with its figures in a table beside it.
        await expect(page.locator(".plot canvas")).to_have_count(3)
        for chart in await page.locator(".plot canvas").all():
            box = await chart.bounding_box()
            assert box is not None and box["width"] > 300 and box["height"] > 100
        days = page.get_by_role("region", name="Conversations: the figures")
        await expect(days.get_by_role("row")).to_have_count(4)
        await expect(days.get_by_role("row", name="2026-03-29")).to_contain_text("21")
        agents = page.get_by_role("region", name="By staff member").last
        await expect(agents.get_by_role("row", name="Bob")).to_contain_text("90 s")
        hours = page.get_by_role("region", name="Conversations by hour and channel")
        await expect(hours.get_by_role("row", name="23:00")).to_contain_text("1")
        csv = page.get_by_role("link", name="Download CSV")
        href = await csv.get_attribute("href")
        assert href is not None and "tz=Europe%2FParis" in href and "sla=60" in href
        await page.get_by_label("Group by").select_option("week")
        await page.get_by_role("button", name="Show").click()
        await expect(days.get_by_role("row", name="2026-03-23")).to_contain_text("4")
        await page.get_by_label("Group by").select_option("day")
        await page.get_by_role("button", name="Show").click()
        await expect(days.get_by_role("row")).to_have_count(4)
        await page.screenshot(path=tmp_path / "analytics.png", full_page=True)

        await page.set_viewport_size({"width": 390, "height": 844})
        await expect(page.locator(".plot canvas").first).to_be_visible()
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page scrolls sideways on a phone ({width} px)"
        await page.screenshot(path=tmp_path / "analytics-phone.png", full_page=True)
    finally:
        await context.close()
    assert console_errors.errors == []
