"""REST API under ``/api/v1``: staff sign-in, availability for the loader, and admin."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from server.auth import SESSION_COOKIE, StaffSession, cookie_value, hash_password, secrets_match
from server.keys import AUTH, INSTALLS, SETTINGS, SIGNALING, STORE, THROTTLE
from server.net import request_address
from server.site_settings import ink_for
from server.store import DuplicateError
from signaling.ports import StaffMember
from signaling.protocol import describe
from signaling.views import message_view

log = logging.getLogger(__name__)

routes = web.RouteTableDef()

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
# Answers that carry the CSRF token are for this browser only, never for a cache.
NO_STORE = {"Cache-Control": "no-store"}
SESSION_KEY = web.RequestKey("session", StaffSession)


def error(status: int, code: str, message: str, **headers: str) -> web.Response:
    return web.json_response(
        {"error": {"code": code, "message": message}}, status=status, headers=headers
    )


def staff_json(member: StaffMember) -> dict[str, Any]:
    return {
        "id": member.id,
        "email": member.email,
        "name": member.name,
        "role": member.role,
        "languages": list(member.languages),
        "max_chats": member.max_chats,
    }


@web.middleware
async def guard(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Loads the staff session for ``/api/v1`` and enforces CSRF on state-changing calls:
    signed-in calls need the session's ``X-CSRF-Token``; sign-in itself needs our Origin."""
    if not request.path.startswith("/api/v1/"):
        return await handler(request)
    auth = request.app[AUTH]
    # A customer frame authenticates with a Bearer visitor token, which browsers never send
    # on their own: such a request is not a staff request, whatever cookie rides along.
    customer = request.headers.get("Authorization", "").startswith("Bearer ")
    session = None if customer else await auth.session(request.cookies.get(SESSION_COOKIE))
    if session is not None:
        request[SESSION_KEY] = session
    if request.method not in SAFE_METHODS:
        if session is not None:
            sent = request.headers.get("X-CSRF-Token", "")
            if not secrets_match(sent, session.csrf_token):
                return error(403, "auth.csrf", "Missing or wrong CSRF token.")
        else:
            origin = request.headers.get("Origin")
            if origin is not None and origin not in auth.own_origins({"HTTP_HOST": request.host}):
                return error(403, "auth.csrf", "Cross-site request refused.")
    return await handler(request)


def require(request: web.Request, *roles: str) -> StaffSession:
    session: StaffSession | None = request.get(SESSION_KEY)
    if session is None:
        raise web.HTTPUnauthorized(
            text=json.dumps({"error": {"code": "auth.required", "message": "Please sign in."}}),
            content_type="application/json",
        )
    if roles and session.member.role not in roles:
        raise web.HTTPForbidden(
            text=json.dumps(
                {"error": {"code": "auth.forbidden", "message": "Your role cannot do this."}}
            ),
            content_type="application/json",
        )
    return session


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Login(Body):
    email: Annotated[str, StringConstraints(max_length=254, min_length=3)]
    password: Annotated[str, StringConstraints(max_length=1024, min_length=1)]


class NewStaff(Body):
    email: Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)]
    name: Annotated[str, StringConstraints(min_length=1, max_length=80)]
    role: Literal["admin", "supervisor", "agent"] = "agent"
    password: Annotated[str, StringConstraints(min_length=10, max_length=1024)]
    languages: Annotated[list[str], Field(max_length=20)] = []
    max_chats: Annotated[int, Field(ge=1, le=50)] = 3


M = TypeVar("M", bound=BaseModel)


async def read_json(request: web.Request) -> Any:
    """The request's JSON body, or 400 ``payload.invalid``: also for JSON nested too deeply
    for the parser (``RecursionError``), which is only a few kilobytes of brackets."""
    try:
        return await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise web.HTTPBadRequest(
            text=json.dumps({"error": {"code": "payload.invalid", "message": "Expected JSON."}}),
            content_type="application/json",
        ) from None


async def read_body(request: web.Request, model: type[M]) -> M:
    """The JSON body validated into ``model``, or 400 ``payload.invalid``."""
    raw = await read_json(request)
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise web.HTTPBadRequest(
            text=json.dumps({"error": {"code": "payload.invalid", "message": describe(exc)}}),
            content_type="application/json",
        ) from None


# -- staff sign-in ----------------------------------------------------------------------


def wait_text(seconds: float) -> str:
    """A wait as a person reads it: "40 s", "3 min"."""
    if seconds < 60:
        return f"{math.ceil(seconds)} s"
    return f"{math.ceil(seconds / 60)} min"


@routes.post("/api/v1/auth/login")
async def login(request: web.Request) -> web.Response:
    """Sign in. The attempt is counted (``server.throttle``) before the password is checked,
    so concurrent guesses cannot outrun the count; a refused attempt is 429
    ``auth.throttled`` with ``Retry-After``."""
    body = await read_body(request, Login)
    email = body.email.lower()
    address = request_address(request)
    throttle = request.app[THROTTLE]
    wait = await throttle.admit(email, address)
    if wait > 0:
        return error(
            429,
            "auth.throttled",
            f"Too many failed sign-ins. Try again in {wait_text(wait)}.",
            **{"Retry-After": str(math.ceil(wait))},
        )
    auth = request.app[AUTH]
    found = await request.app[STORE].staff_credentials(email)
    verified = await auth.passwords.verify(found[1] if found else None, body.password)
    if found is None or not verified:
        return error(401, "auth.invalid", "Wrong email or password.")
    await throttle.succeeded(email, address)
    member = found[0]
    token, csrf = await auth.start_session(member)
    response = web.json_response(
        {"staff": staff_json(member), "csrf_token": csrf}, headers=NO_STORE
    )
    settings = request.app[SETTINGS]
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="Strict",
        secure=settings.secure_cookies,
        path="/",
        max_age=int(settings.session_hours * 3600),
    )
    return response


@routes.post("/api/v1/auth/logout")
async def logout(request: web.Request) -> web.Response:
    session = require(request)
    token = cookie_value(request.headers.get("Cookie"), SESSION_COOKIE)
    if token:
        await request.app[AUTH].end_session(token)
    await request.app[SIGNALING].sign_out(session.member.id)
    response = web.json_response({"ok": True})
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


@routes.post("/api/v1/auth/logout-everywhere")
async def logout_everywhere(request: web.Request) -> web.Response:
    """End every session of the signed-in staff member (this browser's and every other's)
    and close their console sockets: for a lost laptop or a password that leaked."""
    session = require(request)
    ended = await request.app[AUTH].end_all_sessions(session.member.id)
    await request.app[SIGNALING].sign_out(session.member.id)
    log.info("staff %s signed out everywhere (%d sessions)", session.member.id, ended)
    response = web.json_response({"ok": True, "sessions_ended": ended})
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


@routes.get("/api/v1/me")
async def me(request: web.Request) -> web.Response:
    session = require(request)
    return web.json_response(
        {"staff": staff_json(session.member), "csrf_token": session.csrf_token},
        headers=NO_STORE,
    )


# -- public, for the loader -------------------------------------------------------------


@routes.get("/api/v1/sites/{key}/availability")
async def availability(request: web.Request) -> web.Response:
    """Whether someone can answer now: cheap, cacheable, no socket, no cookie."""
    site = await request.app[STORE].get_site(request.match_info["key"])
    if site is None:
        return error(404, "site.unknown", "No such site.")
    serving = await request.app[SIGNALING].router.serving()
    headers = {"Cache-Control": "public, max-age=15", "Vary": "Origin"}
    origin = request.headers.get("Origin")
    if origin in site.allowed_origins:
        headers["Access-Control-Allow-Origin"] = origin
        await request.app[INSTALLS].seen(site, origin)
    look = {
        "color": site.brand_color,
        "ink": ink_for(site.brand_color),
        "position": site.launcher_position,
        "text": site.launcher_text,
    }
    return web.json_response({"available": serving > 0, "look": look}, headers=headers)


# -- admin ------------------------------------------------------------------------------


@routes.post("/api/v1/staff")
async def create_staff(request: web.Request) -> web.Response:
    require(request, "admin")
    body = await read_body(request, NewStaff)
    try:
        member = await request.app[STORE].create_staff(
            email=body.email.lower(),
            name=body.name,
            role=body.role,
            password_hash=hash_password(body.password),
            languages=tuple(body.languages),
            max_chats=body.max_chats,
        )
    except DuplicateError:
        return error(409, "staff.exists", "A staff member with this email exists.")
    return web.json_response({"staff": staff_json(member)}, status=201)


@routes.get("/api/v1/conversations/{id}/messages")
async def transcript(request: web.Request) -> web.Response:
    """A conversation's transcript, for its assignee or an admin."""
    session = require(request)
    store = request.app[STORE]
    conversation = await store.get_conversation(request.match_info["id"])
    if conversation is None or (
        session.member.role != "admin" and conversation.assignee_id != session.member.id
    ):
        return error(404, "conversation.not_found", "No such conversation.")
    messages = await store.messages_after(conversation.id, 0, 10_000)
    return web.json_response({"messages": [message_view(m).to_wire() for m in messages]})
