"""Calls in real Chromium: a customer on the demo shop and a staff member in the console, media
through a real coturn with relay-only ICE, so every packet stays on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    FrameLocator,
    Locator,
    Page,
    async_playwright,
    expect,
)

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, ConsoleErrors, Stack
from tests.e2e.test_chat_flow import sign_in

TIMEOUT = 15_000
MEDIA_WAIT = 20.0
# Lets the call code expose its session as window.__porchlightCall (stats only).
TEST_HOOK = "window.__porchlightTest = true;"
THEIR_VIDEO = 'video[aria-label="Their video"]'


@pytest.fixture
async def honest_browser(browser: Browser) -> AsyncIterator[Browser]:
    """Chromium with fake devices but without --use-fake-ui-for-media-stream, which grants
    every request even against a denied setting: here a denial is a real denial."""
    args = [a for a in CHROMIUM_ARGS if a != "--use-fake-ui-for-media-stream"]
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=args
        )
        yield launched
        await launched.close()


async def eventually(
    read: Callable[[], Awaitable[Any]], check: Callable[[Any], bool], what: str
) -> Any:
    """Poll the async `read` until `check` holds for its value; fail after MEDIA_WAIT."""
    deadline = time.monotonic() + MEDIA_WAIT
    value: Any = None
    while time.monotonic() < deadline:
        value = await read()
        if check(value):
            return value
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what} (last: {value!r})")


async def frames_shown(video: Locator) -> int:
    return int(await video.evaluate("v => v.getVideoPlaybackQuality().totalVideoFrames"))


async def call_stats(where: Locator) -> dict[str, Any]:
    stats: dict[str, Any] | None = await where.evaluate(
        "async () => window.__porchlightCall ? await window.__porchlightCall.stats() : null"
    )
    return stats or {"audio": {"packetsReceived": 0}, "video": {"framesDecoded": 0}}


async def remote_tracks(where: Locator) -> dict[str, int]:
    tracks: dict[str, int] = await where.locator(THEIR_VIDEO).evaluate(
        "v => ({audio: v.srcObject ? v.srcObject.getAudioTracks().length : 0,"
        " video: v.srcObject ? v.srcObject.getVideoTracks().length : 0})"
    )
    return tracks


async def video_flows(where: Locator, side: str) -> None:
    """The other side's video is decoded here and keeps coming."""
    video = where.locator(THEIR_VIDEO)
    first = await eventually(lambda: frames_shown(video), lambda n: n > 0, f"{side}: frames")
    await eventually(lambda: frames_shown(video), lambda n: n > first + 5, f"{side}: more frames")
    decoded = await eventually(
        lambda: call_stats(where), lambda s: s["video"]["framesDecoded"] > 0, f"{side}: decoded"
    )
    assert decoded["rttMs"] is not None
    assert decoded["candidateType"] == "relay"


async def audio_only(where: Locator, side: str) -> None:
    """No video either way, and the other side's audio keeps arriving."""
    await eventually(
        lambda: remote_tracks(where), lambda t: t == {"audio": 1, "video": 0}, f"{side}: tracks"
    )
    first = await eventually(
        lambda: call_stats(where), lambda s: s["audio"]["packetsReceived"] > 0, f"{side}: audio"
    )
    await eventually(
        lambda: call_stats(where),
        lambda s: (
            s["audio"]["packetsReceived"] > first["audio"]["packetsReceived"] + 20
            and s["video"]["framesDecoded"] == 0
            and s["video"]["framesSent"] == 0
        ),
        f"{side}: audio flowing, no video",
    )


async def contexts(browser: Browser) -> tuple[BrowserContext, BrowserContext]:
    staff = await browser.new_context()
    customer = await browser.new_context()
    for context in (staff, customer):
        await context.add_init_script(TEST_HOOK)
    return staff, customer


@asynccontextmanager
async def people(
    browser: Browser, stack: Stack, errors: ConsoleErrors
) -> AsyncIterator[tuple[Page, FrameLocator]]:
    """Sam signed in to the console, and a customer on the demo shop with the widget open:
    (console page, chat frame). Both browser contexts close afterwards."""
    member = await stack.server.add_staff("Sam")
    staff_context, customer_context = await contexts(browser)
    try:
        staff = errors.watch(await staff_context.new_page())
        await sign_in(staff, stack.server.url, member.email)
        shop = errors.watch(await customer_context.new_page())
        yield staff, await open_widget(shop, stack.shop_url)
    finally:
        await staff_context.close()
        await customer_context.close()


async def deny_camera(context: BrowserContext, page: Page, *origins: str) -> None:
    """A real denial: the browser's own camera setting, so getUserMedia rejects with
    NotAllowedError (--use-fake-ui-for-media-stream only answers prompts; a denied setting
    never prompts). Chromium decides an iframe's camera by the top-level origin."""
    cdp = await context.new_cdp_session(page)
    target = await cdp.send("Target.getTargetInfo")
    for origin in origins:
        await cdp.send(
            "Browser.setPermission",
            {
                "permission": {"name": "camera"},
                "setting": "denied",
                "origin": origin,
                "browserContextId": target["targetInfo"]["browserContextId"],
            },
        )


async def open_widget(shop: Page, url: str) -> FrameLocator:
    await shop.goto(url)
    await shop.get_by_role("button", name="Talk to a person").click()
    return shop.frame_locator('iframe[title="Porchlight chat"]')


async def accept_ring(staff: Page) -> Locator:
    ring = staff.get_by_role("alertdialog", name="Incoming chat")
    await expect(ring).to_be_visible(timeout=TIMEOUT)
    await ring.get_by_role("button", name="Accept").click()
    return staff.get_by_role("region", name="Conversation with Visitor")


async def test_video_call_switches_to_voice_and_back_then_to_chat(
    browser: Browser, call_stack: Stack, console_errors: ConsoleErrors
) -> None:
    async with people(browser, call_stack, console_errors) as (staff, frame):
        await frame.get_by_role("button", name="Video call").click()

        panel = await accept_ring(staff)
        customer_call = frame.get_by_role("region", name="Call")
        staff_call = panel.get_by_role("region", name="Call")
        await expect(customer_call).to_be_visible(timeout=TIMEOUT)
        await expect(staff_call).to_be_visible(timeout=TIMEOUT)
        await video_flows(customer_call, "customer")
        # A camera that cannot be opened is said plainly, and the call keeps the one it has.
        cameras = customer_call.get_by_label("Camera", exact=True)
        await cameras.evaluate(
            "s => { s.add(new Option('Gone', 'no-such-device')); s.value = 'no-such-device';"
            " s.dispatchEvent(new Event('change')); }"
        )
        await expect(customer_call.get_by_role("status")).to_contain_text(
            "can't be used", timeout=TIMEOUT
        )
        await expect(cameras).not_to_have_value("no-such-device")
        await video_flows(staff_call, "staff")
        await expect(customer_call.get_by_role("status")).to_contain_text(
            "You can see and hear each other", timeout=TIMEOUT
        )
        await expect(customer_call.get_by_role("status")).to_contain_text(
            "Connection: good", timeout=TIMEOUT
        )
        mute = customer_call.get_by_role("button", name="Mute")
        await mute.click()
        unmute = customer_call.get_by_role("button", name="Unmute")
        await expect(unmute).to_have_attribute("aria-pressed", "true")
        await unmute.click()

        log = frame.get_by_role("log", name="Conversation")
        staff_log = panel.get_by_role("log")
        await frame.get_by_role("button", name="Voice call").click()
        await expect(log).to_contain_text("Voice call started", timeout=TIMEOUT)
        await expect(staff_log).to_contain_text("Voice call started", timeout=TIMEOUT)
        await audio_only(frame.locator("section[aria-label=Call]"), "customer")
        await audio_only(panel.locator("section[aria-label=Call]"), "staff")
        await expect(customer_call.get_by_role("status")).to_contain_text(
            "You can hear each other", timeout=TIMEOUT
        )

        await frame.get_by_role("button", name="Video call").click()
        await expect(log.get_by_text("Video call started")).to_have_count(2, timeout=TIMEOUT)
        await video_flows(customer_call, "customer")
        await video_flows(staff_call, "staff")

        await frame.get_by_role("button", name="Back to chat").click()
        await expect(customer_call).to_have_count(0, timeout=TIMEOUT)
        await expect(staff_call).to_have_count(0, timeout=TIMEOUT)
        await expect(log.get_by_text("Video call ended")).to_have_count(2, timeout=TIMEOUT)
        await expect(log).to_contain_text("ended by you")
        await expect(staff_log).to_contain_text("ended by the customer", timeout=TIMEOUT)

        await frame.get_by_role("button", name="End chat").click()
        await expect(frame.get_by_text("This conversation has ended.")).to_be_visible(
            timeout=TIMEOUT
        )
        for transcript in (log, staff_log):
            notes = await transcript.locator(".note").all_inner_texts()
            calls = [n.split(" · ")[0] for n in notes if "call" in n]
            assert calls == [
                "Video call started",
                "Video call ended",
                "Voice call started",
                "Voice call ended",
                "Video call started",
                "Video call ended",
            ]
        assert console_errors.errors == []


async def test_see_them_only_sends_no_video_from_the_customer(
    browser: Browser, call_stack: Stack, console_errors: ConsoleErrors
) -> None:
    async with people(browser, call_stack, console_errors) as (staff, frame):
        await frame.get_by_role("button", name="See them only").click()
        panel = await accept_ring(staff)

        customer_call = frame.get_by_role("region", name="Call")
        staff_call = panel.get_by_role("region", name="Call")
        await video_flows(customer_call, "customer")
        await expect(customer_call.get_by_label("Your camera")).to_have_count(0)
        await expect(customer_call.get_by_role("status")).to_contain_text(
            "You can see them; they can't see you", timeout=TIMEOUT
        )
        await expect(staff_call.get_by_role("status")).to_contain_text(
            "They can see you; you can't see them", timeout=TIMEOUT
        )
        # The staff side hears the customer and receives no video at all.
        await eventually(
            lambda: remote_tracks(staff_call),
            lambda t: t == {"audio": 1, "video": 0},
            "staff: customer's tracks",
        )
        staff_stats = await eventually(
            lambda: call_stats(staff_call),
            lambda s: s["audio"]["packetsReceived"] > 20,
            "staff: customer's audio",
        )
        assert staff_stats["video"]["framesDecoded"] == 0
        customer_stats = await call_stats(customer_call)
        assert customer_stats["video"]["framesSent"] == 0
        assert console_errors.errors == []


async def test_a_blocked_camera_is_said_plainly_and_voice_still_works(
    browser: Browser, honest_browser: Browser, call_stack: Stack, console_errors: ConsoleErrors
) -> None:
    member = await call_stack.server.add_staff("Sam")
    staff_context = await browser.new_context()
    await staff_context.add_init_script(TEST_HOOK)
    # The microphone is allowed, the camera denied (for the shop and for the frame).
    customer_context = await honest_browser.new_context(permissions=["microphone"])
    await customer_context.add_init_script(TEST_HOOK)
    try:
        staff = console_errors.watch(await staff_context.new_page())
        await sign_in(staff, call_stack.server.url, member.email)
        shop = console_errors.watch(await customer_context.new_page())
        await deny_camera(customer_context, shop, call_stack.shop_url, call_stack.server.url)
        frame = await open_widget(shop, call_stack.shop_url)
        await frame.get_by_role("button", name="Video call").click()
        panel = await accept_ring(staff)

        blocked = frame.get_by_role("alert").filter(has_text="camera or microphone is blocked")
        await expect(blocked).to_be_visible(timeout=TIMEOUT)
        await expect(frame.get_by_role("region", name="Call")).to_have_count(0)
        log = frame.get_by_role("log", name="Conversation")
        await expect(log).to_contain_text("camera or microphone blocked", timeout=TIMEOUT)
        await expect(panel.get_by_role("log")).to_contain_text(
            "camera or microphone blocked", timeout=TIMEOUT
        )

        await blocked.get_by_role("button", name="Continue by voice").click()
        await expect(blocked).to_be_hidden()
        await expect(log).to_contain_text("Voice call started", timeout=TIMEOUT)
        await audio_only(frame.locator("section[aria-label=Call]"), "customer")
        await audio_only(panel.locator("section[aria-label=Call]"), "staff")
        assert console_errors.errors == []
    finally:
        await staff_context.close()
        await customer_context.close()
