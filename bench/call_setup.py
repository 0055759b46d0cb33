"""Call set-up time and the server's CPU during a call, against the design budget
(docs/PERFORMANCE.md).

Two real Chromium contexts call each other through Porchlight: a staff member in the console
(signed in, available) and, for every call, a fresh customer on the demo shop who clicks "Talk
to a person", then "Video call". The clock starts at the staff member's click on Accept. On
both sides the benchmark records when the peer connection's ICE state becomes "connected" and
when the video labelled "Their video" first counts a frame (``totalVideoFrames`` > 0, read
every 10 ms in the page; ``requestVideoFrameCallback`` is kept as a second estimator). The
times are events in the pages, on one clock (``performance.timeOrigin + performance.now()``),
so the polling from here only decides when to stop waiting. The floor, in the same run and
browser, is two plain pages doing the same media set-up (devices, one RTCPeerConnection, the
customer offers, trickled candidates) with the signaling passed through this process: no
server, no socket, no UI. Porchlight and floor calls alternate.

Then, with one video call running through Porchlight, the server's CPU time (and coturn's)
over a fixed window is compared with the same window on an idle server.

``--path relay`` (the default): all media goes through a real coturn on 127.0.0.1 with
relay-only ICE, in Porchlight and in the floor alike. That coturn runs the shipped
deploy/coturn/turnserver.conf, with addresses, ports and secret overridden and relaying to
127.0.0.1 allowed (``tests.coturn.running_coturn``, as in the tests). ``--path direct``: peer
to peer on host candidates, no TURN. So that media can never reach another interface, a
direct run happens in a network namespace of its own that has only loopback (``unshare
--net``, which needs root): the benchmark starts itself again inside one.

    .venv/bin/python bench/call_setup.py [--path relay|direct] [--calls 20] [--warmup 1]
                                         [--cpu-window 60] [--json out.json]

Only 127.0.0.1 is used. Everything it starts is stopped, and its temporary files deleted.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import asdict, dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

from aiohttp import web
from call_pages import FLOOR_PAGE, HOOK
from chat_latency import ServerProcess, cpu_seconds, free_port, percentile, running
from playwright.async_api import (
    Browser,
    BrowserContext,
    Frame,
    Page,
    async_playwright,
    expect,
)

from server.auth import hash_password
from server.migrate import migrate
from server.store import SqlStore
from server.turn import ice_servers
from signaling.ports import ShiftPolicy

ROOT = Path(__file__).resolve().parent
REPO = ROOT.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # tests/ is not installed: running_coturn and the flags

from tests.coturn import Coturn, running_coturn  # noqa: E402
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

HOST = "127.0.0.1"
SITE_KEY = "bench-shop"
STAFF_EMAIL = "sam@bench.test"
STAFF_NAME = "Sam"
STAFF_PASSWORD = "bench-password-0123"  # noqa: S105 - a throwaway account in a temp database
SECRET_KEY = secrets.token_urlsafe(48)
PORCHLIGHT = Path(sys.executable).parent / "porchlight"
# Lets the call code expose its session as window.__porchlightCall (stats only).
TEST_HOOK = "window.__porchlightTest = true;"

READY_TIMEOUT = 30.0  # a process answers HTTP
UI_TIMEOUT = 15_000  # ms: one element appears (Playwright)
CALL_TIMEOUT = 20.0  # both sides connected and showing video
POLL = 0.05  # s between reads of the page marks; the marks themselves are event times
STOP_TIMEOUT = 10.0  # a process exits after SIGTERM
RUN_TIMEOUT = 540.0  # everything, start to finish
SIDES = ("customer", "staff")


# -- processes ------------------------------------------------------------------------------


async def seed(database_url: str, shop_origin: str) -> None:
    """Schema, one site whose widget may run on the demo shop, one staff member."""
    await migrate(database_url)
    store = await SqlStore.open(database_url)
    try:
        await store.create_site(
            key=SITE_KEY,
            name="Bench Shop",
            allowed_origins=(shop_origin,),
            greeting="Hi!",
            secret=secrets.token_urlsafe(32),
        )
        # Calls follow one another here: no wrap-up between them (it would hold each ring).
        await store.set_shift(SITE_KEY, ShiftPolicy(wrapup_call_s=0.0))
        await store.create_staff(
            email=STAFF_EMAIL,
            name=STAFF_NAME,
            role="agent",
            password_hash=hash_password(STAFF_PASSWORD),
            max_chats=3,
        )
    finally:
        await store.close()


@dataclass
class Stack:
    server: ServerProcess
    shop: ServerProcess
    shop_url: str
    coturn: Coturn
    coturn_pid: int
    floor_url: str
    path: str

    def coturn_cpu_seconds(self) -> float:
        return cpu_seconds(self.coturn_pid)


def coturn_pid(workdir: Path) -> int:
    """coturn's pid from its pidfile (running_coturn keeps the Popen to itself)."""
    pidfile = workdir / "turnserver.pid"
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        with suppress(OSError, ValueError):
            pid = int(pidfile.read_text().strip())
            if "turnserver" in Path(f"/proc/{pid}/cmdline").read_text(errors="replace"):
                return pid
        time.sleep(0.05)
    raise RuntimeError(f"coturn wrote no usable pidfile at {pidfile}")


@asynccontextmanager
async def floor_site() -> AsyncIterator[str]:
    """The floor's blank page, served by this process from 127.0.0.1."""

    async def page(_: web.Request) -> web.Response:
        return web.Response(text=FLOOR_PAGE, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, HOST, port).start()
    try:
        yield f"http://{HOST}:{port}/"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def stack(workdir: Path, path: str) -> AsyncIterator[Stack]:
    """coturn, the Porchlight server (relay-only ICE through that coturn, or for the direct
    path no ICE servers at all), the demo shop on another origin, and the floor's page."""
    server_port, shop_port = free_port(), free_port()
    server_url = f"http://{HOST}:{server_port}"
    # Another origin than the server's, as in production (and as in tests/e2e).
    shop_url = f"http://localhost:{shop_port}"
    database_url = f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
    await seed(database_url, shop_url)
    with running_coturn(workdir) as coturn:
        env = {
            **os.environ,
            "PORCHLIGHT_PUBLIC_URL": server_url,
            "PORCHLIGHT_LOG_LEVEL": "WARNING",
            "PORCHLIGHT_SECRET_KEY": SECRET_KEY,
            "PORCHLIGHT_RING_TIMEOUT": "60",
        }
        if path == "relay":
            env |= {
                "PORCHLIGHT_TURN_HOST": coturn.turn_host,
                "PORCHLIGHT_TURN_PORT": str(coturn.turn_port),
                "PORCHLIGHT_TURN_SECRET": coturn.turn_secret,
                "PORCHLIGHT_ICE_TRANSPORT_POLICY": "relay",
            }
        serve = [str(PORCHLIGHT), "--database-url", database_url, "serve"]
        serve += ["--host", HOST, "--port", str(server_port)]
        shop = [sys.executable, "-m", "demo_site", "--host", HOST, "--port", str(shop_port)]
        shop += ["--widget-url", server_url, "--site", SITE_KEY]
        async with (
            running("porchlight", serve, env, workdir, server_url, "/healthz") as server,
            running(
                "shop", shop, dict(os.environ), workdir, f"http://{HOST}:{shop_port}", "/"
            ) as shop_process,
            floor_site() as floor_url,
        ):
            yield Stack(
                server, shop_process, shop_url, coturn, coturn_pid(workdir), floor_url, path
            )


# -- marks: what the init script recorded in a page -----------------------------------------


READ_MARKS = """() => ({
  accept: window.__bench.accept,
  pcs: window.__bench.pcs.slice(),
  frames: window.__bench.frames.slice(),
  videoEvents: window.__bench.videoEvents.slice(),
  longTasks: window.__bench.longTasks.slice(),
  skew: window.__bench.skew(),
})"""


@dataclass
class Marks:
    """One side of one call, in epoch ms (performance.timeOrigin + performance.now())."""

    created: float
    ice_connected: float
    connected: float | None
    first_frame: float
    first_frame_rvfc: float
    first_frame_received: float | None
    frame_size: str
    skew_ms: float
    tracks: dict[str, Any]
    video_events: dict[str, float]
    long_tasks: list[dict[str, float]]


async def read_marks(where: Page | Frame) -> dict[str, Any]:
    marks: dict[str, Any] = await where.evaluate(READ_MARKS)
    return marks


def complete(raw: dict[str, Any]) -> Marks | None:
    """The side's marks once it has connected and both frame estimators have fired."""
    if not raw["pcs"] or not raw["frames"] or not raw["videoEvents"]:
        return None
    pc, frame, video = raw["pcs"][-1], raw["frames"][0], raw["videoEvents"][-1]
    if pc["iceConnected"] is None or "counted" not in video:
        return None
    return Marks(
        created=pc["created"],
        ice_connected=pc["iceConnected"],
        connected=pc["connected"],
        first_frame=video["counted"],
        first_frame_rvfc=frame["presented"],
        first_frame_received=frame["received"],
        frame_size=f"{frame['width']}x{frame['height']}",
        skew_ms=raw["skew"],
        tracks=pc["tracks"],
        video_events=video,
        long_tasks=raw["longTasks"],
    )


async def wait_marks(customer: Page | Frame, staff: Page) -> tuple[float, dict[str, Marks]]:
    """Poll both sides until each has connected and shown a remote frame; (t0, marks)."""
    deadline = time.monotonic() + CALL_TIMEOUT
    raw: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline:
        raw = {"customer": await read_marks(customer), "staff": await read_marks(staff)}
        done = {side: complete(raw[side]) for side in SIDES}
        accept = raw["staff"]["accept"]
        if accept is not None and all(done.values()):
            return float(accept), {side: marks for side, marks in done.items() if marks}
        await asyncio.sleep(POLL)
    summary = {side: (len(r["pcs"]), r["pcs"][-1:], len(r["frames"])) for side, r in raw.items()}
    raise TimeoutError(f"no connection and video on both sides in {CALL_TIMEOUT:g} s: {summary}")


async def media_path(where: Page | Frame) -> dict[str, Any] | None:
    path: dict[str, Any] | None = await where.evaluate("() => window.__bench.path()")
    return path


LOOPBACK = ("127.0.0.1", "::1")
CANDIDATE_TYPE = {"relay": "relay", "direct": "host"}


def on_loopback(path: dict[str, Any] | None, kind: str) -> bool:
    """The selected pair's candidates are both of the expected type (``relay``: allocated on
    the coturn at 127.0.0.1; ``host``: the browsers' own loopback addresses) and both on
    loopback, so packets never left it."""
    if path is None:
        return False
    return all(
        end.get("type") == kind and end.get("address") in LOOPBACK
        for end in (path["local"], path["remote"])
    )


# -- one call -------------------------------------------------------------------------------


@dataclass
class Sample:
    system: str
    index: int
    warmup: bool
    ok: bool
    error: str = ""
    ice_connected_ms: dict[str, float] = field(default_factory=dict)
    connected_ms: dict[str, float | None] = field(default_factory=dict)
    first_frame_ms: dict[str, float] = field(default_factory=dict)
    first_frame_rvfc_ms: dict[str, float] = field(default_factory=dict)
    first_frame_received_ms: dict[str, float | None] = field(default_factory=dict)
    pc_created_ms: dict[str, float] = field(default_factory=dict)
    frame_size: dict[str, str] = field(default_factory=dict)
    clock_skew_ms: dict[str, float] = field(default_factory=dict)
    video_unmuted_ms: dict[str, float | None] = field(default_factory=dict)
    video_playing_ms: dict[str, float | None] = field(default_factory=dict)
    video_counted_ms: dict[str, float | None] = field(default_factory=dict)
    long_tasks_ms: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    on_loopback: bool = False
    paths: dict[str, Any] = field(default_factory=dict)


def since(t0: float, value: float | None) -> float | None:
    return None if value is None else round(value - t0, 2)


def sample_from(
    system: str, index: int, warmup: bool, t0: float, marks: dict[str, Marks]
) -> Sample:
    sample = Sample(system, index, warmup, ok=True)
    for side, m in marks.items():
        sample.ice_connected_ms[side] = round(m.ice_connected - t0, 2)
        sample.connected_ms[side] = since(t0, m.connected)
        sample.first_frame_ms[side] = round(m.first_frame - t0, 2)
        sample.first_frame_rvfc_ms[side] = round(m.first_frame_rvfc - t0, 2)
        sample.first_frame_received_ms[side] = since(t0, m.first_frame_received)
        sample.pc_created_ms[side] = round(m.created - t0, 2)
        sample.frame_size[side] = m.frame_size
        sample.clock_skew_ms[side] = round(m.skew_ms, 2)
        video = m.tracks.get("video") or {}
        sample.video_unmuted_ms[side] = since(t0, video.get("unmuted"))
        sample.video_playing_ms[side] = since(t0, m.video_events.get("playing"))
        sample.video_counted_ms[side] = since(t0, m.video_events.get("counted"))
        sample.long_tasks_ms[side] = [
            (round(t["start"] - t0, 1), round(t["duration"], 1))
            for t in m.long_tasks
            if t["start"] + t["duration"] >= t0
        ]
    return sample


async def new_customer(browser: Browser) -> BrowserContext:
    context = await browser.new_context()
    await context.add_init_script(TEST_HOOK + HOOK)
    return context


def widget_frame(shop: Page, server_url: str) -> Frame:
    for frame in shop.frames:
        if frame.url.startswith(server_url):
            return frame
    raise RuntimeError(f"no widget frame from {server_url} in {[f.url for f in shop.frames]}")


@dataclass
class LiveCall:
    """A Porchlight video call that is connected and showing video on both sides."""

    context: BrowserContext
    shop: Page
    widget: Frame
    t0: float
    marks: dict[str, Marks]


class Porchlight:
    """The staff console (one page for the whole run) and a fresh customer per call."""

    def __init__(self, browser: Browser, staff_context: BrowserContext, stack: Stack) -> None:
        self.browser = browser
        self.staff_context = staff_context
        self.stack = stack
        self.staff: Page | None = None

    async def sign_in(self) -> None:
        staff = await self.staff_context.new_page()
        await staff.goto(f"{self.stack.server.url}/console")
        await staff.get_by_label("Email").fill(STAFF_EMAIL)
        await staff.get_by_label("Password").fill(STAFF_PASSWORD)
        await staff.get_by_role("button", name="Sign in").click()
        await staff.get_by_label("Presence").select_option("available", timeout=UI_TIMEOUT)
        self.staff = staff

    async def open_call(self) -> LiveCall:
        staff = self.staff
        assert staff is not None
        context = await new_customer(self.browser)
        try:
            shop = await context.new_page()
            await shop.goto(self.stack.shop_url)
            await shop.get_by_role("button", name="Talk to a person").click(timeout=UI_TIMEOUT)
            frame = shop.frame_locator('iframe[title="Porchlight chat"]')
            await frame.get_by_role("button", name="Video call").click(timeout=UI_TIMEOUT)
            ring = staff.get_by_role("alertdialog", name="Incoming chat")
            await expect(ring).to_be_visible(timeout=UI_TIMEOUT)
            await staff.evaluate("() => window.__bench.reset()")
            await ring.get_by_role("button", name="Accept").click(timeout=UI_TIMEOUT)
            await expect(frame.get_by_role("region", name="Call")).to_be_visible(timeout=UI_TIMEOUT)
            widget = widget_frame(shop, self.stack.server.url)
            t0, marks = await wait_marks(widget, staff)
        except BaseException:
            await context.close()
            raise
        return LiveCall(context, shop, widget, t0, marks)

    async def end_call(self, call: LiveCall) -> None:
        """The staff member ends the conversation (and with it the call), then closes it."""
        staff = self.staff
        assert staff is not None
        try:
            panel = staff.get_by_role("region", name="Conversation with Visitor")
            await panel.get_by_role("button", name="End conversation").click(timeout=UI_TIMEOUT)
            frame = call.shop.frame_locator('iframe[title="Porchlight chat"]')
            await expect(frame.get_by_text("This conversation has ended.")).to_be_visible(
                timeout=UI_TIMEOUT
            )
            await panel.get_by_role("button", name="Close", exact=True).click(timeout=UI_TIMEOUT)
            await expect(panel).to_have_count(0, timeout=UI_TIMEOUT)
        finally:
            await call.context.close()

    async def measure(self, index: int, warmup: bool) -> Sample:
        call = await self.open_call()
        try:
            sample = sample_from("porchlight", index, warmup, call.t0, call.marks)
            await check_path(sample, call.widget, self.staff_page, self.stack.path)
        finally:
            await self.end_call(call)
        return sample

    @property
    def staff_page(self) -> Page:
        assert self.staff is not None
        return self.staff


async def check_path(sample: Sample, customer: Page | Frame, staff: Page, path: str) -> None:
    """Record each side's selected candidate pair (bounded wait: stats can lag the event)."""
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        sample.paths = {"customer": await media_path(customer), "staff": await media_path(staff)}
        if all(p is not None for p in sample.paths.values()):
            break
        await asyncio.sleep(0.1)
    kind = CANDIDATE_TYPE[path]
    sample.on_loopback = all(on_loopback(p, kind) for p in sample.paths.values())


class Floor:
    """The same two browser contexts, plain pages, signaling through this process."""

    def __init__(self, browser: Browser, staff_context: BrowserContext, stack: Stack) -> None:
        self.browser = browser
        self.staff_context = staff_context
        self.stack = stack
        self.staff: Page | None = None
        self.customer: Page | None = None
        self.to_staff: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self.to_customer: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self.errors: list[str] = []

    async def open_staff(self) -> None:
        staff = await self.staff_context.new_page()
        await staff.expose_function("benchSignal", self._from_staff)
        await staff.goto(self.stack.floor_url)
        self.staff = staff

    async def _from_staff(self, kind: str, data: str) -> None:
        await self.to_customer.put((kind, data))

    async def _from_customer(self, kind: str, data: str) -> None:
        await self.to_staff.put((kind, data))

    async def pump(self, queue: asyncio.Queue[tuple[str, str]], target: Page) -> None:
        """Deliver one direction's signals in order, each once the previous one is handled."""
        while True:
            kind, data = await queue.get()
            try:
                await target.evaluate("([k, d]) => floor.handle(k, JSON.parse(d))", [kind, data])
            except Exception as error:
                self.errors.append(f"{kind}: {error}")

    def ice(self, who: str) -> dict[str, Any]:
        if self.stack.path == "direct":
            return {"ice_servers": [], "ice_transport_policy": "all"}
        return {
            "ice_servers": ice_servers(self.stack.coturn, who),
            "ice_transport_policy": "relay",
        }

    async def measure(self, index: int, warmup: bool) -> Sample:
        staff = self.staff
        assert staff is not None
        context = await new_customer(self.browser)
        pumps: list[asyncio.Task[None]] = []
        try:
            customer = await context.new_page()
            await customer.expose_function("benchSignal", self._from_customer)
            await customer.goto(self.stack.floor_url)
            for queue in (self.to_staff, self.to_customer):
                while not queue.empty():
                    queue.get_nowait()
            pumps = [
                asyncio.create_task(self.pump(self.to_staff, staff)),
                asyncio.create_task(self.pump(self.to_customer, customer)),
            ]
            await staff.evaluate("() => window.__bench.reset()")
            # The answering side starts first; its start is t0, the floor's "accept".
            await staff.evaluate(
                "ice => { window.__bench.accept = floor.start('answerer', ice); }",
                self.ice(f"floor-staff-{index}"),
            )
            await customer.evaluate(
                "ice => { floor.start('offerer', ice); }", self.ice(f"floor-customer-{index}")
            )
            t0, marks = await wait_marks(customer, staff)
            sample = sample_from("floor", index, warmup, t0, marks)
            await check_path(sample, customer, staff, self.stack.path)
        finally:
            for pump in pumps:
                pump.cancel()
            with suppress(Exception):
                await staff.evaluate("() => floor.close()")
            await context.close()
        return sample


# -- the CPU window ---------------------------------------------------------------------------


@dataclass
class CpuWindow:
    what: str
    seconds: float
    server_cpu_s: float
    coturn_cpu_s: float

    @property
    def server_per_minute(self) -> float:
        return self.server_cpu_s * 60.0 / self.seconds

    @property
    def coturn_per_minute(self) -> float:
        return self.coturn_cpu_s * 60.0 / self.seconds


async def cpu_window(what: str, stack: Stack, seconds: float) -> CpuWindow:
    server, coturn = stack.server.cpu_seconds(), stack.coturn_cpu_seconds()
    started = time.monotonic()
    await asyncio.sleep(seconds)
    elapsed = time.monotonic() - started
    return CpuWindow(
        what=what,
        seconds=round(elapsed, 2),
        server_cpu_s=round(stack.server.cpu_seconds() - server, 3),
        coturn_cpu_s=round(stack.coturn_cpu_seconds() - coturn, 3),
    )


async def frames_decoded(where: Page | Frame) -> int:
    stats = await where.evaluate(
        "async () => window.__porchlightCall ? await window.__porchlightCall.stats() : null"
    )
    return int(stats["video"]["framesDecoded"]) if stats else 0


async def measure_cpu(porchlight: Porchlight, stack: Stack, seconds: float) -> dict[str, Any]:
    """An idle window (console signed in and available, nobody else), then the same window
    during one established Porchlight video call."""
    idle = await cpu_window("idle (staff console available, no customer)", stack, seconds)
    call = await porchlight.open_call()
    try:
        before = {
            "customer": await frames_decoded(call.widget),
            "staff": await frames_decoded(porchlight.staff_page),
        }
        during = await cpu_window("one ongoing video call", stack, seconds)
        after = {
            "customer": await frames_decoded(call.widget),
            "staff": await frames_decoded(porchlight.staff_page),
        }
    finally:
        await porchlight.end_call(call)
    fps = {side: round((after[side] - before[side]) / during.seconds, 1) for side in SIDES}
    windows = [idle, during]
    return {
        "windows": [
            {
                **asdict(w),
                "server_cpu_s_per_min": round(w.server_per_minute, 3),
                "coturn_cpu_s_per_min": round(w.coturn_per_minute, 3),
            }
            for w in windows
        ],
        "call_minus_idle_server_cpu_s_per_min": round(
            during.server_per_minute - idle.server_per_minute, 3
        ),
        "decoded_fps_during_call": fps,
    }


# -- the run --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Parameters:
    calls: int
    warmup: int
    cpu_window: float
    path: str = "relay"


async def attempt(
    measure: Callable[[int, bool], Awaitable[Sample]], system: str, index: int, warmup: bool
) -> Sample:
    try:
        return await measure(index, warmup)
    except Exception as error:
        message = f"{type(error).__name__}: {error}".splitlines()[0][:300]
        print(f"  {system} call {index} failed: {message}", file=sys.stderr, flush=True)
        return Sample(system, index, warmup, ok=False, error=message)


async def run(params: Parameters) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="porchlight-bench-") as tmp:
        workdir = Path(tmp)
        async with stack(workdir, params.path) as services, async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            try:
                staff_context = await browser.new_context()
                await staff_context.add_init_script(TEST_HOOK + HOOK)
                porchlight = Porchlight(browser, staff_context, services)
                floor = Floor(browser, staff_context, services)
                await porchlight.sign_in()
                await floor.open_staff()
                samples: list[Sample] = []
                server_cpu = 0.0
                total = params.warmup + params.calls
                for index in range(total):
                    warmup = index < params.warmup
                    before = services.server.cpu_seconds()
                    samples.append(await attempt(porchlight.measure, "porchlight", index, warmup))
                    if not warmup:
                        server_cpu += services.server.cpu_seconds() - before
                    samples.append(await attempt(floor.measure, "floor", index, warmup))
                    last = samples[-2:]
                    print(
                        f"call {index + 1}/{total}{' (warm-up)' if warmup else ''}: "
                        + "; ".join(brief(s) for s in last),
                        file=sys.stderr,
                        flush=True,
                    )
                print(f"CPU windows of {params.cpu_window:g} s ...", file=sys.stderr, flush=True)
                cpu = await measure_cpu(porchlight, services, params.cpu_window)
                cpu["server_cpu_s_per_call_setup_and_teardown"] = round(
                    server_cpu / max(1, params.calls), 3
                )
                return {
                    "chromium": browser.version,
                    "samples": samples,
                    "cpu": cpu,
                    "floor_errors": floor.errors,
                    "coturn": coturn_version(),
                }
            finally:
                await browser.close()


def brief(sample: Sample) -> str:
    if not sample.ok:
        return f"{sample.system} FAILED"
    both_connected = max(sample.ice_connected_ms.values())
    both_frame = max(sample.first_frame_ms.values())
    return f"{sample.system} connected {both_connected:.0f} ms, first frame {both_frame:.0f} ms"


def coturn_version() -> str:
    with suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(
            ["turnserver", "--version"], capture_output=True, text=True, timeout=5, check=False
        )
        return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    return ""


# -- reporting ------------------------------------------------------------------------------


METRICS = {
    "ice_connected_ms": "accept → ICE connected",
    "first_frame_ms": "accept → first remote frame",
    "first_frame_rvfc_ms": "  (requestVideoFrameCallback)",
}


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {}
    return {
        "p50": round(percentile(ordered, 0.50), 1),
        "p95": round(percentile(ordered, 0.95), 1),
        "min": round(ordered[0], 1),
        "max": round(ordered[-1], 1),
        "calls": len(ordered),
    }


def side_values(samples: list[Sample], metric: str, side: str) -> list[float]:
    values = []
    for s in samples:
        by_side: dict[str, float] = getattr(s, metric)
        values.append(max(by_side.values()) if side == "both" else by_side[side])
    return values


def summarize(samples: list[Sample]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for system in ("porchlight", "floor"):
        measured = [s for s in samples if s.system == system and not s.warmup and s.ok]
        out[system] = {
            metric: {
                side: summary(side_values(measured, metric, side))
                for side in ("customer", "staff", "both")
            }
            for metric in METRICS
        }
    return out


def table(stats: dict[str, Any]) -> str:
    lines = [
        f"{'system':<11}{'interval':<30}{'side':<10}{'p50 ms':>8}{'p95 ms':>8}"
        f"{'max ms':>8}{'calls':>7}"
    ]
    for system, metrics in stats.items():
        for metric, label in METRICS.items():
            for side in ("customer", "staff", "both"):
                s = metrics[metric][side]
                if not s:
                    continue
                lines.append(
                    f"{system:<11}{label:<30}{side:<10}{s['p50']:>8.1f}{s['p95']:>8.1f}"
                    f"{s['max']:>8.1f}{s['calls']:>7}"
                )
    return "\n".join(lines)


def cpu_table(cpu: dict[str, Any]) -> str:
    lines = [f"{'window':<48}{'seconds':>8}{'server CPU s/min':>18}{'coturn CPU s/min':>18}"]
    for w in cpu["windows"]:
        lines.append(
            f"{w['what']:<48}{w['seconds']:>8.1f}{w['server_cpu_s_per_min']:>18.3f}"
            f"{w['coturn_cpu_s_per_min']:>18.3f}"
        )
    return "\n".join(lines)


def report(params: Parameters, result: dict[str, Any]) -> dict[str, Any]:
    samples: list[Sample] = result["samples"]
    failed = [s for s in samples if not s.ok]
    measured = [s for s in samples if s.ok]
    skews = [abs(v) for s in measured for v in s.clock_skew_ms.values()]
    return {
        "benchmark": "call_setup",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "nproc": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "chromium": result["chromium"],
            "coturn": result["coturn"],
            "playwright": version("playwright"),
            "python-socketio": version("python-socketio"),
            "aiohttp": version("aiohttp"),
        },
        "parameters": {
            **asdict(params),
            "t0": "the staff page's click event on Accept (event.timeStamp); in the floor, "
            "the answering page's start",
            "clock": "performance.timeOrigin + performance.now() in each page and frame "
            "(epoch ms, same machine clock)",
            "ice_connected": "first iceConnectionState connected/completed of the call's "
            "RTCPeerConnection",
            "first_frame": "first read (every 10 ms, in the page) at which the video labelled "
            "'Their video' counts a frame in getVideoPlaybackQuality().totalVideoFrames",
            "first_frame_rvfc": "requestVideoFrameCallback presentationTime of the first frame "
            "of that video (a second estimator)",
            "both": "the later of the two sides, per call",
            "ice": (
                "coturn on 127.0.0.1 running deploy/coturn/turnserver.conf (plus "
                "--allow-loopback-peers --allowed-peer-ip=127.0.0.1), iceTransportPolicy "
                "relay, for Porchlight and the floor"
                if params.path == "relay"
                else "no ICE servers, iceTransportPolicy all, host candidates on loopback, in a "
                "network namespace with only loopback, for Porchlight and the floor"
            ),
        },
        "summary": summarize(samples),
        "cpu": result["cpu"],
        "failed_calls": [{"system": s.system, "index": s.index, "error": s.error} for s in failed],
        "all_on_loopback": all(s.on_loopback for s in measured),
        "max_clock_skew_ms": round(max(skews), 2) if skews else None,
        "floor_signal_errors": result["floor_errors"],
        "samples": [asdict(s) for s in samples],
    }


def parse(argv: list[str] | None = None) -> tuple[Parameters, Path | None]:
    cli = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cli.add_argument("--calls", type=int, default=20, help="measured calls per system (≥ 20)")
    cli.add_argument("--warmup", type=int, default=1, help="calls first, per system, discarded")
    cli.add_argument(
        "--cpu-window", type=float, default=60.0, help="seconds of each CPU window (idle, call)"
    )
    cli.add_argument(
        "--path",
        choices=["relay", "direct"],
        default="relay",
        help="media through coturn (relay-only ICE) or peer to peer on loopback host candidates",
    )
    cli.add_argument("--json", type=Path, help="also write the JSON report here")
    args = cli.parse_args(argv)
    if args.calls < 1 or args.warmup < 0 or not 1 <= args.cpu_window <= 120:
        cli.error("--calls ≥ 1, --warmup ≥ 0, 1 ≤ --cpu-window ≤ 120")
    return Parameters(args.calls, args.warmup, args.cpu_window, args.path), args.json


ISOLATED = "PORCHLIGHT_BENCH_ISOLATED"


def interfaces() -> list[str]:
    """This network namespace's interfaces (/sys/class/net shows the one sysfs was mounted in)."""
    return sorted(name for _, name in socket.if_nameindex())


def isolate() -> None:
    """Start this benchmark again in a new network namespace whose only interface is loopback,
    so that peer-to-peer media cannot leave it. Returns only inside that namespace."""
    if os.environ.get(ISOLATED) == "1":
        if interfaces() != ["lo"]:
            raise SystemExit(f"not isolated: interfaces {interfaces()}; expected only lo")
        return
    if os.geteuid() != 0:
        raise SystemExit("--path direct needs root: it runs in its own network namespace")
    os.environ[ISOLATED] = "1"
    script = 'ip link set lo up && exec "$0" "$@"'
    command = ["unshare", "--net", "--", "sh", "-c", script, sys.executable, *sys.argv]
    os.execvp("unshare", command)  # noqa: S606 - replaces this process, arguments as given


def main(argv: list[str] | None = None) -> int:
    params, json_path = parse(argv)
    if params.path == "direct":
        isolate()
    started = time.monotonic()
    result = asyncio.run(asyncio.wait_for(run(params), RUN_TIMEOUT))
    document = report(params, result)
    document["run_seconds"] = round(time.monotonic() - started, 1)
    if json_path is not None:
        json_path.write_text(json.dumps(document, indent=2) + "\n")
    print(table(document["summary"]))
    print()
    print(cpu_table(document["cpu"]))
    print()
    print(json.dumps(document, indent=2))
    return 1 if document["failed_calls"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
