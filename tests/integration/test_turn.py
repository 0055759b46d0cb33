"""Calls through a real coturn with real aiortc peers, both relay-only, so that neither side
learns the other's address. Offer and answer are passed in-process (no signaling yet).

aiortc never starts ICE when it has gathered no local candidate: ``connectionState`` stays
"new" instead of becoming "failed". With a relay-only policy, the failure signal is therefore
"gathering completed without a relay candidate", which these tests assert with a bound.
"""

from __future__ import annotations

import asyncio
import fractions
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCIceTransportPolicy,
    RTCPeerConnection,
    VideoStreamTrack,
)
from aiortc.rtcicetransport import RTCIceTransport
from av import VideoFrame

from server.turn import ice_servers, mint_turn_credentials
from tests.coturn import Coturn, running_coturn
from tests.support import free_port, until

CONNECT_TIMEOUT = 5.0
# aioice gives up on a TURN server that does not answer after 5 s (its gathering timeout).
UNREACHABLE_TIMEOUT = 8.0
REFUSED_TIMEOUT = 2.0
FRAME_WIDTH, FRAME_HEIGHT = 160, 120


@pytest.fixture(autouse=True)
async def no_leftover_tasks() -> AsyncIterator[None]:
    """Fail a test that leaves asyncio tasks behind (closing is asynchronous, so poll)."""
    before = asyncio.all_tasks()
    yield
    current = asyncio.current_task()

    def leftovers() -> set[asyncio.Task[Any]]:
        return {task for task in asyncio.all_tasks() - before if task is not current}

    try:
        await until(lambda: not leftovers(), timeout=2.0, what="tasks to finish")
    except AssertionError:
        raise AssertionError(f"tasks left behind: {leftovers()}") from None


class SyntheticVideo(VideoStreamTrack):
    """A small black video at aiortc's 30 fps pacing."""

    async def recv(self) -> VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = VideoFrame(width=FRAME_WIDTH, height=FRAME_HEIGHT, format="yuv420p")
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        frame.pts = pts
        frame.time_base = fractions.Fraction(time_base)
        return frame


def relay_only_peer(servers: list[dict[str, Any]]) -> RTCPeerConnection:
    # Always explicit: without iceServers aiortc would ask a public STUN server.
    return RTCPeerConnection(
        RTCConfiguration(
            iceServers=[RTCIceServer(**server) for server in servers],
            iceTransportPolicy=RTCIceTransportPolicy.RELAY,
        )
    )


def sdp_candidates(peer: RTCPeerConnection) -> list[str]:
    return [
        line for line in peer.localDescription.sdp.splitlines() if line.startswith("a=candidate:")
    ]


def ice_transports(peer: RTCPeerConnection) -> list[RTCIceTransport]:
    found = [t.receiver.transport.transport for t in peer.getTransceivers()]
    if peer.sctp is not None:
        found.append(peer.sctp.transport.transport)
    return found


async def negotiate(caller: RTCPeerConnection, callee: RTCPeerConnection) -> None:
    """Offer/answer in-process. aiortc gathers inside setLocalDescription, so each
    description carries its candidates (no trickle)."""
    await caller.setLocalDescription(await caller.createOffer())
    await callee.setRemoteDescription(caller.localDescription)
    await callee.setLocalDescription(await callee.createAnswer())
    await caller.setRemoteDescription(callee.localDescription)


async def test_relay_only_call_through_coturn(coturn: Coturn) -> None:
    caller = relay_only_peer(ice_servers(coturn, "conversation-1"))
    callee = relay_only_peer(ice_servers(coturn, "staff-1"))
    to_callee: asyncio.Queue[str] = asyncio.Queue()
    to_caller: asyncio.Queue[str] = asyncio.Queue()
    received_tracks: list[Any] = []
    callee_channels: list[Any] = []
    try:
        caller.addTrack(SyntheticVideo())
        chat = caller.createDataChannel("chat")
        chat.on("message", to_caller.put_nowait)

        @callee.on("datachannel")
        def on_datachannel(channel: Any) -> None:
            callee_channels.append(channel)
            channel.on("message", to_callee.put_nowait)

        callee.on("track", received_tracks.append)

        await negotiate(caller, callee)
        await until(
            lambda: caller.connectionState == callee.connectionState == "connected",
            timeout=CONNECT_TIMEOUT,
            what="both peers connected",
        )

        # Only relay candidates exist on either side, each a relay address of this coturn, so
        # the selected pair is relay-to-relay.
        for peer in (caller, callee):
            lines = sdp_candidates(peer)
            assert lines, "no candidate in the SDP"
            assert all(" typ relay " in line for line in lines), lines
            for transport in ice_transports(peer):
                local = transport.iceGatherer.getLocalCandidates()
                assert local, "no local candidate"
                for candidate in local + transport.getRemoteCandidates():
                    assert candidate.type == "relay", candidate
                    assert candidate.ip == coturn.host, candidate

        # Data both ways.
        await until(lambda: chat.readyState == "open" and callee_channels, CONNECT_TIMEOUT)
        chat.send("hello from the customer")
        assert await asyncio.wait_for(to_callee.get(), CONNECT_TIMEOUT) == "hello from the customer"
        callee_channels[0].send("hello from staff")
        assert await asyncio.wait_for(to_caller.get(), CONNECT_TIMEOUT) == "hello from staff"

        # Media: at least one decoded frame arrives.
        await until(lambda: received_tracks, CONNECT_TIMEOUT, what="the remote track")
        frame = await asyncio.wait_for(received_tracks[0].recv(), CONNECT_TIMEOUT)
        assert (frame.width, frame.height) == (FRAME_WIDTH, FRAME_HEIGHT)
    finally:
        await caller.close()
        await callee.close()


def faulty_ice_servers(coturn: Coturn, fault: str, who: str) -> list[dict[str, Any]]:
    """The iceServers a peer gets when its TURN server or credential is bad."""
    if fault == "wrong secret":
        return ice_servers(replace(coturn, secret="not-the-coturn-secret"), who)
    servers = ice_servers(coturn, who)
    if fault == "expired credential":
        # Minted with the right secret two TTLs ago: coturn checks the expiry in the username.
        stale = mint_turn_credentials(
            coturn.secret, coturn.turn_ttl, who, now=time.time() - 2 * coturn.turn_ttl
        )
        servers[1].update(username=stale.username, credential=stale.credential)
        return servers
    # A port nobody listens on; aiortc uses the first TURN URL only, so name one transport.
    transport = fault.removeprefix("unreachable over ")
    servers[1]["urls"] = [f"turn:{coturn.host}:{free_port()}?transport={transport}"]
    return servers


@pytest.mark.parametrize("faulty_side", ["caller", "callee"])
@pytest.mark.parametrize(
    ("fault", "bound"),
    [
        # coturn answers 401 at once.
        ("wrong secret", REFUSED_TIMEOUT),
        ("expired credential", REFUSED_TIMEOUT),
        # Nothing answers: aioice's gathering timeout is what ends the wait.
        ("unreachable over udp", UNREACHABLE_TIMEOUT),
        # The connection is refused at once.
        ("unreachable over tcp", REFUSED_TIMEOUT),
    ],
)
async def test_bad_turn_gives_no_relay_candidate_and_no_connection(
    coturn: Coturn, fault: str, bound: float, faulty_side: str
) -> None:
    """One side has a bad TURN server or credential, the other a good one. The bad side
    finishes gathering within ``bound`` without a relay candidate. If it is the callee, the
    caller's ICE runs out of pairs: ``connectionState`` becomes "failed". If it is the caller,
    its offer ends without candidates, aioice drops the callee's ICE component, and nothing
    ever starts: both stay "new"."""
    servers = {side: ice_servers(coturn, side) for side in ("caller", "callee")}
    servers[faulty_side] = faulty_ice_servers(coturn, fault, faulty_side)
    caller = relay_only_peer(servers["caller"])
    callee = relay_only_peer(servers["callee"])
    faulty = caller if faulty_side == "caller" else callee
    try:
        caller.addTrack(SyntheticVideo())
        caller.createDataChannel("chat")
        started = time.monotonic()
        await asyncio.wait_for(negotiate(caller, callee), bound)
        assert faulty.iceGatheringState == "complete"
        assert sdp_candidates(faulty) == []
        for transport in ice_transports(faulty):
            assert transport.iceGatherer.getLocalCandidates() == []
        if faulty is callee:
            remaining = bound - (time.monotonic() - started)
            await until(
                lambda: caller.connectionState == "failed",
                timeout=max(remaining, 0.0),
                what=f"the caller to fail within {bound}s",
            )
            assert callee.connectionState == "new"
        else:
            assert sdp_candidates(callee) == []
            assert caller.connectionState == callee.connectionState == "new"
    finally:
        await caller.close()
        await callee.close()


async def test_shipped_coturn_config_refuses_to_relay_to_loopback(tmp_path: Path) -> None:
    """deploy/coturn/turnserver.conf alone (no loopback allowance, unlike the ``coturn``
    fixture): allocations work (both sides get a relay candidate), but coturn refuses to relay
    to the other side's relay address on 127.0.0.1, so the call cannot connect."""
    with running_coturn(tmp_path, loopback_peers=False) as shipped:
        caller = relay_only_peer(ice_servers(shipped, "caller"))
        callee = relay_only_peer(ice_servers(shipped, "callee"))
        try:
            caller.createDataChannel("chat")
            await asyncio.wait_for(negotiate(caller, callee), REFUSED_TIMEOUT)
            for peer in (caller, callee):
                assert sdp_candidates(peer), "the allocation itself must succeed"
            await until(
                lambda: "403: Forbidden IP" in shipped.log(),
                timeout=CONNECT_TIMEOUT,
                what="coturn to refuse the loopback peer",
            )
            assert "connected" not in (caller.connectionState, callee.connectionState)
        finally:
            await caller.close()
            await callee.close()
