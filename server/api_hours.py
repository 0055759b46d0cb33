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

import re
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any, ClassVar, Literal

from aiohttp import web
from pydantic import Field, StringConstraints

from server.api import actor_of
from server.api_models import (
    Availability,
    HoursView,
    Look,
    OfflineLeft,
    OfflineMessageList,
    OfflineMessageView,
)
from server.audit import AUDIT, AuditAction
from server.keys import AUTH, INSTALLS, LIMITS, SIGNALING, STORE
from server.net import request_address
from server.openapi import operation
from server.rest import error, read_json, refuse, reply, require
from server.site_settings import ink_for
from server.store import SqlStore
from signaling.errors import ErrorCode, ProtocolError
from signaling.hours import Hours, HoursError
from signaling.offline import OfflineDesk, SiteHours
from signaling.offline import availability as availability_of
from signaling.ports import Counted, CustomerIdentity, Site
from signaling.protocol import MAX_BODY_CHARS, ClientMsgId, Language, PageUrl, Payload, decode

routes = web.RouteTableDef()

OFFLINE = web.AppKey("offline", OfflineDesk)
# One address a reply can go to: no spaces, no list separators, a dot in the domain.
EMAIL = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+$")
NO_STORE = {"Cache-Control": "no-store"}
HOURS_ERRORS = [ErrorCode.SITE_UNKNOWN]
VISITOR_ERRORS = [ErrorCode.TOKEN_INVALID, ErrorCode.SITE_UNKNOWN]


async def offline_runtime(app: web.Application) -> AsyncIterator[None]:
    """``cleanup_ctx``, after the one that opens the store and the signaling domain."""
    router = app[SIGNALING].router
    app[OFFLINE] = OfflineDesk(app[STORE], app[STORE], router, router.clock)
    yield


async def _site(request: web.Request) -> Site:
    site = await request.app[STORE].get_site(request.match_info["key"])
    if site is None:
        raise refuse(404, ErrorCode.SITE_UNKNOWN, "No such site.")
    return site


class HoursBody(Payload):
    """``PUT /api/v1/sites/{key}/hours``. ``hours`` null: always open."""

    max_bytes: ClassVar[int] = 64 * 1024

    hours: dict[str, Any] | None = Field(
        description='``timezone`` (IANA), ``week`` (weekday to ranges ``["09:00", '
        '"17:00"]``) and ``closures`` (date ranges with their own ranges); null: always open.'
    )
    offline: Literal["message", "hide"] = "message"
    queue_timeout_s: Annotated[int, Field(ge=30, le=24 * 3600)] | None = None


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
@operation(Availability, auth="public", errors=[ErrorCode.SITE_UNKNOWN])
async def availability(request: web.Request) -> web.Response:
    """Whether someone can answer now: cheap, cacheable, no socket, no cookie.

    Also whether the team is within its hours, the next opening (or closing) as an instant,
    and the offline path; a request from an allowed origin counts as the install seen."""
    site = await request.app[STORE].get_site(request.match_info["key"])
    if site is None:
        return error(404, ErrorCode.SITE_UNKNOWN, "No such site.")
    store: SqlStore = request.app[STORE]
    serving = await request.app[SIGNALING].router.serving()
    now = availability_of(await store.site_hours(site.id), time.time(), serving)
    headers = {"Cache-Control": "public, max-age=15", "Vary": "Origin"}
    origin = request.headers.get("Origin")
    if origin in site.allowed_origins:
        headers["Access-Control-Allow-Origin"] = origin
        await request.app[INSTALLS].seen(site, origin)
    look = Look(
        color=site.brand_color,
        ink=ink_for(site.brand_color),
        position="left" if site.launcher_position == "left" else "right",
        text=site.launcher_text,
    )
    return reply(Availability(**now, look=look), headers=headers)


@routes.get("/api/v1/sites/{key}/hours")
@operation(HoursView, roles=["admin"], errors=HOURS_ERRORS)
async def get_hours(request: web.Request) -> web.Response:
    """A site's business hours, closures, offline choice and queue timeout."""
    require(request, "admin")
    site = await _site(request)
    value = await request.app[STORE].site_hours(site.id)
    return reply(hours_view(value), headers=NO_STORE)


@routes.put("/api/v1/sites/{key}/hours")
@operation(
    HoursView,
    body=HoursBody,
    roles=["admin"],
    errors=[
        *HOURS_ERRORS,
        ErrorCode.PAYLOAD_INVALID,
        ErrorCode.PAYLOAD_TOO_LARGE,
        ErrorCode.HOURS_INVALID,
        ErrorCode.TIMEZONE_UNKNOWN,
    ],
)
async def put_hours(request: web.Request) -> web.Response:
    """Replace a site's hours; nothing is stored unless all of it is valid.

    ``hours.invalid`` and ``hours.timezone_unknown`` name the field."""
    session = require(request, "admin")
    site = await _site(request)
    try:
        body = decode(HoursBody, await read_json(request))
    except ProtocolError as exc:
        return error(413 if exc.code == ErrorCode.PAYLOAD_TOO_LARGE else 400, exc.code, exc.message)
    try:
        hours = Hours.from_wire(body.hours) if body.hours is not None else None
    except HoursError as exc:
        code = ErrorCode.TIMEZONE_UNKNOWN if exc.zone else ErrorCode.HOURS_INVALID
        return error(400, code, str(exc))
    store: SqlStore = request.app[STORE]
    before = hours_view(await store.site_hours(site.id)).model_dump()
    value = SiteHours(hours, body.offline, body.queue_timeout_s)
    await store.set_site_hours(site.id, value, time.time())
    after = hours_view(value)
    changed = {k: v for k, v in after.model_dump().items() if before[k] != v}
    if changed:
        await request.app[AUDIT].record(
            actor_of(request, session),
            AuditAction.SITE_CHANGED,
            f"site:{site.key}",
            {"changed": sorted(changed), **changed},
        )
    return reply(after, headers=NO_STORE)


async def _visitor(request: web.Request, site: Site) -> CustomerIdentity:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise refuse(401, ErrorCode.TOKEN_INVALID, "Expected a Bearer token.")
    try:
        visitor_id = request.app[AUTH].tokens.verify(token.strip(), site.key)
    except ProtocolError as exc:
        raise refuse(401, exc.code, exc.message) from None
    return CustomerIdentity(site=site, visitor_id=visitor_id, token=token.strip())


@routes.post("/api/v1/sites/{key}/offline-messages")
@operation(
    OfflineLeft,
    status=201,
    body=OfflineMessage,
    auth="visitor",
    errors=[
        *VISITOR_ERRORS,
        ErrorCode.PAYLOAD_INVALID,
        ErrorCode.PAYLOAD_TOO_LARGE,
        ErrorCode.EMAIL_INVALID,
        ErrorCode.RATE_LIMITED,
        ErrorCode.OFFLINE_DISABLED,
    ],
)
async def leave_message(request: web.Request) -> web.Response:
    """Leave an email and a message for later (the customer frame, by visitor token).

    Nothing is stored when any of it is refused; a conversation the customer was waiting in
    becomes the offline one."""
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
        raise refuse(
            429, ErrorCode.RATE_LIMITED, "Too many messages; try again shortly.", retry_after
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
    return reply(OfflineLeft(conversation=view), status=201, headers=NO_STORE)


@routes.get("/api/v1/offline-messages")
@operation(OfflineMessageList, roles=["admin", "supervisor", "agent"])
async def offline_messages(request: web.Request) -> web.Response:
    """Messages left for later while nobody could answer, newest first."""
    require(request, "admin", "supervisor", "agent")
    listed = await request.app[STORE].offline_conversations()
    messages = [OfflineMessageView.model_validate(m) for m in listed]
    return reply(OfflineMessageList(messages=messages), headers=NO_STORE)
