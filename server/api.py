"""REST API under ``/api/v1``: staff sign-in and admin (availability is in ``server.api_hours``).

Each route declares itself for the OpenAPI document with ``server.openapi.operation``; the
envelope and the request helpers are in ``server.rest`` (re-exported here, where the route
modules have always found them).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from typing import Annotated, Literal

from aiohttp import web
from pydantic import Field, StringConstraints

from server import api_tokens
from server.api_models import (
    Ok,
    SessionView,
    SignedOutEverywhere,
    StaffCreated,
    StaffView,
    Transcript,
)
from server.audit import AUDIT, Actor, AuditAction
from server.auth import SESSION_COOKIE, StaffSession, cookie_value, hash_password, secrets_match
from server.keys import AUTH, SETTINGS, SIGNALING, STORE, THROTTLE
from server.net import request_address
from server.openapi import SAFE_METHODS, operation
from server.paging import Page, next_cursor, page
from server.rest import SESSION_KEY, Body, admit, error, read_body, read_json, reply, require
from server.store import DuplicateError
from signaling.errors import ErrorCode
from signaling.ports import OVERSEERS
from signaling.views import message_view

__all__ = ["SESSION_KEY", "Body", "error", "read_body", "read_json", "require", "routes"]

log = logging.getLogger(__name__)

routes = web.RouteTableDef()

# Answers that carry the CSRF token are for this browser only, never for a cache.
NO_STORE = {"Cache-Control": "no-store"}


def actor_of(request: web.Request, session: StaffSession) -> Actor:
    """The signed-in staff member, from this request's address, for the audit log."""
    return Actor.staff(session.member.id, session.member.email, request)


@web.middleware
async def guard(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Loads the staff session for ``/api/v1`` and enforces CSRF on state-changing calls:
    signed-in calls need the session's ``X-CSRF-Token``; sign-in itself needs our Origin.
    An API token (``Bearer pl_…``) is the caller instead, within its scope and without CSRF
    (``server.api_tokens``)."""
    if not request.path.startswith("/api/v1/"):
        return await handler(request)
    authorization = request.headers.get("Authorization", "")
    if api_tokens.is_api_token(authorization):
        return await api_tokens.token_request(request, handler)
    auth = request.app[AUTH]
    # A customer frame authenticates with a Bearer visitor token, which browsers never send
    # on their own: such a request is not a staff request, whatever cookie rides along.
    customer = authorization.startswith("Bearer ")
    session = None if customer else await auth.session(request.cookies.get(SESSION_COOKIE))
    if session is not None:
        request[SESSION_KEY] = session
    if request.method not in SAFE_METHODS:
        if session is not None:
            sent = request.headers.get("X-CSRF-Token", "")
            if not secrets_match(sent, session.csrf_token):
                return error(403, ErrorCode.AUTH_CSRF, "Missing or wrong CSRF token.")
        else:
            origin = request.headers.get("Origin")
            if origin is not None and origin not in auth.own_origins({"HTTP_HOST": request.host}):
                return error(403, ErrorCode.AUTH_CSRF, "Cross-site request refused.")
    admit(request)
    return await handler(request)


class Login(Body):
    """A staff member's email and password."""

    email: Annotated[str, StringConstraints(max_length=254, min_length=3)]
    password: Annotated[str, StringConstraints(max_length=1024, min_length=1)]


class NewStaff(Body):
    """A new staff member; ``max_chats`` is how many chats they handle at once."""

    email: Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)]
    name: Annotated[str, StringConstraints(min_length=1, max_length=80)]
    role: Literal["admin", "supervisor", "agent"] = "agent"
    password: Annotated[str, StringConstraints(min_length=10, max_length=1024)]
    languages: Annotated[list[str], Field(max_length=20)] = []
    max_chats: Annotated[int, Field(ge=1, le=50)] = 3


# -- staff sign-in ----------------------------------------------------------------------


def wait_text(seconds: float) -> str:
    """A wait as a person reads it: "40 s", "3 min"."""
    if seconds < 60:
        return f"{math.ceil(seconds)} s"
    return f"{math.ceil(seconds / 60)} min"


@routes.post("/api/v1/auth/login")
@operation(
    SessionView,
    body=Login,
    auth="public",
    errors=[ErrorCode.AUTH_INVALID, ErrorCode.AUTH_THROTTLED],
)
async def login(request: web.Request) -> web.Response:
    """Sign in with email and password.

    Sets the HttpOnly session cookie and returns the CSRF token. The attempt is counted
    before the password is checked, so concurrent guesses cannot outrun the count; a refused
    attempt is 429 ``auth.throttled`` with ``Retry-After``. Needs our own ``Origin`` if one
    is sent."""
    body = await read_body(request, Login)
    email = body.email.lower()
    address = request_address(request)
    throttle = request.app[THROTTLE]
    wait = await throttle.admit(email, address)
    if wait > 0:
        return error(
            429,
            ErrorCode.AUTH_THROTTLED,
            f"Too many failed sign-ins. Try again in {wait_text(wait)}.",
            **{"Retry-After": str(math.ceil(wait))},
        )
    auth = request.app[AUTH]
    found = await request.app[STORE].staff_credentials(email)
    verified = await auth.passwords.verify(found[1] if found else None, body.password)
    audit = request.app[AUDIT]
    # Refusals while throttled (above) are not audited one by one: they cost the server
    # nothing, and a flood of them must not grow the audit log.
    if found is None or not verified:
        target = f"staff:{found[0].id}" if found else None
        await audit.record(
            Actor.anonymous(email, request),
            AuditAction.SIGN_IN_FAILED,
            target,
            {"reason": "invalid"},
        )
        return error(401, ErrorCode.AUTH_INVALID, "Wrong email or password.")
    await throttle.succeeded(email, address)
    member = found[0]
    await audit.record(
        Actor.staff(member.id, member.email, request), AuditAction.SIGN_IN, f"staff:{member.id}"
    )
    token, csrf = await auth.start_session(member)
    response = reply(SessionView(staff=StaffView.of(member), csrf_token=csrf), headers=NO_STORE)
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
@operation(Ok, auth="session")
async def logout(request: web.Request) -> web.Response:
    """Sign out this browser and close the member's console sockets."""
    session = require(request)
    token = cookie_value(request.headers.get("Cookie"), SESSION_COOKIE)
    if token:
        await request.app[AUTH].end_session(token)
    await request.app[SIGNALING].sign_out(session.member.id)
    response = reply(Ok())
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


@routes.post("/api/v1/auth/logout-everywhere")
@operation(SignedOutEverywhere, auth="session")
async def logout_everywhere(request: web.Request) -> web.Response:
    """Sign out on every device.

    Ends every session of the signed-in staff member (this browser's and every other's)
    and closes their console sockets: for a lost laptop or a password that leaked."""
    session = require(request)
    ended = await request.app[AUTH].end_all_sessions(session.member.id)
    await request.app[SIGNALING].sign_out(session.member.id)
    log.info("staff %s signed out everywhere (%d sessions)", session.member.id, ended)
    await request.app[AUDIT].record(
        actor_of(request, session),
        AuditAction.SIGNED_OUT_EVERYWHERE,
        f"staff:{session.member.id}",
        {"sessions": ended},
    )
    response = reply(SignedOutEverywhere(sessions_ended=ended))
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


@routes.get("/api/v1/me")
@operation(SessionView, auth="session")
async def me(request: web.Request) -> web.Response:
    """The signed-in staff member and their CSRF token."""
    session = require(request)
    view = SessionView(staff=StaffView.of(session.member), csrf_token=session.csrf_token)
    return reply(view, headers=NO_STORE)


# -- admin ------------------------------------------------------------------------------


@routes.post("/api/v1/staff")
@operation(
    StaffCreated, status=201, body=NewStaff, roles=["admin"], errors=[ErrorCode.STAFF_EXISTS]
)
async def create_staff(request: web.Request) -> web.Response:
    """Add a staff member with a first password."""
    session = require(request, "admin")
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
        return error(409, ErrorCode.STAFF_EXISTS, "A staff member with this email exists.")
    await request.app[AUDIT].record(
        actor_of(request, session),
        AuditAction.STAFF_CREATED,
        f"staff:{member.id}",
        {"email": member.email, "role": member.role},
    )
    return reply(StaffCreated(staff=StaffView.of(member)), status=201)


@routes.get("/api/v1/conversations/{id}/messages")
@operation(Transcript, query=Page, errors=[ErrorCode.CONVERSATION_NOT_FOUND])
async def transcript(request: web.Request) -> web.Response:
    """A conversation's transcript, by seq.

    For its assignee, an admin or a supervisor; anyone else is told it does not exist."""
    session = require(request)
    after, limit = page(request)
    store = request.app[STORE]
    conversation = await store.get_conversation(request.match_info["id"])
    if conversation is None or (
        session.member.role not in OVERSEERS and conversation.assignee_id != session.member.id
    ):
        return error(404, ErrorCode.CONVERSATION_NOT_FOUND, "No such conversation.")
    messages = await store.messages_after(conversation.id, after, limit + 1)
    return reply(
        Transcript(
            messages=[message_view(m) for m in messages[:limit]],
            next_cursor=next_cursor([m.seq for m in messages], limit),
        )
    )
