"""The transport: only it triggers lifecycle handlers, and what a client sends that does not
decode closes that client's socket with one log line, never a traceback."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import aiohttp
import pytest

from server.auth import SESSION_COOKIE
from tests.raw_socket import CUSTOMER_AUTH, RawSocket, open_raw
from tests.support import Peer, Server, customer, login

FORGED_ENVIRON = {
    "HTTP_ORIGIN": "http://127.0.0.1",
    "HTTP_HOST": "127.0.0.1",
    "REMOTE_ADDR": "203.0.113.9",
}


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def connected_customer(http: aiohttp.ClientSession, server: Server) -> RawSocket:
    raw = await open_raw(http, server)
    assert (await raw.connect("/customer", CUSTOMER_AUTH)).startswith("40/customer,")
    await raw.frame(lambda f: '"session"' in f, what="session")
    return raw


async def test_a_client_cannot_send_disconnect(server: Server, http: aiohttp.ClientSession) -> None:
    raw = await connected_customer(http, server)
    try:
        refused = await raw.call("/customer", 1, "disconnect")
        assert refused["error"]["code"] == "event.unknown"
        # the visitor's identity is still there
        started = await raw.call("/customer", 2, "conversation.start", {})
        assert started["ok"] is True, started
    finally:
        await raw.close()


async def test_a_client_cannot_rerun_connect_with_a_forged_environ(
    server: Server, http: aiohttp.ClientSession
) -> None:
    raw = await connected_customer(http, server)
    try:
        environ = dict(FORGED_ENVIRON, HTTP_ORIGIN=server.url)
        refused = await raw.call("/customer", 1, "connect", environ, CUSTOMER_AUTH)
        assert refused["error"]["code"] == "event.unknown"
        # a round trip after it: any second session would have been sent before this ack
        assert (await raw.call("/customer", 2, "conversation.start", {}))["ok"] is True
        assert len(raw.events("/customer", "session")) == 1
    finally:
        await raw.close()


async def test_a_console_cannot_detach_itself_from_routing(
    server: Server, http: aiohttp.ClientSession, clients: list[Peer]
) -> None:
    member = await server.add_staff("Sam")
    cookie, _ = await login(server, member.email)
    console = await open_raw(http, server, {"Cookie": f"{SESSION_COOKIE}={cookie}"})
    try:
        assert (await console.connect("/staff")).startswith("40/staff,")
        assert (await console.call("/staff", 1, "presence.set", {"status": "available"}))["ok"]
        refused = await console.call("/staff", 2, "disconnect")
        assert refused["error"]["code"] == "event.unknown"
        visitor = customer(server)
        clients.append(visitor)
        await visitor.connect()
        cid = (await visitor.ok("conversation.start", {}))["conversation"]["id"]
        await console.frame(lambda f: f.startswith('42/staff,["ring"') and cid in f, what="ring")
    finally:
        await console.close()


def problems(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """Records that are errors or carry a traceback."""
    return [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


def socket_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "server.sockets"]


@pytest.mark.parametrize(
    "garbage",
    [
        '42/customer,["message.send", {broken',  # socket.io: not JSON
        '42/customer,{"not": "a list"}',  # socket.io: an event without a name
        "4" + "9",  # socket.io: no such packet type
        "x",  # engine.io: no such packet type
        "b4!!!",  # engine.io: not base64
    ],
)
async def test_garbage_frames_close_the_socket_with_one_log_line(
    server: Server,
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
    garbage: str,
) -> None:
    caplog.set_level(logging.INFO)
    raw = await connected_customer(http, server)
    try:
        for _ in range(1000):
            if raw.closed:
                break
            await raw.send(garbage)
        await raw.wait_closed()
    finally:
        await raw.close()
    assert problems(caplog) == []
    assert len(socket_lines(caplog)) == 1, socket_lines(caplog)
    # and the server is fine: a new socket works
    again = await connected_customer(http, server)
    try:
        assert (await again.call("/customer", 1, "conversation.start", {}))["ok"] is True
    finally:
        await again.close()


BINARY_EVENT = '451-/customer,1["message.send",{"_placeholder":true,"num":%d}]'


@pytest.mark.parametrize(
    "frames",
    [
        [BINARY_EVENT % 7, b"\x01"],  # the attachment index is out of range
        [BINARY_EVENT % 0],  # fewer attachments than announced, then text
        [b"\x00\x01"],  # an attachment nobody announced
    ],
    ids=["index-out-of-range", "missing-attachment", "stray-attachment"],
)
async def test_a_binary_event_does_not_wedge_the_socket(
    server: Server,
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
    frames: list[str | bytes],
) -> None:
    caplog.set_level(logging.INFO)
    raw = await connected_customer(http, server)
    try:
        for frame in frames:
            await raw.send(frame)
        await raw.send('42/customer,2["conversation.start",{}]')
        await raw.wait_closed()
        # nothing after the binary packet was taken for an attachment and answered
        assert not [f for f in raw.frames if f.startswith("43/customer,2")]
    finally:
        await raw.close()
    assert problems(caplog) == []
    assert len(socket_lines(caplog)) == 1, socket_lines(caplog)


async def test_well_formed_traffic_still_flows(server: Server, http: aiohttp.ClientSession) -> None:
    """Acks from the client, unknown events and a namespace disconnect are not garbage."""
    raw = await connected_customer(http, server)
    try:
        assert (await raw.call("/customer", 1, "no.such.event", {}))["error"]["code"] == (
            "event.unknown"
        )
        await raw.send('43/customer,99["an ack nobody asked for"]')
        await raw.send("41/customer,")
        assert (await raw.connect("/customer", CUSTOMER_AUTH)).startswith("40/customer,")
        started = await raw.call("/customer", 2, "conversation.start", {})
        assert started["ok"] is True, json.dumps(started)
        assert not raw.closed
    finally:
        await raw.close()
