"""Calls in real Chromium when something changes under them: the staff member proposes a
channel, the customer's socket drops while media still flows, and the media path itself dies.
Media goes through a real coturn with relay-only ICE, so every packet stays on 127.0.0.1."""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import re
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, BrowserContext, FrameLocator, Locator, Page, expect

from server.keys import SIO
from tests.coturn import Coturn
from tests.e2e.conftest import ConsoleErrors, Stack
from tests.e2e.test_calls import (
    THEIR_VIDEO,
    TIMEOUT,
    accept_ring,
    audio_only,
    contexts,
    frames_shown,
    open_widget,
    people,
    video_flows,
)
from tests.e2e.test_chat_flow import sign_in


async def within(
    seconds: float, read: Callable[[], Any], check: Callable[[Any], bool], what: str
) -> Any:
    """Poll `read` (sync or async) until `check` holds for its value; fail after `seconds`."""
    deadline = time.monotonic() + seconds
    value: Any = None
    while time.monotonic() < deadline:
        value = read()
        if inspect.isawaitable(value):
            value = await value
        if check(value):
            return value
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out after {seconds}s waiting for {what} (last: {value!r})")


PROPOSAL = re.compile(r"\b(suggested|accepted|declined)\b")


async def call_notes(transcript: Locator) -> list[str]:
    """The transcript's call notes without their duration: "Voice call ended · switched"
    (proposals and their answers are left to `proposal_notes`)."""
    notes = await transcript.locator(".note").all_inner_texts()
    return [
        " · ".join(p for p in n.split(" · ") if not p[0].isdigit())
        for n in notes
        if "call" in n and not PROPOSAL.search(n)
    ]


async def proposal_notes(transcript: Locator) -> list[str]:
    """The transcript's notes of the staff member's proposals and the customer's answers."""
    notes = await transcript.locator(".note").all_inner_texts()
    return [n for n in notes if PROPOSAL.search(n)]


async def test_staff_proposals_are_declined_accepted_and_end_the_call(
    browser: Browser, call_stack: Stack, console_errors: ConsoleErrors
) -> None:
    async with people(browser, call_stack, console_errors) as (staff, frame):
        await frame.get_by_label("Message").fill("Can someone show me the sizes?")
        await frame.get_by_role("button", name="Send").click()
        panel = await accept_ring(staff)
        log = frame.get_by_role("log", name="Conversation")
        staff_log = panel.get_by_role("log")
        await expect(staff_log).to_contain_text("Can someone show me the sizes?", timeout=TIMEOUT)
        customer_call = frame.get_by_role("region", name="Call")
        staff_call = panel.get_by_role("region", name="Call")
        request = frame.get_by_role("alertdialog", name="Call request")

        await panel.get_by_role("button", name="Propose video").click()
        await expect(panel).to_contain_text("Waiting for the customer to answer…")
        await expect(request).to_contain_text("Sam would like to switch to video call.")
        await request.get_by_role("button", name="Decline").click()
        await expect(request).to_have_count(0)
        await expect(panel).to_contain_text("The customer declined.", timeout=TIMEOUT)
        await expect(customer_call).to_have_count(0)
        await expect(staff_call).to_have_count(0)
        assert await call_notes(log) == []

        await panel.get_by_role("button", name="Propose voice").click()
        await expect(request).to_contain_text("Sam would like to switch to voice call.")
        await request.get_by_role("button", name="Accept").click()
        await expect(log).to_contain_text("Voice call started", timeout=TIMEOUT)
        await expect(staff_log).to_contain_text("Voice call started", timeout=TIMEOUT)
        await audio_only(customer_call, "customer")
        await audio_only(staff_call, "staff")
        await expect(customer_call.get_by_role("status")).to_contain_text(
            "You can hear each other", timeout=TIMEOUT
        )

        await panel.get_by_role("button", name="Propose chat").click()
        await expect(request).to_contain_text(
            "Sam would like to end the call and continue in chat."
        )
        await request.get_by_role("button", name="Accept").click()
        await expect(customer_call).to_have_count(0, timeout=TIMEOUT)
        await expect(staff_call).to_have_count(0, timeout=TIMEOUT)
        await expect(log).to_contain_text("Voice call ended", timeout=TIMEOUT)
        await expect(staff_log).to_contain_text("Voice call ended", timeout=TIMEOUT)
        for transcript in (log, staff_log):
            assert await call_notes(transcript) == [
                "Voice call started",
                "Voice call ended · switched",
            ]
        assert await proposal_notes(log) == [
            "Sam suggested a video call",
            "You declined a video call",
            "Sam suggested a voice call",
            "You accepted a voice call",
            "Sam suggested going back to chat",
            "You accepted going back to chat",
        ]
        assert await proposal_notes(staff_log) == [
            "You suggested a video call",
            "The customer declined a video call",
            "You suggested a voice call",
            "The customer accepted a voice call",
            "You suggested going back to chat",
            "The customer accepted going back to chat",
        ]
        # Chat goes on after the call.
        await frame.get_by_label("Message").fill("Thanks, that helped.")
        await frame.get_by_role("button", name="Send").click()
        await expect(staff_log).to_contain_text("Thanks, that helped.", timeout=TIMEOUT)
        assert console_errors.errors == []


async def start_video_call(
    staff_context: BrowserContext,
    customer_context: BrowserContext,
    stack: Stack,
    console_errors: ConsoleErrors,
    watch: Callable[[Page], None] | None = None,
) -> tuple[FrameLocator, Locator]:
    """The customer asks for a video call, the staff member accepts, video flows both ways:
    the customer's frame and the staff member's conversation panel."""
    member = await stack.server.add_staff("Sam")
    staff = console_errors.watch(await staff_context.new_page())
    await sign_in(staff, stack.server.url, member.email)
    shop = console_errors.watch(await customer_context.new_page())
    if watch is not None:
        watch(shop)
    frame = await open_widget(shop, stack.shop_url)
    await frame.get_by_role("button", name="Video call").click()
    panel = await accept_ring(staff)
    await video_flows(frame.get_by_role("region", name="Call"), "customer")
    await video_flows(panel.get_by_role("region", name="Call"), "staff")
    return frame, panel


def customer_sockets(stack: Stack) -> set[str]:
    """The server's connected /customer sockets."""
    sio = stack.server.app[SIO]
    return {sid for sid, _ in sio.manager.get_participants("/customer", None)}


async def test_a_signaling_drop_does_not_end_a_call_whose_media_flows(
    browser: Browser, call_stack: Stack, console_errors: ConsoleErrors
) -> None:
    staff_context, customer_context = await contexts(browser)
    try:
        frame, panel = await start_video_call(
            staff_context, customer_context, call_stack, console_errors
        )
        customer_video = frame.locator(THEIR_VIDEO)
        staff_video = panel.locator(THEIR_VIDEO)
        log = frame.get_by_role("log", name="Conversation")
        staff_log = panel.get_by_role("log")
        reconnecting = frame.get_by_text("Reconnecting…")
        before = customer_sockets(call_stack)
        assert len(before) == 1
        seen = [(await frames_shown(customer_video), await frames_shown(staff_video))]

        async def media_keeps_flowing() -> None:
            """Both sides decode more frames than at the previous look."""
            shown = (await frames_shown(customer_video), await frames_shown(staff_video))
            assert shown[0] > seen[-1][0] and shown[1] > seen[-1][1], (shown, seen[-1])
            seen.append(shown)

        # DevTools offline emulation closes the frame's websocket but leaves loopback WebRTC
        # alone: a real signaling drop under a live call.
        await customer_context.set_offline(True)
        await expect(reconnecting).to_be_visible(timeout=TIMEOUT)
        await within(
            10,
            lambda: customer_sockets(call_stack),
            lambda s: not s,
            "the server to see the customer's socket go",
        )
        offline_until = time.monotonic() + 4
        while time.monotonic() < offline_until:
            await asyncio.sleep(0.5)
            await media_keeps_flowing()
            await expect(reconnecting).to_be_visible()
        await customer_context.set_offline(False)
        deadline = time.monotonic() + 15
        while await reconnecting.is_visible():
            assert time.monotonic() < deadline, "the frame did not reconnect"
            await asyncio.sleep(0.5)
            await media_keeps_flowing()
        after = customer_sockets(call_stack)
        assert len(after) == 1 and after != before
        for _ in range(4):
            await asyncio.sleep(0.5)
            await media_keeps_flowing()
        phase = await customer_video.evaluate("() => window.__porchlightCall.phase")
        assert phase == "connected"
        for transcript in (log, staff_log):
            assert await call_notes(transcript) == ["Video call started"]
        await expect(frame.locator(".call-note")).to_be_hidden()
        await expect(frame.get_by_role("region", name="Call")).to_be_visible()
        await expect(panel.get_by_role("region", name="Call")).to_be_visible()

        # Signaling for the same call works again: a switch to voice goes through.
        await frame.get_by_role("button", name="Voice call").click()
        await expect(staff_log).to_contain_text("Voice call started", timeout=TIMEOUT)
        await audio_only(frame.get_by_role("region", name="Call"), "customer")
        await audio_only(panel.get_by_role("region", name="Call"), "staff")
        for transcript in (log, staff_log):
            assert await call_notes(transcript) == [
                "Video call started",
                "Video call ended · switched",
                "Voice call started",
            ]
        # The browser's own complaints about connecting while offline are expected; nothing else.
        offline = "net::ERR_INTERNET_DISCONNECTED"
        assert [e for e in console_errors.errors if offline not in e] == []
    finally:
        await staff_context.close()
        await customer_context.close()


def stop_coturn(coturn: Coturn) -> None:
    """Kill the fixture's own turnserver (found by its pidfile and checked by its port)."""
    pid = int((coturn.log_path.parent / "turnserver.pid").read_text().strip())
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert f"--listening-port={coturn.port}".encode() in cmdline, cmdline
    os.kill(pid, signal.SIGKILL)


def record_signals(page: Page, sent: list[tuple[str, dict[str, Any]]]) -> None:
    """Record the socket.io events `page` (and its frames) send: (event, payload)."""

    def on_frame(payload: str | bytes) -> None:
        found = re.match(
            r"^42(?:/\w+,)?\d*(\[.*\])$", payload if isinstance(payload, str) else "", re.S
        )
        if found:
            event, *data = json.loads(found.group(1))
            sent.append((event, data[0] if data else {}))

    page.on("websocket", lambda ws: ws.on("framesent", on_frame))


def ice_ufrags(sent: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, str]]:
    """(call id, ICE username fragment) of each offer sent, in order."""
    return [
        (data["call_id"], re.findall(r"a=ice-ufrag:(\S+)", data["sdp"])[0])
        for event, data in sent
        if event == "call.offer"
    ]


async def test_dead_media_falls_back_to_voice_then_to_chat(
    browser: Browser, call_stack: Stack, coturn: Coturn, console_errors: ConsoleErrors
) -> None:
    staff_context, customer_context = await contexts(browser)
    sent: list[tuple[str, dict[str, Any]]] = []
    try:
        frame, panel = await start_video_call(
            staff_context,
            customer_context,
            call_stack,
            console_errors,
            watch=lambda page: record_signals(page, sent),
        )
        log = frame.get_by_role("log", name="Conversation")
        staff_log = panel.get_by_role("log")
        customer_call = frame.get_by_role("region", name="Call")
        staff_call = panel.get_by_role("region", name="Call")
        note = frame.locator(".call-note")
        [(video_call, first_ufrag)] = ice_ufrags(sent)

        # Relay-only ICE: with the TURN server gone no packet can reach the other side.
        stop_coturn(coturn)
        killed = time.monotonic()
        for side in (customer_call, staff_call):
            await expect(side.get_by_role("status")).to_contain_text(
                "Connection lost, reconnecting…", timeout=TIMEOUT
            )
        # The offerer tries an ICE restart (a new offer with new ICE credentials) first.
        await within(
            15,
            lambda: ice_ufrags(sent),
            lambda offers: any(c == video_call and u != first_ufrag for c, u in offers),
            "an ICE restart offer",
        )
        await expect(note).to_have_text(
            "The video connection failed, so we switched to a voice call.", timeout=25_000
        )
        to_voice = time.monotonic() - killed
        for transcript in (log, staff_log):
            await expect(transcript).to_contain_text("Voice call started", timeout=TIMEOUT)
            assert await call_notes(transcript) == [
                "Video call started",
                "Video call ended · connection failed",
                "Voice call started",
            ]

        await expect(note).to_have_text(
            "The call couldn't connect, so we're continuing in chat.", timeout=20_000
        )
        to_chat = time.monotonic() - killed
        await expect(customer_call).to_have_count(0, timeout=TIMEOUT)
        await expect(staff_call).to_have_count(0, timeout=TIMEOUT)
        for transcript in (log, staff_log):
            await expect(transcript.locator(".note").last).to_contain_text(
                "Voice call ended", timeout=TIMEOUT
            )
            assert await call_notes(transcript) == [
                "Video call started",
                "Video call ended · connection failed",
                "Voice call started",
                "Voice call ended · connection failed",
            ]
        ends = [d for e, d in sent if e == "call.end"]
        assert [d["reason"] for d in ends] == ["media_failed", "media_failed"]
        print(f"media died → voice in {to_voice:.1f}s, → chat in {to_chat:.1f}s")

        # The chat carries on both ways.
        await frame.get_by_label("Message").fill("The video froze, can we type?")
        await frame.get_by_role("button", name="Send").click()
        await expect(staff_log).to_contain_text("The video froze, can we type?", timeout=TIMEOUT)
        await panel.get_by_label("Reply").fill("Of course, go ahead.")
        await panel.get_by_role("button", name="Send").click()
        await expect(log).to_contain_text("Of course, go ahead.", timeout=TIMEOUT)
        assert console_errors.errors == []
    finally:
        await staff_context.close()
        await customer_context.close()


async def test_the_staff_side_ends_a_call_whose_customer_is_gone(
    browser: Browser, call_stack: Stack, console_errors: ConsoleErrors
) -> None:
    """The customer's browser goes away mid-call, so nobody is left to restart or fall back:
    the console gives up on its own, says so, and the transcript records why."""
    staff_context, customer_context = await contexts(browser)
    try:
        _, panel = await start_video_call(
            staff_context, customer_context, call_stack, console_errors
        )
        staff_log = panel.get_by_role("log")
        await customer_context.close()
        gone = time.monotonic()
        await expect(panel.locator(".call-note")).to_have_text(
            "The customer's connection was lost, so the call ended.", timeout=60_000
        )
        print(f"staff gave up {time.monotonic() - gone:.1f}s after the customer left")
        await expect(panel.get_by_role("region", name="Call")).to_have_count(0, timeout=TIMEOUT)
        await expect(staff_log.locator(".note").last).to_contain_text(
            "Video call ended", timeout=TIMEOUT
        )
        assert await call_notes(staff_log) == [
            "Video call started",
            "Video call ended · connection failed",
        ]
        # The conversation itself stays open: the staff member can still write.
        await expect(panel.get_by_label("Reply")).to_be_enabled()
        assert console_errors.errors == []
    finally:
        await staff_context.close()
        await customer_context.close()
