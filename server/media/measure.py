"""Measurements of a pre-call check's server peer: the audio level it hears, the kind of
path ICE chose, and the round trip on that path."""

from __future__ import annotations

import logging
import math
import operator
import time
from array import array
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

from aioice import Connection as IceConnection
from aioice import stun
from aiortc import (
    RTCPeerConnection,
)
from av import AudioFrame, VideoFrame

log = logging.getLogger(__name__)

Policy = Literal["all", "relay"]
CheckState = Literal["connecting", "connected", "failed", "closed"]
CandidateType = Literal["host", "srflx", "relay"]

LEVEL_WINDOW = 50
"""Audio frames the level is computed over: 50 frames of 20 ms, one second."""
"""Seconds between two STUN round-trip probes on the selected candidate pair."""
"""Results of closed checks kept for their owners to read, oldest dropped first."""


def sum_of_squares(samples: array[Any]) -> float:
    """Σ x² over the samples, computed in C rather than a Python loop."""
    return float(sum(map(operator.mul, samples, samples)))


def frame_energy(frame: AudioFrame) -> tuple[float, int]:
    """(Σ x², sample count) of one audio frame, x scaled to full scale 1.0. Formats other than
    16-bit integer and 32-bit float (aiortc's decoders produce ``s16``) count as no samples."""
    name = frame.format.name
    if name in ("s16", "s16p"):
        typecode, full_scale = "h", 32768.0
    elif name in ("flt", "fltp"):
        typecode, full_scale = "f", 1.0
    else:
        return 0.0, 0
    per_plane = frame.samples * (1 if frame.format.is_planar else frame.layout.nb_channels)
    size = per_plane * frame.format.bytes
    energy, count = 0.0, 0
    for plane in frame.planes:
        # Planes may be padded beyond the samples; read exactly the samples.
        samples = array(typecode, bytes(plane)[:size])
        energy += sum_of_squares(samples)
        count += len(samples)
    return energy / (full_scale * full_scale), count


class LevelMeter:
    """The RMS of the last ``window`` audio frames, 0 (silence) .. 1 (full scale), and the
    loudest such window so far: a voice heard once during a check counts, however quiet the
    moment the check ends."""

    def __init__(self, window: int = LEVEL_WINDOW) -> None:
        self._frames: deque[tuple[float, int]] = deque(maxlen=window)
        self.loudest = 0.0

    def add(self, energy: float, count: int) -> None:
        self._frames.append((energy, count))
        self.loudest = max(self.loudest, self.level)

    @property
    def level(self) -> float:
        count = sum(n for _, n in self._frames)
        if count == 0:
            return 0.0
        return min(1.0, math.sqrt(sum(e for e, _ in self._frames) / count))


def route_type(local_type: str | None, remote_type: str | None) -> CandidateType | None:
    """How the browser reaches us on the selected candidate pair: ``relay`` when either end is
    a TURN relay, else the browser's (remote) candidate type. A peer-reflexive candidate is an
    address learned from the browser's checks, i.e. a NAT mapping: reported as ``srflx``."""
    if local_type is None or remote_type is None:
        return None
    if "relay" in (local_type, remote_type):
        return "relay"
    if remote_type == "host":
        return "host"
    if remote_type in ("srflx", "prflx"):
        return "srflx"
    return None


def check_state(connection_state: str) -> CheckState:
    """A check's state from ``RTCPeerConnection.connectionState`` ("new" is connecting)."""
    return _CHECK_STATES.get(connection_state, "connecting")


_CHECK_STATES: dict[str, CheckState] = {
    "connected": "connected",
    "failed": "failed",
    "closed": "closed",
}


@dataclass
class Tally:
    """What arrived from the browser so far."""

    video_frames: int = 0
    video_size: tuple[int, int] | None = None
    audio_frames: int = 0
    meter: LevelMeter = field(default_factory=LevelMeter)

    def add_video(self, width: int, height: int) -> None:
        self.video_frames += 1
        self.video_size = (width, height)

    def add_audio(self, energy: float, count: int) -> None:
        self.audio_frames += 1
        self.meter.add(energy, count)

    def add_frame(self, frame: object) -> None:
        if isinstance(frame, VideoFrame):
            self.add_video(frame.width, frame.height)
        elif isinstance(frame, AudioFrame):
            self.add_audio(*frame_energy(frame))

    def report(
        self, state: CheckState, candidate_type: CandidateType | None, rtt_ms: float | None
    ) -> dict[str, Any]:
        """The result as ``GET /api/v1/precheck/{id}`` returns it."""
        return {
            "state": state,
            "video_frames": self.video_frames,
            "video_size": list(self.video_size) if self.video_size else None,
            "audio_frames": self.audio_frames,
            "audio_level": round(self.meter.loudest, 4),
            "selected_candidate_type": candidate_type,
            "rtt_ms": None if rtt_ms is None else round(rtt_ms, 2),
        }


# -- what aiortc does not expose -------------------------------------------------------------


def _ice_connection(pc: RTCPeerConnection) -> IceConnection | None:
    """aiortc exposes neither the selected candidate pair nor a round trip; both live on the
    aioice connection under the (bundled, so single) transport. Private attributes: every
    use below degrades to "unknown" rather than failing the check."""
    for transceiver in pc.getTransceivers():
        try:
            return transceiver.receiver.transport.transport._connection
        except AttributeError:
            return None
    return None


def selected_route(pc: RTCPeerConnection) -> CandidateType | None:
    connection = _ice_connection(pc)
    pair = getattr(connection, "_nominated", {}).get(1) if connection else None
    if pair is None:
        return None
    return route_type(pair.local_candidate.type, pair.remote_candidate.type)


async def stun_round_trip(pc: RTCPeerConnection) -> float | None:
    """Milliseconds for one STUN binding request on the selected pair, the same request
    aioice sends for consent freshness (RFC 7675); None when unknown or unanswered."""
    connection = _ice_connection(pc)
    pair = getattr(connection, "_nominated", {}).get(1) if connection else None
    if connection is None or pair is None or connection.remote_password is None:
        return None
    request = connection.build_request(pair, nominate=False)
    started = time.perf_counter()
    try:
        await pair.protocol.request(
            request,
            pair.remote_addr,
            integrity_key=connection.remote_password.encode("utf8"),
            retransmissions=0,
        )
    except (stun.TransactionError, ConnectionError, AttributeError, AssertionError):
        return None
    return (time.perf_counter() - started) * 1000
