"""REST for the pre-call check ("check my camera and connection"), under ``/api/v1/precheck``.

The flow is described in ``server.media.precheck``. Who may call: a signed-in staff member
(session cookie; ``server.api.guard`` enforces CSRF on POST and DELETE), or the customer frame
with ``Authorization: Bearer <visitor token>`` and ``X-Porchlight-Site: <site key>`` (the
frame is same-origin, so the guard lets it through without a session). A check belongs to
whoever started it; anyone else gets 404.

- ``GET /api/v1/precheck/ice?policy=all|relay`` → ``{ice_servers, ice_transport_policy}``
- ``POST /api/v1/precheck`` ``{sdp, policy}`` → 201 ``{check_id, answer_sdp}``; 429
  ``precheck.busy`` when too many checks run (in all, or from the caller's address), 429
  ``rate.limited`` (with ``retry_after_ms``) when the caller, their address or their site
  started too many lately. A caller's new check closes their running one.
- ``GET /api/v1/precheck/{id}`` → the result; ``DELETE /api/v1/precheck/{id}`` → 204
"""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, ClassVar, Literal

from aiohttp import web
from pydantic import StringConstraints, field_validator

from server.api import error, read_json, require
from server.ice import TurnIce
from server.keys import AUTH, LIMITS, SETTINGS, STORE
from server.media.measure import Policy
from server.media.precheck import (
    PrecheckBusy,
    PrecheckManager,
    PrecheckNotFound,
    PrecheckRejected,
)
from server.net import request_address
from signaling.errors import ErrorCode, ProtocolError
from signaling.ports import Counted
from signaling.protocol import MAX_SDP_BYTES, CallSdp, Payload, decode

routes = web.RouteTableDef()

PRECHECK = web.AppKey("precheck", PrecheckManager)
CHECK_PATH = "/api/v1/precheck/{check_id:[0-9a-f]{32}}"
BUSY_RETRY_SECONDS = 5
POLICIES: dict[str, Policy] = {"all": "all", "relay": "relay"}
NO_STORE = {"Cache-Control": "no-store"}  # results and TURN credentials are per caller


async def precheck_runtime(app: web.Application) -> AsyncIterator[None]:
    """``cleanup_ctx``: the manager lives as long as the app; its peers close on shutdown.
    Append it after the context that opens the store (``TurnIce`` reads the site)."""
    settings = app[SETTINGS]
    manager = PrecheckManager(
        TurnIce(settings, app[STORE]),
        max_concurrent=settings.prechecks_running,
        max_per_address=settings.prechecks_per_address,
    )
    app[PRECHECK] = manager
    yield
    await manager.close_all()


class PrecheckOffer(Payload):
    """``POST /api/v1/precheck``: the browser's offer, with every candidate in it."""

    max_bytes: ClassVar[int] = MAX_SDP_BYTES + 64

    sdp: Annotated[str, StringConstraints(min_length=10, max_length=MAX_SDP_BYTES)]
    policy: Literal["all", "relay"]

    @field_validator("sdp")
    @classmethod
    def _sdp(cls, sdp: str) -> str:
        return CallSdp._sdp(sdp)  # the call offer's shape rules, kept in one place


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is checking: ``participant`` names them to TURN and owns their checks."""

    site_key: str
    participant: str


def _refuse(status: type[web.HTTPException], code: str, message: str) -> web.HTTPException:
    return status(
        text=json.dumps({"error": {"code": code, "message": message}}),
        content_type="application/json",
    )


async def caller(request: web.Request) -> Caller:
    """The customer frame by visitor token (when it presents one), else a signed-in staff
    member; 401 otherwise."""
    authorization = request.headers.get("Authorization")
    if authorization is None:
        session = require(request)
        return Caller(site_key="staff", participant=f"staff-{session.member.id}")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _refuse(web.HTTPUnauthorized, ErrorCode.TOKEN_INVALID, "Expected a Bearer token.")
    site_key = request.headers.get("X-Porchlight-Site", "")
    site = await request.app[STORE].get_site(site_key) if site_key else None
    if site is None:
        raise _refuse(web.HTTPUnauthorized, ErrorCode.SITE_UNKNOWN, "No such site.")
    try:
        visitor_id = request.app[AUTH].tokens.verify(token.strip(), site.key)
    except ProtocolError as exc:
        raise _refuse(web.HTTPUnauthorized, exc.code, exc.message) from None
    return Caller(site_key=site.key, participant=visitor_id)


async def _read_offer(request: web.Request) -> PrecheckOffer:
    """The offer, or 400 ``payload.invalid`` / 413 ``payload.too_large``."""
    raw = await read_json(request)
    try:
        return decode(PrecheckOffer, raw)
    except ProtocolError as exc:
        if exc.code == ErrorCode.PAYLOAD_TOO_LARGE:
            raise web.HTTPRequestEntityTooLarge(
                max_size=PrecheckOffer.max_bytes,
                actual_size=request.content_length or 0,
                text=json.dumps({"error": exc.to_wire()}),
                content_type="application/json",
            ) from None
        raise _refuse(web.HTTPBadRequest, exc.code, exc.message) from None


@routes.get("/api/v1/precheck/ice")
async def precheck_ice(request: web.Request) -> web.Response:
    """The ICE configuration the browser's check peer uses."""
    who = await caller(request)
    policy = POLICIES.get(request.query.get("policy", ""))
    if policy is None:
        return error(400, ErrorCode.PAYLOAD_INVALID, "policy: expected all or relay.")
    ice = await request.app[PRECHECK].ice_config(policy, who.participant, who.site_key)
    return web.json_response(ice, headers=NO_STORE)


@routes.post("/api/v1/precheck")
async def start_precheck(request: web.Request) -> web.Response:
    who = await caller(request)
    offer = await _read_offer(request)
    address = request_address(request)
    counted = Counted(visitor=who.participant, address=address, site=who.site_key)
    retry_after = await request.app[LIMITS].hit("precheck", counted)
    if retry_after is not None:
        limited = ProtocolError(
            ErrorCode.RATE_LIMITED, "Too many connection checks; try again shortly.", retry_after
        )
        return web.json_response(
            {"error": limited.to_wire()},
            status=429,
            headers={"Retry-After": str(math.ceil(retry_after))},
        )
    try:
        check_id, answer_sdp = await request.app[PRECHECK].offer(
            offer.sdp, offer.policy, who.participant, site_key=who.site_key, address=address
        )
    except PrecheckBusy as exc:
        return error(429, "precheck.busy", str(exc), **{"Retry-After": str(BUSY_RETRY_SECONDS)})
    except PrecheckRejected as exc:
        return error(400, ErrorCode.PAYLOAD_INVALID, str(exc))
    return web.json_response(
        {"check_id": check_id, "answer_sdp": answer_sdp}, status=201, headers=NO_STORE
    )


@routes.get(CHECK_PATH)
async def precheck_result(request: web.Request) -> web.Response:
    who = await caller(request)
    try:
        result = await request.app[PRECHECK].result(request.match_info["check_id"], who.participant)
    except PrecheckNotFound as exc:
        return error(404, "precheck.not_found", str(exc))
    return web.json_response(result, headers=NO_STORE)


@routes.delete(CHECK_PATH)
async def end_precheck(request: web.Request) -> web.Response:
    who = await caller(request)
    try:
        await request.app[PRECHECK].close(request.match_info["check_id"], who.participant)
    except PrecheckNotFound as exc:
        return error(404, "precheck.not_found", str(exc))
    return web.Response(status=204)
