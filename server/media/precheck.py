"""The pre-call check's server peer: "can this browser reach us, with its camera and
microphone, over UDP or only through TURN, and with what round trip?"

The flow, browser side (the frame or the console) and server side:

1. The browser asks for an ICE configuration: ``GET /api/v1/precheck/ice?policy=all|relay``
   returns ``{ice_servers, ice_transport_policy}`` with TURN credentials minted for the caller.
   ``all`` checks whether a direct (host or server-reflexive) path works; ``relay`` checks that
   TURN works, which is what a relay-only call will use.
2. It calls ``getUserMedia``, builds ``RTCPeerConnection`` from that configuration, adds its
   audio and video tracks, creates an offer, sets it as local description and waits for ICE
   gathering to complete: there is no trickle endpoint, so the offer must carry every
   candidate.
3. It posts the offer: ``POST /api/v1/precheck {sdp, policy}`` → ``201 {check_id,
   answer_sdp}``. The server peer (``PrecheckManager.offer``) uses the same ICE servers and
   the same policy, receives the tracks, and answers with all of its own candidates.
4. It sets the answer as remote description and polls ``GET /api/v1/precheck/{check_id}``
   (every 250-500 ms) until ``state`` is ``connected``, frames arrive and a sound is heard
   (or about two seconds of audio went by): ``video_frames``,
   ``video_size``, ``audio_frames``, ``audio_level`` (RMS of the loudest second of received
   audio so far, 0..1: near 0 means a muted or silent microphone),
   ``selected_candidate_type`` and the server's ``rtt_ms``. ``failed`` means no path worked
   under that policy. The browser reads its own round trip from ``getStats()``
   (candidate-pair ``currentRoundTripTime``).
5. It ends the check with ``DELETE /api/v1/precheck/{check_id}`` and closes its peer.

A check runs at most ``timeout`` seconds: then the server peer is closed and the last result
stays readable with state ``closed`` (or ``failed``) until it is deleted. At most
``max_concurrent`` checks run at once, and ``max_per_address`` from one client address; one
more is refused with ``PrecheckBusy``. A participant runs one check at a time: a new one
closes theirs that is still running (its result stays readable), so nobody holds a slot by
starting checks and never deleting them.

States of a check, as ``result()["state"]`` reports them: ``connecting`` (ICE and DTLS under
way) → ``connected`` → ``closed`` (deleted, timed out or shut down), or ``failed`` (ICE or
DTLS failed; the peer is closed at once). aiortc's ``connectionstatechange`` announces the
changes; nothing is pushed to the browser, which polls.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import OrderedDict
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcconfiguration import RTCIceTransportPolicy

from server.media.measure import (
    CandidateType,
    CheckState,
    Policy,
    Tally,
    check_state,
    selected_route,
    stun_round_trip,
)

log = logging.getLogger(__name__)


"""Audio frames the level is computed over: 50 frames of 20 ms, one second."""
RTT_INTERVAL = 1.0
"""Seconds between two STUN round-trip probes on the selected candidate pair."""
FINISHED_KEPT = 256
"""Results of closed checks kept for their owners to read, oldest dropped first."""


class PrecheckError(Exception):
    """Base of the refusals below; the message is safe to show."""


class PrecheckBusy(PrecheckError):
    """``max_concurrent`` checks are running already, or ``max_per_address`` from this
    address."""


class PrecheckNotFound(PrecheckError):
    """No such check, or it belongs to someone else."""


class PrecheckRejected(PrecheckError):
    """aiortc could not use the offer (no usable media, bad fingerprint …)."""


class IceConfigProvider(Protocol):
    """What ``server.ice.TurnIce`` provides (the domain's ``IceProvider`` port)."""

    async def config_for(self, site_key: str, participant_id: str) -> dict[str, Any]: ...


# -- pure parts: configuration, audio level, candidate types, bookkeeping ----------------


def rtc_configuration(ice: Mapping[str, Any]) -> RTCConfiguration:
    """An aiortc configuration from ``{ice_servers, ice_transport_policy}``. The servers are
    always explicit: with none, aiortc would fall back to a public STUN server."""
    servers = [
        RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential"))
        for s in ice["ice_servers"]
    ]
    policy = (
        RTCIceTransportPolicy.RELAY
        if ice["ice_transport_policy"] == "relay"
        else RTCIceTransportPolicy.ALL
    )
    return RTCConfiguration(iceServers=servers, iceTransportPolicy=policy)


# -- the manager -----------------------------------------------------------------------------


@dataclass(eq=False)
class _Check:
    id: str
    participant: str
    address: str | None
    pc: RTCPeerConnection
    tally: Tally = field(default_factory=Tally)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    rtt_ms: float | None = None
    route: CandidateType | None = None
    last_state: CheckState = "connecting"
    closing: bool = False
    closer: asyncio.Task[None] | None = None

    def report(self) -> dict[str, Any]:
        state = check_state(self.pc.connectionState)
        if self.closing:
            state = "failed" if self.last_state == "failed" else "closed"
        if self.route is None and state == "connected":
            self.route = selected_route(self.pc)
        return self.tally.report(state, self.route, self.rtt_ms)


class PrecheckManager:
    """Runs the server peers of pre-call checks and owns everything they start.

    :param ice_provider: mints the ICE configuration (``server.ice.TurnIce``); the server peer
        uses the participant's configuration with the policy the check asks for.
    :param max_concurrent: checks running at once; one more raises ``PrecheckBusy``.
    :param max_per_address: checks running at once from one client address; one more
        raises ``PrecheckBusy``.
    :param timeout: seconds after which a check is closed even if nobody deletes it.

    ``max_concurrent``, ``max_per_address`` and ``timeout`` may be changed on a running
    manager; they apply to the next offer. ``live_peers`` and ``live_tasks`` count what is
    still open, for tests and metrics.
    """

    def __init__(
        self,
        ice_provider: IceConfigProvider,
        max_concurrent: int = 8,
        max_per_address: int = 2,
        timeout: float = 15.0,
    ) -> None:
        self.ice_provider = ice_provider
        self.max_concurrent = max_concurrent
        self.max_per_address = max_per_address
        self.timeout = timeout
        self._live: dict[str, _Check] = {}
        self._finished: OrderedDict[str, tuple[str, dict[str, Any]]] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def live_peers(self) -> int:
        """Peer connections not yet closed."""
        return len(self._live)

    @property
    def live_tasks(self) -> int:
        """Tasks this manager started that have not finished."""
        return len(self._tasks)

    async def ice_config(self, policy: Policy, participant: str, site_key: str) -> dict[str, Any]:
        """``{ice_servers, ice_transport_policy, relay_only}`` for ``participant``, with
        ``policy`` unless the site or server forces relay-only calls: then every check runs
        relayed, because a direct path would never be used (``relay_only`` says so)."""
        ice = await self.ice_provider.config_for(site_key, participant)
        forced = ice["ice_transport_policy"] == "relay"
        return {
            "ice_servers": ice["ice_servers"],
            "ice_transport_policy": "relay" if forced else policy,
            "relay_only": forced,
        }

    async def offer(
        self,
        sdp: str,
        policy: Policy,
        participant: str,
        site_key: str = "staff",
        address: str | None = None,
    ) -> tuple[str, str]:
        """Start a check from the browser's offer: ``(check_id, answer_sdp)``. A check of
        ``participant``'s that is still running is closed (its result stays readable).

        :param address: the caller's client address, for ``max_per_address``.
        :raises PrecheckBusy: when ``max_concurrent`` checks are running, or
            ``max_per_address`` from ``address``.
        :raises PrecheckRejected: when aiortc cannot answer the offer.
        """
        check_id = secrets.token_hex(16)
        # The server peer is a TURN user of its own, one per check: its allocations never
        # count against the visitor's quota (coturn's user-quota), nor the visitor's against it.
        ice = await self.ice_config(policy, f"precheck-{check_id[:16]}", site_key)
        # No await between the counts and the registration: concurrent offers cannot both pass.
        running = [c for c in self._live.values() if not c.closing]
        theirs = [c for c in running if c.participant == participant]
        others = [c for c in running if c.participant != participant]
        if len(others) >= self.max_concurrent:
            raise PrecheckBusy("Too many connection checks are running; try again shortly.")
        if address is not None and sum(c.address == address for c in others) >= (
            self.max_per_address
        ):
            raise PrecheckBusy("Too many connection checks from your network; try again shortly.")
        for replaced in theirs:
            self._begin_finish(replaced, keep=True)
        check = _Check(check_id, participant, address, RTCPeerConnection(rtc_configuration(ice)))
        self._live[check.id] = check
        self._spawn(check, self._expire(check, self.timeout), "expire")
        check.pc.on("track", lambda track: self._on_track(check, track))
        check.pc.on("connectionstatechange", lambda: self._on_state(check))
        try:
            await check.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            await check.pc.setLocalDescription(await check.pc.createAnswer())
        except Exception as exc:  # aiortc raises ValueError, InvalidStateError …
            await self._finish(check, keep=False)
            raise PrecheckRejected(f"The offer cannot be answered: {exc}") from None
        if check.closing:
            await self._finish(check, keep=False)
            raise PrecheckRejected("The check was closed while answering.")
        answer = check.pc.localDescription.sdp
        if "a=candidate:" not in answer:
            # aiortc starts ICE only with a local candidate: none (TURN unreachable under the
            # relay policy) would leave the check "connecting" until it times out.
            log.warning("precheck peer has no candidates", extra={"check_id": check.id})
            check.last_state = "failed"
            await self._finish(check, keep=True)
        else:
            log.info("precheck started", extra={"check_id": check.id, "policy": policy})
        return check.id, answer

    async def result(self, check_id: str, participant: str | None = None) -> dict[str, Any]:
        """The check's result (see the module docstring). ``participant``, when given, must be
        the one who started it.

        :raises PrecheckNotFound: for an unknown check or another participant's.
        """
        check = self._live.get(check_id)
        if check is not None and participant in (None, check.participant):
            return check.report()
        finished = self._finished.get(check_id)
        if finished is not None and participant in (None, finished[0]):
            return dict(finished[1])
        raise PrecheckNotFound("No such connection check.")

    async def close(self, check_id: str, participant: str | None = None) -> None:
        """Close the check's peer and forget its result.

        :raises PrecheckNotFound: for an unknown check or another participant's.
        """
        check = self._live.get(check_id)
        if check is not None and participant in (None, check.participant):
            await self._finish(check, keep=False)
            return
        finished = self._finished.get(check_id)
        if finished is not None and participant in (None, finished[0]):
            del self._finished[check_id]
            return
        raise PrecheckNotFound("No such connection check.")

    async def close_all(self) -> None:
        """Close every peer (on shutdown)."""
        await asyncio.gather(*(self._finish(c, keep=False) for c in list(self._live.values())))
        self._finished.clear()

    # -- internals ----------------------------------------------------------------------

    def _spawn(self, check: _Check, work: Coroutine[Any, Any, None], what: str) -> None:
        task = asyncio.create_task(work, name=f"precheck-{what}-{check.id}")
        self._tasks.add(task)
        check.tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(check.tasks.discard)

    def _on_track(self, check: _Check, track: MediaStreamTrack) -> None:
        if not check.closing:
            self._spawn(check, self._drain(check, track), track.kind)

    def _on_state(self, check: _Check) -> None:
        state = check_state(check.pc.connectionState)
        if check.closing or state == check.last_state:
            return
        check.last_state = state
        log.info("precheck %s", state, extra={"check_id": check.id})
        if state == "connected":
            check.route = selected_route(check.pc)
            self._spawn(check, self._measure_rtt(check), "rtt")
        elif state == "failed":
            self._spawn(check, self._finish(check, keep=True), "failed")

    async def _drain(self, check: _Check, track: MediaStreamTrack) -> None:
        try:
            while True:
                check.tally.add_frame(await track.recv())
        except MediaStreamError:
            return  # the track ended: the peer closed
        except Exception:
            # A decoder fault ends this track's count; the check itself carries on.
            log.exception("precheck track failed", extra={"check_id": check.id})

    async def _measure_rtt(self, check: _Check) -> None:
        try:
            while True:
                rtt = await stun_round_trip(check.pc)
                if rtt is not None:
                    check.rtt_ms = rtt
                await asyncio.sleep(RTT_INTERVAL)
        except Exception:
            # aioice internals changed or the pair went away: the round trip stays unknown.
            log.debug("precheck round trip unavailable", exc_info=True)

    async def _expire(self, check: _Check, after: float) -> None:
        await asyncio.sleep(after)
        log.info("precheck timed out", extra={"check_id": check.id})
        await self._finish(check, keep=True)

    async def _finish(self, check: _Check, keep: bool) -> None:
        """Close the peer and cancel its tasks; with ``keep``, its last result stays readable.
        Idempotent, and the closing runs in its own task: a caller that is cancelled (or is
        one of the check's own tasks, cancelled by the closing) cannot leave it half done."""
        await asyncio.shield(self._begin_finish(check, keep))

    def _begin_finish(self, check: _Check, keep: bool) -> asyncio.Task[None]:
        """Start closing the check now (``closing`` is set before this returns)."""
        if check.closer is None:
            check.closing = True
            check.closer = asyncio.create_task(
                self._close_peer(check, keep), name=f"precheck-close-{check.id}"
            )
            self._tasks.add(check.closer)
            check.closer.add_done_callback(self._tasks.discard)
        return check.closer

    async def _close_peer(self, check: _Check, keep: bool) -> None:
        tasks = list(check.tasks)
        for task in tasks:
            task.cancel()
        try:
            await check.pc.close()
        except Exception:
            log.exception("precheck peer did not close cleanly", extra={"check_id": check.id})
        await asyncio.gather(*tasks, return_exceptions=True)
        if keep:
            self._finished[check.id] = (check.participant, check.report())
            while len(self._finished) > FINISHED_KEPT:
                self._finished.popitem(last=False)
        del self._live[check.id]
        log.info("precheck closed", extra={"check_id": check.id})
