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

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, ClassVar, Literal

from aiohttp import web
from pydantic import BaseModel, Field, StringConstraints, field_validator

from server.api import error, read_json, require
from server.api_models import PrecheckIce, PrecheckResult, PrecheckStarted
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
from server.openapi import operation
from server.rest import refuse, reply
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


class IceQuery(BaseModel):
    """``GET /api/v1/precheck/ice``'s query."""

    policy: Literal["all", "relay"] = Field(
        description="`relay` tests the TURN path alone; the site may force it anyway."
    )


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is checking: ``participant`` names them to TURN and owns their checks."""

    site_key: str
    participant: str


async def caller(request: web.Request) -> Caller:
    """The customer frame by visitor token (when it presents one), else a signed-in staff
    member; 401 otherwise."""
    authorization = request.headers.get("Authorization")
    if authorization is None:
        session = require(request)
        return Caller(site_key="staff", participant=f"staff-{session.member.id}")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise refuse(401, ErrorCode.TOKEN_INVALID, "Expected a Bearer token.")
    site_key = request.headers.get("X-Porchlight-Site", "")
    site = await request.app[STORE].get_site(site_key) if site_key else None
    if site is None:
        raise refuse(401, ErrorCode.SITE_UNKNOWN, "No such site.")
    try:
        visitor_id = request.app[AUTH].tokens.verify(token.strip(), site.key)
    except ProtocolError as exc:
        raise refuse(401, exc.code, exc.message) from None
    return Caller(site_key=site.key, participant=visitor_id)


async def _read_offer(request: web.Request) -> PrecheckOffer:
    """The offer, or 400 ``payload.invalid`` / 413 ``payload.too_large``."""
    raw = await read_json(request)
    try:
        return decode(PrecheckOffer, raw)
    except ProtocolError as exc:
        status = 413 if exc.code == ErrorCode.PAYLOAD_TOO_LARGE else 400
        raise refuse(status, exc.code, exc.message) from None


VISITOR_ERRORS = [ErrorCode.TOKEN_INVALID, ErrorCode.SITE_UNKNOWN]


@routes.get("/api/v1/precheck/ice")
@operation(PrecheckIce, auth="visitor", query=IceQuery, errors=VISITOR_ERRORS)
async def precheck_ice(request: web.Request) -> web.Response:
    """The ICE configuration the browser's check peer uses."""
    who = await caller(request)
    policy = POLICIES.get(request.query.get("policy", ""))
    if policy is None:
        return error(400, ErrorCode.PAYLOAD_INVALID, "policy: expected all or relay.")
    ice = await request.app[PRECHECK].ice_config(policy, who.participant, who.site_key)
    # A STUN server has no username: omitted, as RTCIceServer wants it, rather than null.
    body = PrecheckIce.model_validate(ice).model_dump(mode="json", exclude_none=True)
    return web.json_response(body, headers=NO_STORE)


@routes.post("/api/v1/precheck")
@operation(
    PrecheckStarted,
    status=201,
    body=PrecheckOffer,
    auth="visitor",
    errors=[*VISITOR_ERRORS, ErrorCode.RATE_LIMITED, ErrorCode.PRECHECK_BUSY],
)
async def start_precheck(request: web.Request) -> web.Response:
    """Start a pre-call check with the browser's offer.

    The answer holds the server peer's SDP. 429 ``precheck.busy`` when too many checks run
    (in all, or from the caller's address), 429 ``rate.limited`` when the caller, their
    address or their site started too many lately. A caller's new check closes their
    running one."""
    who = await caller(request)
    offer = await _read_offer(request)
    address = request_address(request)
    counted = Counted(visitor=who.participant, address=address, site=who.site_key)
    retry_after = await request.app[LIMITS].hit("precheck", counted)
    if retry_after is not None:
        raise refuse(
            429,
            ErrorCode.RATE_LIMITED,
            "Too many connection checks; try again shortly.",
            retry_after,
        )
    try:
        check_id, answer_sdp = await request.app[PRECHECK].offer(
            offer.sdp, offer.policy, who.participant, site_key=who.site_key, address=address
        )
    except PrecheckBusy as exc:
        raise refuse(429, ErrorCode.PRECHECK_BUSY, str(exc), BUSY_RETRY_SECONDS) from None
    except PrecheckRejected as exc:
        return error(400, ErrorCode.PAYLOAD_INVALID, str(exc))
    started = PrecheckStarted(check_id=check_id, answer_sdp=answer_sdp)
    return reply(started, status=201, headers=NO_STORE)


@routes.get(CHECK_PATH)
@operation(PrecheckResult, auth="visitor", errors=[*VISITOR_ERRORS, ErrorCode.PRECHECK_NOT_FOUND])
async def precheck_result(request: web.Request) -> web.Response:
    """What the check measured so far (poll until ``connected`` or ``failed``)."""
    who = await caller(request)
    try:
        result = await request.app[PRECHECK].result(request.match_info["check_id"], who.participant)
    except PrecheckNotFound as exc:
        return error(404, ErrorCode.PRECHECK_NOT_FOUND, str(exc))
    return reply(PrecheckResult.model_validate(result), headers=NO_STORE)


@routes.delete(CHECK_PATH)
@operation(None, status=204, auth="visitor", errors=[*VISITOR_ERRORS, ErrorCode.PRECHECK_NOT_FOUND])
async def end_precheck(request: web.Request) -> web.Response:
    """End a check and close its server peer."""
    who = await caller(request)
    try:
        await request.app[PRECHECK].close(request.match_info["check_id"], who.participant)
    except PrecheckNotFound as exc:
        return error(404, ErrorCode.PRECHECK_NOT_FOUND, str(exc))
    return web.Response(status=204)
