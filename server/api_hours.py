"""REST for business hours and the offline path.

- ``GET /api/v1/sites/{key}/availability`` (public, cacheable): whether someone can answer,
  whether the team is within its hours, the next opening as an instant, the offline choice,
  and the launcher's look; a request from an allowed origin counts as the install seen.
- ``GET|PUT /api/v1/sites/{key}/hours`` (admins): the site's hours, closures, offline choice
  and queue timeout; 400 ``hours.invalid`` / ``hours.timezone_unknown`` name the field.
- ``POST /api/v1/sites/{key}/offline-messages`` (the customer frame, ``Authorization: Bearer
  <visitor token>``): leave an email and a message; 201 with the offline conversation.
- ``GET /api/v1/offline-messages`` (staff): the messages left for later, newest first.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any, ClassVar, Literal

from aiohttp import web
from pydantic import BaseModel, Field, StringConstraints

from server.api import error, read_json, require
from server.keys import AUTH, INSTALLS, LIMITS, SIGNALING, STORE
from server.net import request_address
from server.site_settings import ink_for
from server.store import SqlStore
from signaling.errors import ErrorCode, ProtocolError
from signaling.hours import Hours, HoursError
from signaling.offline import OfflineDesk, SiteHours, availability
from signaling.ports import Counted, CustomerIdentity, Site
from signaling.protocol import MAX_BODY_CHARS, ClientMsgId, Language, PageUrl, Payload, decode

routes = web.RouteTableDef()

OFFLINE = web.AppKey("offline", OfflineDesk)
# One address a reply can go to: no spaces, no list separators, a dot in the domain.
EMAIL = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+$")
NO_STORE = {"Cache-Control": "no-store"}


async def offline_runtime(app: web.Application) -> AsyncIterator[None]:
    """``cleanup_ctx``, after the one that opens the store and the signaling domain."""
    router = app[SIGNALING].router
    app[OFFLINE] = OfflineDesk(app[STORE], app[STORE], router, router.clock)
    yield


def _refuse(status: type[web.HTTPException], code: str, message: str) -> web.HTTPException:
    return status(
        text=json.dumps({"error": {"code": code, "message": message}}),
        content_type="application/json",
    )


async def _site(request: web.Request) -> Site:
    site = await request.app[STORE].get_site(request.match_info["key"])
    if site is None:
        raise _refuse(web.HTTPNotFound, ErrorCode.SITE_UNKNOWN, "No such site.")
    return site


class HoursBody(Payload):
    """``PUT /api/v1/sites/{key}/hours``. ``hours`` null: always open."""

    max_bytes: ClassVar[int] = 64 * 1024

    hours: dict[str, Any] | None
    offline: Literal["message", "hide"] = "message"
    queue_timeout_s: Annotated[int, Field(ge=30, le=24 * 3600)] | None = None


class HoursView(BaseModel):
    hours: dict[str, Any] | None
    offline: Literal["message", "hide"]
    queue_timeout_s: int | None


class OfflineMessage(Payload):
    """``POST /api/v1/sites/{key}/offline-messages``."""

    max_bytes: ClassVar[int] = 16 * 1024

    email: Annotated[str, StringConstraints(max_length=254)]
    message: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_BODY_CHARS)
    ]
    client_msg_id: ClientMsgId
    page_url: PageUrl | None = None
    page_title: Annotated[str, StringConstraints(max_length=300)] | None = None
    language: Language | None = None


def hours_view(value: SiteHours) -> HoursView:
    return HoursView(
        hours=value.hours.to_wire() if value.hours else None,
        offline=value.offline,
        queue_timeout_s=value.queue_timeout,
    )


@routes.get("/api/v1/sites/{key}/availability")
async def site_availability(request: web.Request) -> web.Response:
    """Whether someone can answer now: cheap, cacheable, no socket, no cookie."""
    site = await request.app[STORE].get_site(request.match_info["key"])
    if site is None:
        return error(404, "site.unknown", "No such site.")
    store: SqlStore = request.app[STORE]
    serving = await request.app[SIGNALING].router.serving()
    body = availability(await store.site_hours(site.id), time.time(), serving)
    headers = {"Cache-Control": "public, max-age=15", "Vary": "Origin"}
    origin = request.headers.get("Origin")
    if origin in site.allowed_origins:
        headers["Access-Control-Allow-Origin"] = origin
        await request.app[INSTALLS].seen(site, origin)
    body["look"] = {
        "color": site.brand_color,
        "ink": ink_for(site.brand_color),
        "position": site.launcher_position,
        "text": site.launcher_text,
    }
    return web.json_response(body, headers=headers)


@routes.get("/api/v1/sites/{key}/hours")
async def get_hours(request: web.Request) -> web.Response:
    require(request, "admin")
    site = await _site(request)
    value = await request.app[STORE].site_hours(site.id)
    return web.json_response(hours_view(value).model_dump(), headers=NO_STORE)


@routes.put("/api/v1/sites/{key}/hours")
async def put_hours(request: web.Request) -> web.Response:
    """Replace the hours; nothing is stored unless all of it is valid."""
    require(request, "admin")
    site = await _site(request)
    try:
        body = decode(HoursBody, await read_json(request))
    except ProtocolError as exc:
        return error(400, exc.code, exc.message)
    try:
        hours = Hours.from_wire(body.hours) if body.hours is not None else None
    except HoursError as exc:
        code = ErrorCode.TIMEZONE_UNKNOWN if exc.zone else ErrorCode.HOURS_INVALID
        return error(400, code, str(exc))
    value = SiteHours(hours, body.offline, body.queue_timeout_s)
    await request.app[STORE].set_site_hours(site.id, value, time.time())
    return web.json_response(hours_view(value).model_dump(), headers=NO_STORE)


async def _visitor(request: web.Request, site: Site) -> CustomerIdentity:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _refuse(web.HTTPUnauthorized, ErrorCode.TOKEN_INVALID, "Expected a Bearer token.")
    try:
        visitor_id = request.app[AUTH].tokens.verify(token.strip(), site.key)
    except ProtocolError as exc:
        raise _refuse(web.HTTPUnauthorized, exc.code, exc.message) from None
    return CustomerIdentity(site=site, visitor_id=visitor_id, token=token.strip())


@routes.post("/api/v1/sites/{key}/offline-messages")
async def leave_message(request: web.Request) -> web.Response:
    """A customer leaves their email and a message for later; nothing is stored when any
    of it is refused."""
    site = await _site(request)
    customer = await _visitor(request, site)
    try:
        body = decode(OfflineMessage, await read_json(request))
    except ProtocolError as exc:
        return error(413 if exc.code == ErrorCode.PAYLOAD_TOO_LARGE else 400, exc.code, exc.message)
    email = body.email.strip()
    if EMAIL.match(email) is None:
        return error(
            400, ErrorCode.EMAIL_INVALID, "email: expected an address like ana@example.com."
        )
    counted = Counted(visitor=customer.visitor_id, address=request_address(request), site=site.key)
    retry_after = await request.app[LIMITS].hit("conversation", counted)
    if retry_after is not None:
        limited = ProtocolError(ErrorCode.RATE_LIMITED, "Too many messages; try again shortly.")
        return web.json_response(
            {"error": limited.to_wire()},
            status=429,
            headers={"Retry-After": str(math.ceil(retry_after))},
        )
    try:
        conversation = await request.app[OFFLINE].leave(
            customer,
            email,
            body.message,
            body.client_msg_id,
            (body.page_url, body.page_title),
            body.language,
        )
    except ProtocolError as exc:
        return error(409, exc.code, exc.message)
    view = request.app[SIGNALING].router.view(conversation, for_staff=False)
    return web.json_response({"conversation": view.to_wire()}, status=201, headers=NO_STORE)


@routes.get("/api/v1/offline-messages")
async def offline_messages(request: web.Request) -> web.Response:
    require(request, "admin", "supervisor", "agent")
    listed = await request.app[STORE].offline_conversations()
    return web.json_response({"messages": listed}, headers=NO_STORE)
