"""Calls through the real server: signaling relayed between the two participants only,
TURN credentials per participant, and media between aiortc peers through a real coturn."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from server.keys import STORE
from tests.coturn import Coturn
from tests.rtc import Receiver, candidate_types, description, peer_from, with_video
from tests.support import Peer, Server, another_tab, customer, settings_for, staff_peer, until


@asynccontextmanager
async def server_with(tmp_path: Path, coturn: Coturn, **settings: Any) -> AsyncIterator[Server]:
    """The app with coturn as its TURN server and relay-only ICE (both peers on loopback),
    with one site; ``settings`` override any of these."""
    values: dict[str, Any] = {
        "turn_host": coturn.turn_host,
        "turn_port": coturn.turn_port,
        "turn_secret": coturn.turn_secret,
        "ice_transport_policy": "relay",
        **settings,
    }
    running = Server(settings_for(f"sqlite+aiosqlite:///{tmp_path / 'calls.db'}", **values))
    await running.start()
    try:
        await running.add_site()
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def call_server(tmp_path: Path, coturn: Coturn) -> AsyncIterator[Server]:
    async with server_with(tmp_path, coturn) as running:
        yield running


async def chatting(
    server: Server, clients: list[Peer], name: str = "Sam"
) -> tuple[Peer, Peer, str]:
    staff = await staff_peer(server, await server.add_staff(name))
    visitor = customer(server)
    clients += [staff, visitor]
    await visitor.connect()
    cid = (await visitor.ok("conversation.start", {}))["conversation"]["id"]
    await staff.wait_for("ring", lambda d: d["conversation"]["id"] == cid)
    await staff.ok("ring.accept", {"conversation_id": cid})
    return visitor, staff, cid


async def test_a_video_call_connects_through_turn_and_frames_flow_both_ways(
    call_server: Server, clients: list[Peer]
) -> None:
    visitor, staff, cid = await chatting(call_server, clients)
    started = await visitor.ok("call.start", {"conversation_id": cid, "channel": "video"})
    call_id = started["call"]["id"]
    customer_ice = started["ice"]
    staff_state = await staff.wait_for("call.state", lambda d: d["call"]["id"] == call_id)
    staff_ice = staff_state["ice"]
    assert customer_ice["ice_transport_policy"] == "relay"
    turn = [s for s in customer_ice["ice_servers"] if "username" in s]
    assert turn and turn[0]["username"].endswith(":" + visitor.seen("session")[0]["visitor_id"])
    staff_turn = [s for s in staff_ice["ice_servers"] if "username" in s]
    assert staff_turn[0]["credential"] != turn[0]["credential"]  # minted per participant

    caller, callee = peer_from(customer_ice), peer_from(staff_ice)
    caller_got, callee_got = Receiver(caller), Receiver(callee)
    try:
        with_video(caller)
        with_video(callee)
        await caller.setLocalDescription(await caller.createOffer())
        offer_sdp = caller.localDescription.sdp
        assert candidate_types(offer_sdp) == {"relay"}
        await visitor.ok(
            "call.offer", {"conversation_id": cid, "call_id": call_id, "sdp": offer_sdp}
        )

        offer = await staff.wait_for("call.offer")
        assert offer["sdp"] == offer_sdp
        await callee.setRemoteDescription(description(offer["sdp"], "offer"))
        await callee.setLocalDescription(await callee.createAnswer())
        answer_sdp = callee.localDescription.sdp
        assert candidate_types(answer_sdp) == {"relay"}
        await staff.ok(
            "call.answer", {"conversation_id": cid, "call_id": call_id, "sdp": answer_sdp}
        )
        # aiortc gathers before it answers; end-of-candidates is still relayed.
        await staff.ok(
            "call.candidate", {"conversation_id": cid, "call_id": call_id, "candidate": None}
        )

        answer = await visitor.wait_for("call.answer")
        await caller.setRemoteDescription(description(answer["sdp"], "answer"))
        await visitor.wait_for("call.candidate", lambda d: d["candidate"] is None)

        await until(
            lambda: caller.connectionState == "connected" and callee.connectionState == "connected",
            timeout=20,
            what="ICE connected through TURN",
        )
        await until(
            lambda: caller_got.frames.get("video", 0) > 5 and callee_got.frames.get("video", 0) > 5,
            timeout=20,
            what="video frames both ways",
        )
    finally:
        await caller_got.close()
        await callee_got.close()
        await caller.close()
        await callee.close()

    ended = await staff.ok(
        "call.end", {"conversation_id": cid, "call_id": call_id, "reason": "hangup"}
    )
    assert ended["call"]["ended_by"] == "staff"
    assert ended["call"]["duration_s"] is not None
    state = await visitor.wait_for("call.state", lambda d: d["call"]["ended_at"] is not None)
    assert "ice" not in state
    bodies = [m.body for m in await call_server.app[STORE].messages_after(cid, 0)]
    assert bodies == ["joined", "call_started", "call_ended"]


async def test_only_the_two_participants_exchange_call_signaling(
    call_server: Server, clients: list[Peer]
) -> None:
    visitor, staff, cid = await chatting(call_server, clients)
    call_id = (await visitor.ok("call.start", {"conversation_id": cid, "channel": "voice"}))[
        "call"
    ]["id"]
    sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"

    intruder = customer(call_server)  # a valid token, for another conversation
    clients.append(intruder)
    await intruder.connect()
    for event, payload in [
        ("call.offer", {"conversation_id": cid, "call_id": call_id, "sdp": sdp}),
        (
            "call.candidate",
            {
                "conversation_id": cid,
                "call_id": call_id,
                "candidate": {"candidate": "candidate:1 1 udp 1 10.0.0.1 9 typ host"},
            },
        ),
        ("call.end", {"conversation_id": cid, "call_id": call_id, "reason": "hangup"}),
        ("call.start", {"conversation_id": cid, "channel": "video"}),
        ("call.respond", {"conversation_id": cid, "proposal_id": "a" * 32, "accept": True}),
    ]:
        assert await intruder.refused_with(event, payload) == "conversation.not_found", event

    other_staff = await staff_peer(call_server, await call_server.add_staff("Ben"), available=False)
    clients.append(other_staff)
    payload = {"conversation_id": cid, "call_id": call_id, "sdp": sdp}
    assert await other_staff.refused_with("call.answer", payload) == "conversation.not_assigned"
    wrong_call = {"conversation_id": cid, "call_id": "f" * 32, "sdp": sdp}
    assert await visitor.refused_with("call.offer", wrong_call) == "call.not_found"
    assert not staff.seen("call.offer")
    assert not staff.seen("call.candidate")


def bad_sdps() -> list[tuple[Any, str]]:
    media = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    return [
        ("not an sdp at all", "payload.invalid"),
        (media, "payload.invalid"),  # no media section
        (media + "m=text 9 UDP 0\r\n", "payload.invalid"),  # unknown media
        (media + "m=audio 9 UDP 0\r\n\x00", "payload.invalid"),  # control characters
        (12345, "payload.invalid"),
        # over the 48 KiB SDP limit, under the 64 KiB socket frame limit
        (media + "m=audio 9 UDP 0\n" + ("a=" + "x" * 40 + "\n") * 1_200, "payload.too_large"),
    ]


async def test_malformed_sdp_and_oversized_candidates_are_refused(
    call_server: Server, clients: list[Peer]
) -> None:
    visitor, staff, cid = await chatting(call_server, clients)
    call_id = (await visitor.ok("call.start", {"conversation_id": cid, "channel": "video"}))[
        "call"
    ]["id"]
    for sdp, code in bad_sdps():
        payload = {"conversation_id": cid, "call_id": call_id, "sdp": sdp}
        assert await visitor.refused_with("call.offer", payload) == code, repr(sdp)[:40]
    for candidate, code in [
        ({"candidate": "candidate:" + "1" * 2000}, "payload.invalid"),
        ({"candidate": "not-a-candidate"}, "payload.invalid"),
        (
            {"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host", "sdp_mline_index": 99},
            "payload.invalid",
        ),
        ({"candidate": "candidate:1", "extra": True}, "payload.invalid"),
    ]:
        payload = {"conversation_id": cid, "call_id": call_id, "candidate": candidate}
        assert await staff.refused_with("call.candidate", payload) == code, candidate
    assert not staff.seen("call.offer")
    assert not visitor.seen("call.candidate")


async def test_calls_are_their_own_capacity_and_need_an_active_conversation(
    call_server: Server, clients: list[Peer]
) -> None:
    visitor, staff, cid = await chatting(call_server, clients)
    await visitor.ok("call.start", {"conversation_id": cid, "channel": "video"})

    waiting = customer(call_server)
    clients.append(waiting)
    await waiting.connect()
    queued = (await waiting.ok("conversation.start", {}))["conversation"]["id"]
    assert (
        await waiting.refused_with("call.start", {"conversation_id": queued, "channel": "video"})
        == "call.not_allowed"
    )
    # the same staff member takes a second chat (chat capacity 3) but not a second call
    await staff.wait_for("ring", lambda d: d["conversation"]["id"] == queued)
    await staff.ok("ring.accept", {"conversation_id": queued})
    assert (
        await waiting.refused_with("call.start", {"conversation_id": queued, "channel": "voice"})
        == "call.busy"
    )

    await visitor.ok("conversation.end", {"conversation_id": cid})
    ended = await staff.wait_for("call.state", lambda d: d["call"]["ended_at"] is not None)
    assert ended["call"]["end_reason"] == "conversation_ended"
    await waiting.ok("call.start", {"conversation_id": queued, "channel": "voice"})


def call_details(messages: list[Any]) -> list[tuple[str, str, str | None]]:
    return [
        (m.body, m.detail["channel"], m.detail.get("ended_by"))
        for m in messages
        if m.body.startswith("call_")
    ]


async def test_switching_channels_records_each_call(
    call_server: Server, clients: list[Peer]
) -> None:
    visitor, staff, cid = await chatting(call_server, clients)
    voice = await visitor.ok("call.start", {"conversation_id": cid, "channel": "voice"})
    video = await visitor.ok("call.start", {"conversation_id": cid, "channel": "video"})
    switched = await staff.wait_for(
        "call.state", lambda d: d["call"]["id"] == voice["call"]["id"] and d["call"]["ended_at"]
    )
    assert switched["call"]["end_reason"] == "switched"
    resumed = await visitor.ok("conversation.resume", {"conversation_id": cid, "last_seq": 0})
    assert resumed["conversation"]["channel"] == "video"
    assert resumed["call"]["call"]["id"] == video["call"]["id"]
    await visitor.ok(
        "call.end", {"conversation_id": cid, "call_id": video["call"]["id"], "reason": "hangup"}
    )
    resumed = await visitor.ok("conversation.resume", {"conversation_id": cid, "last_seq": 0})
    assert resumed["conversation"]["channel"] == "chat"
    assert resumed["call"] is None
    stored = await call_server.app[STORE].messages_after(cid, 0)
    assert call_details(stored) == [
        ("call_started", "voice", None),
        ("call_ended", "voice", "customer"),
        ("call_started", "video", None),
        ("call_ended", "video", "customer"),
    ]
    ended = [m for m in resumed["messages"] if m["body"] == "call_ended"]
    assert all(m["detail"]["duration_s"] is not None for m in ended)


async def test_staff_proposes_and_the_customer_decides(
    call_server: Server, clients: list[Peer]
) -> None:
    visitor, staff, cid = await chatting(call_server, clients)
    first = await staff.ok("call.propose", {"conversation_id": cid, "channel": "video"})
    proposed = await visitor.wait_for("call.proposed")
    assert proposed == {
        "conversation_id": cid,
        "proposal_id": first["proposal_id"],
        "channel": "video",
    }
    await visitor.ok(
        "call.respond",
        {"conversation_id": cid, "proposal_id": first["proposal_id"], "accept": False},
    )
    assert (await staff.wait_for("call.response"))["accepted"] is False
    assert not visitor.seen("call.state")

    second = await staff.ok("call.propose", {"conversation_id": cid, "channel": "voice"})
    stale = {"conversation_id": cid, "proposal_id": first["proposal_id"], "accept": True}
    assert await visitor.refused_with("call.respond", stale) == "call.not_found"
    answered = await visitor.ok(
        "call.respond",
        {"conversation_id": cid, "proposal_id": second["proposal_id"], "accept": True},
    )
    assert answered["call"]["call"]["channel"] == "voice"
    assert answered["call"]["call"]["started_by"] == "staff"
    await staff.wait_for("call.state", lambda d: d["call"]["channel"] == "voice")

    back = await staff.ok("call.propose", {"conversation_id": cid, "channel": "chat"})
    await visitor.ok(
        "call.respond", {"conversation_id": cid, "proposal_id": back["proposal_id"], "accept": True}
    )
    ended = await visitor.wait_for("call.state", lambda d: d["call"]["ended_at"] is not None)
    assert ended["call"]["ended_by"] == "staff"
    # The transcript keeps every proposal and answer, in order, among the call notes.
    stored = await call_server.app[STORE].messages_after(cid, 0)
    proposals = [
        (
            m.body,
            m.author_name,
            m.detail and m.detail["channel"],
            m.detail and m.detail.get("accepted"),
        )
        for m in stored
        if m.body.startswith("call_propos")
    ]
    assert proposals == [
        ("call_proposed", "Sam", "video", None),
        ("call_proposal_answered", None, "video", False),
        ("call_proposed", "Sam", "voice", None),
        ("call_proposal_answered", None, "voice", True),
        ("call_proposed", "Sam", "chat", None),
        ("call_proposal_answered", None, "chat", True),
    ]
    assert [m.body for m in stored if m.body.startswith("call_")] == [
        "call_proposed",
        "call_proposal_answered",
        "call_proposed",
        "call_proposal_answered",
        "call_started",
        "call_proposed",
        "call_proposal_answered",
        "call_ended",
    ]
    # staff cannot start a call on the customer without asking
    assert (
        await staff.refused_with("call.start", {"conversation_id": cid, "channel": "video"})
        == "event.unknown"
    )


async def test_video_requests_ring_only_staff_whose_devices_are_ready(
    call_server: Server, clients: list[Peer]
) -> None:
    no_camera = await staff_peer(call_server, await call_server.add_staff("Ana"), available=False)
    ready = await staff_peer(call_server, await call_server.add_staff("Ben"), available=False)
    clients += [no_camera, ready]
    await no_camera.ok(
        "presence.set", {"status": "available", "media": {"camera": False, "microphone": True}}
    )
    await ready.ok(
        "presence.set", {"status": "available", "media": {"camera": True, "microphone": True}}
    )
    visitor = customer(call_server)
    clients.append(visitor)
    await visitor.connect()
    cid = (await visitor.ok("conversation.start", {"channel": "video"}))["conversation"]["id"]
    await ready.wait_for("ring", lambda d: d["conversation"]["id"] == cid)
    accepted = await ready.ok("ring.accept", {"conversation_id": cid})
    assert accepted["call"]["call"]["channel"] == "video"
    assert accepted["call"]["ice"]["ice_transport_policy"] == "relay"
    state = await visitor.wait_for("call.state")
    assert state["call"]["started_by"] == "customer"
    assert not no_camera.seen("ring", lambda d: d["conversation"]["id"] == cid)
    # a voice request may go to the staff member with only a microphone
    voice_visitor = customer(call_server)
    clients.append(voice_visitor)
    await voice_visitor.connect()
    voice = (await voice_visitor.ok("conversation.start", {"channel": "voice"}))["conversation"][
        "id"
    ]
    await no_camera.wait_for("ring", lambda d: d["conversation"]["id"] == voice)


async def test_a_signaling_reconnect_does_not_end_the_call(
    call_server: Server, clients: list[Peer]
) -> None:
    visitor, staff, cid = await chatting(call_server, clients)
    call_id = (await visitor.ok("call.start", {"conversation_id": cid, "channel": "video"}))[
        "call"
    ]["id"]
    token = visitor.auth["token"]  # type: ignore[index]
    await visitor.close()
    back = Peer(
        call_server.url,
        "/customer",
        auth={"site": "shop-site", "host": "http://shop.test", "token": token},
    )
    clients.append(back)
    await back.connect()
    resumed = await back.ok("conversation.resume", {"conversation_id": cid, "last_seq": 0})
    assert resumed["call"]["call"]["id"] == call_id
    assert resumed["call"]["ice"]["ice_servers"]
    synced = await staff.ok("sync", {"last_seqs": {}})
    assert [c["call"]["id"] for c in synced["calls"]] == [call_id]
    assert not staff.seen("call.state", lambda d: d["call"]["ended_at"] is not None)


async def test_a_call_ends_when_its_staff_member_does_not_come_back(
    tmp_path: Path, coturn: Coturn, clients: list[Peer]
) -> None:
    async with server_with(
        tmp_path, coturn, grace_period=0.3, ice_transport_policy="all"
    ) as server:
        visitor, staff, cid = await chatting(server, clients)
        call_id = (await visitor.ok("call.start", {"conversation_id": cid, "channel": "voice"}))[
            "call"
        ]["id"]
        await staff.close()
        ended = await visitor.wait_for("call.state", lambda d: d["call"]["ended_at"] is not None)
        assert ended["call"]["id"] == call_id
        assert ended["call"]["end_reason"] == "requeued"
        await visitor.wait_for(
            "conversation.state", lambda d: d["conversation"]["status"] == "queued"
        )


async def test_a_server_restart_keeps_a_running_call(
    call_server: Server, clients: list[Peer]
) -> None:
    visitor, staff, cid = await chatting(call_server, clients)
    call_id = (await visitor.ok("call.start", {"conversation_id": cid, "channel": "video"}))[
        "call"
    ]["id"]
    await call_server.stop()
    await call_server.start()
    await until(lambda: visitor.sio.namespaces.get("/customer"), what="customer reconnect")
    await until(lambda: staff.sio.namespaces.get("/staff"), what="staff reconnect")
    resumed = await visitor.ok("conversation.resume", {"conversation_id": cid, "last_seq": 0})
    assert resumed["call"]["call"]["id"] == call_id
    assert resumed["call"]["call"]["channel"] == "video"
    synced = await staff.ok("sync", {"last_seqs": {}})
    assert [c["call"]["id"] for c in synced["calls"]] == [call_id]
    ended = await staff.ok(
        "call.end", {"conversation_id": cid, "call_id": call_id, "reason": "hangup"}
    )
    assert ended["call"]["duration_s"] is not None
    bodies = [m.body for m in await call_server.app[STORE].messages_after(cid, 0)]
    assert bodies == ["joined", "call_started", "call_ended"]


async def test_a_wrong_turn_secret_fails_fast_with_a_coded_end(
    tmp_path: Path, coturn: Coturn, clients: list[Peer]
) -> None:
    """The server's TURN secret does not match coturn's: relay-only peers built from the
    server's ICE configuration gather no candidate within a bounded time (no hang), and the
    call ends with the coded reason ``ice_failed`` recorded for both sides."""
    async with server_with(tmp_path, coturn, turn_secret="not-the-secret-coturn-has") as server:
        visitor, staff, cid = await chatting(server, clients)
        started = await visitor.ok("call.start", {"conversation_id": cid, "channel": "video"})
        caller = peer_from(started["ice"])
        try:
            with_video(caller)
            began = time.monotonic()
            # aiortc gathers in setLocalDescription; a refused allocation must not hang it
            await asyncio.wait_for(caller.setLocalDescription(await caller.createOffer()), 10)
            assert time.monotonic() - began < 10
            assert candidate_types(caller.localDescription.sdp) == set()
        finally:
            await caller.close()
        call_id = started["call"]["id"]
        end = {"conversation_id": cid, "call_id": call_id, "reason": "ice_failed"}
        await visitor.ok("call.end", end)
        ended = await staff.wait_for("call.state", lambda d: d["call"]["ended_at"] is not None)
        assert ended["call"]["end_reason"] == "ice_failed"
        stored = await server.app[STORE].messages_after(cid, 0)
        assert stored[-1].detail is not None and stored[-1].detail["reason"] == "ice_failed"


async def test_two_tabs_starting_calls_at_once_make_one_running_call(
    call_server: Server, clients: list[Peer]
) -> None:
    visitor, staff, cid = await chatting(call_server, clients)
    second_tab = await another_tab(call_server, visitor, cid, clients)
    await visitor.ok("call.start", {"conversation_id": cid, "channel": "voice"})
    first, second = await asyncio.gather(
        visitor.ok("call.start", {"conversation_id": cid, "channel": "video"}),
        second_tab.ok("call.start", {"conversation_id": cid, "channel": "video"}),
    )
    synced = await staff.ok("sync", {"last_seqs": {}})
    running = [c["call"]["id"] for c in synced["calls"]]
    assert len(running) == 1 and running[0] in (first["call"]["id"], second["call"]["id"])
    details = [m.detail for m in await call_server.app[STORE].messages_after(cid, 0) if m.detail]
    started = [d["call_id"] for d in details if "started_by" in d]
    ended = [d["call_id"] for d in details if "ended_by" in d]
    # every call but the running one was ended, each exactly once
    assert sorted(ended) == sorted(set(started) - set(running))


async def test_a_relay_only_site_gets_relay_calls_on_a_server_that_allows_direct_ones(
    tmp_path: Path, coturn: Coturn, clients: list[Peer]
) -> None:
    async with server_with(tmp_path, coturn, ice_transport_policy="all") as server:
        await server.add_site("private-site", origins=("http://private.test",), relay_only=True)
        staff = await staff_peer(server, await server.add_staff("Sam"))
        clients.append(staff)
        for site, host, policy in [
            ("shop-site", "http://shop.test", "all"),
            ("private-site", "http://private.test", "relay"),
        ]:
            visitor = customer(server, site_key=site, host=host)
            clients.append(visitor)
            await visitor.connect()
            cid = (await visitor.ok("conversation.start", {}))["conversation"]["id"]
            await staff.wait_for("ring", lambda d, cid=cid: d["conversation"]["id"] == cid)
            await staff.ok("ring.accept", {"conversation_id": cid})
            started = await visitor.ok("call.start", {"conversation_id": cid, "channel": "voice"})
            assert started["ice"]["ice_transport_policy"] == policy, site
            state = await staff.wait_for(
                "call.state", lambda d, cid=cid: d["call"]["conversation_id"] == cid
            )
            assert state["ice"]["ice_transport_policy"] == policy, site
            await visitor.ok(
                "call.end",
                {"conversation_id": cid, "call_id": started["call"]["id"], "reason": "hangup"},
            )
