"""Test support: aiortc peers standing in for the customer's and the staff member's browser,
configured from the ICE settings Porchlight hands each side."""

from __future__ import annotations

import asyncio
from typing import Any

from aiortc import (
    RTCPeerConnection,
    RTCSessionDescription,
    VideoStreamTrack,
)
from aiortc.mediastreams import MediaStreamTrack

from server.media.precheck import rtc_configuration


def peer_from(ice: dict[str, Any]) -> RTCPeerConnection:
    """A peer connection exactly as the client would build it from ``ice`` (the servers are
    always explicit: aiortc otherwise falls back to a public STUN server)."""
    return RTCPeerConnection(rtc_configuration(ice))


class Receiver:
    """Collects the remote tracks of a peer and counts the frames that arrive on them."""

    def __init__(self, pc: RTCPeerConnection) -> None:
        self.frames: dict[str, int] = {}
        self._tasks: list[asyncio.Task[None]] = []
        pc.on("track", self._on_track)

    def _on_track(self, track: MediaStreamTrack) -> None:
        self.frames.setdefault(track.kind, 0)
        self._tasks.append(asyncio.ensure_future(self._drain(track)))

    async def _drain(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                await track.recv()
                self.frames[track.kind] += 1
        except Exception:
            return

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def with_video(pc: RTCPeerConnection) -> VideoStreamTrack:
    """Send a synthetic video track (aiortc's blank frames at 30 fps)."""
    track = VideoStreamTrack()
    pc.addTrack(track)
    return track


def description(sdp: str, kind: str) -> RTCSessionDescription:
    return RTCSessionDescription(sdp=sdp, type=kind)


def candidate_types(sdp: str) -> set[str]:
    """The ``typ`` of every candidate line in an SDP."""
    return {
        line.split(" typ ", 1)[1].split()[0]
        for line in sdp.splitlines()
        if line.startswith("a=candidate:") and " typ " in line
    }
