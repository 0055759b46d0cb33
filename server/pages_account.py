"""The page an invitation or password-reset link opens: choose a password. A plain HTML
form (no script), so it works in any browser a link is opened in."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiohttp import web

from server.api import wait_text
from server.api_staff import LINK_HOURS, send_password_link
from server.audit import AUDIT, Actor, AuditAction
from server.auth import hash_password, token_digest
from server.keys import AUTH, SIGNALING, STORE, THROTTLE
from server.net import request_address
from server.pages import csp, render
from server.settings import EMAIL
from server.staff_models import MIN_PASSWORD

log = logging.getLogger(__name__)

routes = web.RouteTableDef()

TITLES = {"invite": "Welcome to Porchlight", "reset": "Choose a new password"}


def _page(request: web.Request, status: int = 200, **context: Any) -> web.Response:
    body = render(request, "account.html", min_length=MIN_PASSWORD, **context)
    return web.Response(
        text=body,
        status=status,
        content_type="text/html",
        headers={
            # The form posts to this page only.
            "Content-Security-Policy": csp(request, "'none'").replace(
                "form-action 'none'", "form-action 'self'"
            ),
            "Cache-Control": "no-store",
            # The token never leaves in a Referer to another site; same-origin (rather than
            # no-referrer) keeps the form's Origin header, which the POST checks.
            "Referrer-Policy": "same-origin",
        },
    )


def _same_origin(request: web.Request) -> None:
    """Forms post from our own pages only (browsers always send Origin on a POST)."""
    origin = request.headers.get("Origin")
    if origin is not None and origin not in request.app[AUTH].own_origins(
        {"HTTP_HOST": request.host}
    ):
        raise web.HTTPForbidden(text="Cross-site request refused.")


def _spent(request: web.Request) -> web.Response:
    return _page(request, 410, state="spent", title="This link no longer works")


@routes.get("/account/password")
async def password_page(request: web.Request) -> web.Response:
    token = request.query.get("token", "")
    held = await request.app[STORE].link_holder(token_digest(token), time.time())
    if not token or held is None:
        return _spent(request)
    profile, purpose = held
    return _page(
        request,
        state="form",
        title=TITLES[purpose],
        purpose=purpose,
        name=profile.name,
        email=profile.email,
        token=token,
        problem="",
    )


@routes.post("/account/password")
async def set_password(request: web.Request) -> web.Response:
    """Spend the link and set the password. A reset also signs the member out everywhere
    (whoever asked for it may fear that someone else knows the old one)."""
    _same_origin(request)
    form = await request.post()
    token, password, confirm = (str(form.get(k, "")) for k in ("token", "password", "confirm"))
    store = request.app[STORE]
    held = await store.link_holder(token_digest(token), time.time())
    if not token or held is None:
        return _spent(request)
    profile, purpose = held
    problem = ""
    if len(password) < MIN_PASSWORD or len(password) > 1024:
        problem = f"The password needs at least {MIN_PASSWORD} characters."
    elif password != confirm:
        problem = "The two passwords are not the same."
    if problem:
        return _page(
            request,
            400,
            state="form",
            title=TITLES[purpose],
            purpose=purpose,
            name=profile.name,
            email=profile.email,
            token=token,
            problem=problem,
        )
    password_hash = await asyncio.to_thread(hash_password, password)
    used = await store.use_link(token_digest(token), time.time(), password_hash)
    if used is None:  # spent in another tab meanwhile
        return _spent(request)
    profile, purpose = used
    if purpose == "reset":
        await request.app[AUTH].end_all_sessions(profile.id)
        await request.app[SIGNALING].sign_out(profile.id)
    log.info("staff %s set their password (%s link)", profile.id, purpose)
    await request.app[AUDIT].record(
        Actor.staff(profile.id, profile.email, request),
        AuditAction.PASSWORD_CHANGED,
        f"staff:{profile.id}",
        {"via": f"{purpose} link"},
    )
    return _page(request, state="done", title="Password set", email=profile.email)


@routes.get("/account/forgot")
async def forgot_page(request: web.Request) -> web.Response:
    return _page(request, state="forgot", title="Forgot your password?", email="", problem="")


@routes.post("/account/forgot")
async def forgot(request: web.Request) -> web.Response:
    """Email a password link to the staff member with this address, if there is one. The
    answer is the same either way (it tells no one who works here), and requests are
    counted like sign-in attempts, per address and per email."""
    _same_origin(request)
    form = await request.post()
    email = str(form.get("email", "")).strip().lower()[:254]
    if not EMAIL.fullmatch(email):
        return _page(
            request,
            400,
            state="forgot",
            title="Forgot your password?",
            email=email,
            problem="Write your email address, such as ana@example.com.",
        )
    wait = await request.app[THROTTLE].admit(f"reset:{email}", request_address(request))
    if wait > 0:
        return _page(
            request,
            429,
            state="forgot",
            title="Forgot your password?",
            email=email,
            problem=f"Too many requests. Try again in {wait_text(wait)}.",
        )
    store = request.app[STORE]
    found = await store.staff_credentials(email)
    profile = await store.staff_profile(found[0].id) if found else None
    if profile is not None:
        actor = Actor.anonymous(email, request)
        await send_password_link(request.app, profile, "Your team", actor)
    return _page(
        request,
        state="forgot-sent",
        title="Check your email",
        email=email,
        hours=LINK_HOURS["reset"],
    )
