"""The pre-call check's bookkeeping: audio level, candidate types, results, and the manager's
lifecycle with real aiortc peers that never connect (no ICE servers, no remote candidates),
so nothing is sent anywhere."""

from __future__ import annotations

import asyncio
import math
import time
from array import array
from collections.abc import Callable
from typing import Any

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, VideoStreamTrack
from aiortc.rtcconfiguration import RTCIceTransportPolicy
from av import AudioFrame, VideoFrame

from server.media.measure import (
    LevelMeter,
    Tally,
    check_state,
    frame_energy,
    route_type,
    sum_of_squares,
)
from server.media.precheck import (
    PrecheckBusy,
    PrecheckManager,
    PrecheckNotFound,
    PrecheckRejected,
    rtc_configuration,
)
from server.precheck_api import PrecheckOffer
from signaling.errors import ProtocolError
from signaling.protocol import decode
from tests.rtc import candidate_types

TURN = {
    "urls": ["turn:127.0.0.1:3478?transport=udp", "turn:127.0.0.1:3478?transport=tcp"],
    "username": "1:u",
    "credential": "c",
}


# -- audio level -------------------------------------------------------------------------


def s16_frame(samples: list[int], layout: str = "mono") -> AudioFrame:
    channels = 2 if layout == "stereo" else 1
    frame = AudioFrame(format="s16", layout=layout, samples=len(samples) // channels)
    frame.planes[0].update(array("h", samples).tobytes())
    return frame


def test_sum_of_squares() -> None:
    assert sum_of_squares(array("h", [3, -4])) == 25
    assert sum_of_squares(array("f")) == 0


def test_silence_full_scale_and_a_sine() -> None:
    assert frame_energy(s16_frame([0] * 960)) == (0.0, 960)
    energy, count = frame_energy(s16_frame([-32768] * 960))
    assert (energy / count, count) == (1.0, 960)
    sine = [int(16384 * math.sin(2 * math.pi * 440 * i / 48000)) for i in range(960)]
    energy, count = frame_energy(s16_frame(sine))
    assert math.sqrt(energy / count) == pytest.approx(0.5 / math.sqrt(2), rel=0.01)


def test_interleaved_stereo_counts_both_channels() -> None:
    energy, count = frame_energy(s16_frame([16384, 0] * 480, "stereo"))
    assert count == 960
    assert energy == pytest.approx(480 * 0.25)


def test_planar_float_frames_and_unknown_formats() -> None:
    frame = AudioFrame(format="fltp", layout="stereo", samples=100)
    for plane in frame.planes:
        plane.update(array("f", [0.5] * 100).tobytes())
    assert frame_energy(frame) == (pytest.approx(200 * 0.25), 200)
    assert frame_energy(AudioFrame(format="s32", layout="mono", samples=10)) == (0.0, 0)


def test_the_level_is_the_rms_of_the_last_frames() -> None:
    meter = LevelMeter(window=2)
    assert meter.level == 0.0
    meter.add(960 * 0.25, 960)
    assert meter.level == pytest.approx(0.5)
    meter.add(0.0, 960)
    assert meter.level == pytest.approx(math.sqrt(0.125))
    meter.add(0.0, 960)  # the loud frame left the window
    assert meter.level == 0.0
    assert meter.loudest == pytest.approx(0.5)  # but it was heard
    meter.add(10.0 * 960, 960)  # clipped to full scale
    assert meter.level == 1.0
    assert meter.loudest == 1.0


# -- candidate types and states ----------------------------------------------------------


@pytest.mark.parametrize(
    ("local", "remote", "expected"),
    [
        ("relay", "relay", "relay"),
        ("host", "relay", "relay"),
        ("relay", "host", "relay"),
        ("host", "host", "host"),
        ("host", "srflx", "srflx"),
        ("srflx", "host", "host"),
        ("host", "prflx", "srflx"),
        ("host", "nonsense", None),
        (None, "host", None),
        ("host", None, None),
    ],
)
def test_the_route_is_how_the_browser_reaches_us(
    local: str | None, remote: str | None, expected: str | None
) -> None:
    assert route_type(local, remote) == expected


def test_check_states_from_connection_states() -> None:
    assert [check_state(s) for s in ("new", "connecting", "connected", "failed", "closed")] == [
        "connecting",
        "connecting",
        "connected",
        "failed",
        "closed",
    ]


def test_a_tally_reports_what_arrived() -> None:
    tally = Tally()
    assert tally.report("connecting", None, None) == {
        "state": "connecting",
        "video_frames": 0,
        "video_size": None,
        "audio_frames": 0,
        "audio_level": 0.0,
        "selected_candidate_type": None,
        "rtt_ms": None,
    }
    tally.add_frame(VideoFrame(width=320, height=240))
    tally.add_frame(VideoFrame(width=640, height=480))
    tally.add_frame(s16_frame([16384] * 960))
    tally.add_frame("not a frame")
    report = tally.report("connected", "relay", 12.3456)
    assert report["video_frames"] == 2
    assert report["video_size"] == [640, 480]
    assert report["audio_frames"] == 1
    assert report["audio_level"] == 0.5
    assert (report["selected_candidate_type"], report["rtt_ms"]) == ("relay", 12.35)


def test_the_policy_overrides_and_servers_are_explicit() -> None:
    relay = rtc_configuration({"ice_servers": [TURN], "ice_transport_policy": "relay"})
    assert relay.iceTransportPolicy == RTCIceTransportPolicy.RELAY
    assert relay.iceServers is not None and relay.iceServers[0].username == "1:u"
    direct = rtc_configuration({"ice_servers": [], "ice_transport_policy": "all"})
    # an empty list, not None: None would make aiortc use a public STUN server
    assert (direct.iceTransportPolicy, direct.iceServers) == (RTCIceTransportPolicy.ALL, [])


# -- the offer's shape -------------------------------------------------------------------


def test_the_offer_follows_the_call_sdp_rules() -> None:
    sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
    assert decode(PrecheckOffer, {"sdp": sdp, "policy": "all"}).policy == "all"
    for payload, code in [
        ({"sdp": "not an sdp at all", "policy": "all"}, "payload.invalid"),
        ({"sdp": sdp.replace("video", "text"), "policy": "all"}, "payload.invalid"),
        ({"sdp": sdp + "\x00", "policy": "all"}, "payload.invalid"),
        ({"sdp": sdp, "policy": "direct"}, "payload.invalid"),
        ({"sdp": sdp, "policy": "all", "extra": 1}, "payload.invalid"),
        ({"sdp": sdp + "a=x\r\n" * 20_000, "policy": "all"}, "payload.too_large"),
    ]:
        with pytest.raises(ProtocolError) as refused:
            decode(PrecheckOffer, payload)
        assert refused.value.code == code, payload


# -- the manager, with peers that cannot connect ------------------------------------------


class NoServers:
    """An ICE provider with no STUN or TURN: only host candidates, and nobody to reach.
    ``policy`` is what the site or server asks for (``relay`` forces every check relayed)."""

    def __init__(self, policy: str = "all") -> None:
        self.asked: list[tuple[str, str]] = []
        self.policy = policy

    async def config_for(self, site_key: str, participant_id: str) -> dict[str, Any]:
        self.asked.append((site_key, participant_id))
        return {"ice_servers": [], "ice_transport_policy": self.policy}


async def test_a_relay_only_site_runs_every_check_relayed() -> None:
    manager = PrecheckManager(NoServers(policy="relay"))
    forced = await manager.ice_config("all", "visitor", "site")
    assert forced == {"ice_servers": [], "ice_transport_policy": "relay", "relay_only": True}
    free = await PrecheckManager(NoServers()).ice_config("all", "visitor", "site")
    assert free["ice_transport_policy"] == "all" and free["relay_only"] is False


async def browser_offer(end_of_candidates: bool) -> str:
    """An offer with no candidates at all (relay-only without a TURN server). Without
    end-of-candidates the server peer keeps waiting for some: it stays connecting."""
    pc = RTCPeerConnection(
        RTCConfiguration(iceServers=[], iceTransportPolicy=RTCIceTransportPolicy.RELAY)
    )
    try:
        pc.addTrack(VideoStreamTrack())
        await pc.setLocalDescription(await pc.createOffer())
        sdp = pc.localDescription.sdp
    finally:
        await pc.close()
    assert candidate_types(sdp) == set()
    if not end_of_candidates:
        sdp = "".join(line for line in sdp.splitlines(True) if "end-of-candidates" not in line)
    return sdp


async def eventually(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_the_direct_variant_answers_with_host_candidates() -> None:
    provider = NoServers()  # its policy says "relay"; the check asks for "all"
    manager = PrecheckManager(provider)
    check_id, answer = await manager.offer(await browser_offer(False), "all", "v1", "site-a")
    try:
        # The server peer is a TURN user of its own (per check), not the visitor.
        assert provider.asked == [("site-a", f"precheck-{check_id[:16]}")]
        assert "host" in candidate_types(answer)
        assert (await manager.result(check_id, "v1"))["state"] == "connecting"
        assert manager.live_peers == 1
    finally:
        await manager.close(check_id, "v1")
    assert (manager.live_peers, manager.live_tasks) == (0, 0)
    with pytest.raises(PrecheckNotFound):  # deleted: its result is gone too
        await manager.result(check_id, "v1")


async def test_a_check_without_candidates_fails_at_once() -> None:
    manager = PrecheckManager(NoServers())
    # relay-only and no TURN server: the server peer has no candidate, nobody can reach it
    check_id, answer = await manager.offer(await browser_offer(False), "relay", "v1")
    assert candidate_types(answer) == set()
    assert (manager.live_peers, manager.live_tasks) == (0, 0)
    result = await manager.result(check_id, "v1")
    assert (result["state"], result["selected_candidate_type"]) == ("failed", None)
    await manager.close(check_id, "v1")
    with pytest.raises(PrecheckNotFound):
        await manager.close(check_id, "v1")


async def test_busy_owners_timeouts_and_shutdown() -> None:
    manager = PrecheckManager(NoServers(), max_concurrent=1, timeout=30.0)
    waiting = await browser_offer(False)  # host candidates, waiting for the browser's
    first, _ = await manager.offer(waiting, "all", "v1")
    with pytest.raises(PrecheckBusy):
        await manager.offer(waiting, "all", "v2")
    for other in (manager.result(first, "v2"), manager.close(first, "v2")):
        with pytest.raises(PrecheckNotFound):
            await other
    assert (await manager.result(first, "v1"))["state"] == "connecting"
    await manager.close(first, "v1")

    manager.timeout = 0.2
    abandoned, _ = await manager.offer(waiting, "all", "v2")
    await eventually(lambda: manager.live_peers == 0)
    assert manager.live_tasks == 0
    assert (await manager.result(abandoned, "v2"))["state"] == "closed"

    manager.timeout = 30.0
    running, _ = await manager.offer(waiting, "all", "v3")
    await manager.close_all()
    assert (manager.live_peers, manager.live_tasks) == (0, 0)
    for gone in (first, abandoned, running):
        with pytest.raises(PrecheckNotFound):
            await manager.result(gone)


async def test_an_offer_aiortc_cannot_use_is_rejected_and_freed() -> None:
    manager = PrecheckManager(NoServers())
    broken = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
    with pytest.raises(PrecheckRejected):
        await manager.offer(broken, "relay", "v1")
    assert (manager.live_peers, manager.live_tasks) == (0, 0)
