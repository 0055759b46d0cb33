"""Staff administration over REST: the team list, invitations, edits and password links
(admins); each staff member's own profile and password."""

from __future__ import annotations

import logging
import secrets
import time
from typing import Literal

from aiohttp import web

from server.api import actor_of
from server.api_models import Ok
from server.api_photos import photo_url
from server.audit import AUDIT, Actor, AuditAction
from server.auth import hash_password, token_digest
from server.keys import AUTH, MAIL, SETTINGS, STORE
from server.openapi import operation
from server.paging import Page, next_cursor, page
from server.rest import error, read_body, refuse, reply, require
from server.staff_models import (
    CONSOLE_LANGUAGES,
    ConsoleLanguageOut,
    LinkSent,
    PasswordChange,
    ProfileEdit,
    ProfileOut,
    StaffEdit,
    StaffInvite,
    StaffList,
    StaffOne,
    StaffOut,
)
from server.store import DuplicateError
from server.store_staff import LastAdmin, StaffProfile
from signaling.errors import ErrorCode

log = logging.getLogger(__name__)

routes = web.RouteTableDef()

LINK_HOURS = {"invite": 72, "reset": 2}
TEMPLATES = {"invite": "staff_invite", "reset": "password_reset"}


NO_STORE = {"Cache-Control": "no-store"}
NOT_FOUND = "No such staff member."


def staff_id_of(request: web.Request) -> int:
    raw = request.match_info["id"]
    if not raw.isdigit() or len(raw) > 12:
        raise refuse(404, ErrorCode.STAFF_NOT_FOUND, NOT_FOUND)
    return int(raw)


async def _team_name(request: web.Request) -> str:
    sites = await request.app[STORE].list_sites()
    return sites[0].name if len(sites) == 1 else "Porchlight"


def _link(request: web.Request, purpose: Literal["invite", "reset"]) -> tuple[str, str, float]:
    """A new link: (token, url, expires_at)."""
    token = secrets.token_urlsafe(32)
    url = f"{request.app[SETTINGS].public_url}/account/password?token={token}"
    return token, url, time.time() + LINK_HOURS[purpose] * 3600


# -- admins -----------------------------------------------------------------------------


@routes.get("/api/v1/staff")
@operation(StaffList, roles=["admin"], query=Page)
async def list_staff(request: web.Request) -> web.Response:
    """List staff members, oldest first, invited ones included."""
    require(request, "admin")
    after, limit = page(request)
    profiles = await request.app[STORE].staff_profiles(after=after, limit=limit + 1)
    photos = await request.app[STORE].photo_versions()
    team = [StaffOut.of(p, photo_url(p.id, photos.get(p.id))) for p in profiles[:limit]]
    cursor = next_cursor([p.id for p in profiles], limit)
    return reply(StaffList(staff=team, next_cursor=cursor), headers=NO_STORE)


@routes.post("/api/v1/staff/invitations")
@operation(LinkSent, status=201, body=StaffInvite, roles=["admin"], errors=[ErrorCode.STAFF_EXISTS])
async def invite(request: web.Request) -> web.Response:
    """Add a staff member without a password and email them a link to choose one. The
    member, the link and the email are stored together or not at all."""
    session = require(request, "admin")
    body = await read_body(request, StaffInvite)
    token, url, expires_at = _link(request, "invite")
    outbox = request.app[MAIL]
    email = outbox.render(
        body.email,
        TEMPLATES["invite"],
        {
            "name": body.name,
            "inviter": session.member.name,
            "team": await _team_name(request),
            "role": body.role,
            "url": url,
            "hours": LINK_HOURS["invite"],
            "product": "Porchlight",
        },
        "en",
    )
    try:
        profile = await request.app[STORE].invite_staff(
            body.email,
            body.name,
            body.role,
            body.languages,
            body.max_chats,
            body.max_calls,
            (token_digest(token), time.time(), expires_at),
            email,
        )
    except DuplicateError:
        return error(409, ErrorCode.STAFF_EXISTS, "A staff member with this email exists.")
    outbox.wake()
    log.info("staff %s invited by %s", profile.id, session.member.id)
    await request.app[AUDIT].record(
        actor_of(request, session),
        AuditAction.STAFF_INVITED,
        f"staff:{profile.id}",
        {"email": profile.email, "role": profile.role},
    )
    sent = LinkSent(
        staff=StaffOut.of(profile), url=url, expires_at=expires_at, message_id=email.message_id
    )
    return reply(sent, status=201, headers=NO_STORE)


async def _profile_or_404(request: web.Request, staff_id: int) -> StaffProfile:
    profile = await request.app[STORE].staff_profile(staff_id)
    if profile is None:
        raise refuse(404, ErrorCode.STAFF_NOT_FOUND, NOT_FOUND)
    return profile


@routes.get("/api/v1/staff/{id}")
@operation(StaffOne, roles=["admin"], errors=[ErrorCode.STAFF_NOT_FOUND])
async def get_staff(request: web.Request) -> web.Response:
    """One staff member."""
    require(request, "admin")
    profile = await _profile_or_404(request, staff_id_of(request))
    return reply(StaffOne(staff=StaffOut.of(profile)), headers=NO_STORE)


@routes.patch("/api/v1/staff/{id}")
@operation(
    StaffOne,
    body=StaffEdit,
    roles=["admin"],
    errors=[ErrorCode.STAFF_NOT_FOUND, ErrorCode.STAFF_LAST_ADMIN],
)
async def edit_staff(request: web.Request) -> web.Response:
    """Change name, role, languages or capacity; routing uses them from the next ring."""
    session = require(request, "admin")
    staff_id = staff_id_of(request)
    body = await read_body(request, StaffEdit)
    values = body.model_dump(exclude_none=True)
    before = await _profile_or_404(request, staff_id)
    try:
        profile = await request.app[STORE].update_staff(staff_id, **values)
    except LastAdmin:
        return error(
            409,
            ErrorCode.STAFF_LAST_ADMIN,
            "This is the team's only admin who can sign in; make someone else admin first.",
        )
    if profile is None:
        return error(404, ErrorCode.STAFF_NOT_FOUND, NOT_FOUND)
    log.info("staff %s edited by %s (%s)", staff_id, session.member.id, ", ".join(values))
    actor, target = actor_of(request, session), f"staff:{staff_id}"
    if profile.role != before.role:
        change = {"from": before.role, "to": profile.role}
        await request.app[AUDIT].record(actor, AuditAction.STAFF_ROLE_CHANGED, target, change)
    changed = sorted(k for k in values if k != "role" and getattr(before, k) != getattr(profile, k))
    if changed:
        details = {"changed": changed}
        await request.app[AUDIT].record(actor, AuditAction.STAFF_CHANGED, target, details)
    return reply(StaffOne(staff=StaffOut.of(profile)), headers=NO_STORE)


async def send_password_link(
    app: web.Application, profile: StaffProfile, sender: str, actor: Actor
) -> LinkSent:
    """Email ``profile`` a link to choose a password: the invitation again if they have not
    accepted it yet, else a password reset. Earlier links of the kind stop working.
    ``sender``: who asked (the inviter's name in an invitation); ``actor``: the same, for the
    audit log."""
    purpose: Literal["invite", "reset"] = "invite" if profile.invited else "reset"
    token = secrets.token_urlsafe(32)
    url = f"{app[SETTINGS].public_url}/account/password?token={token}"
    expires_at = time.time() + LINK_HOURS[purpose] * 3600
    outbox = app[MAIL]
    sites = await app[STORE].list_sites()
    email = outbox.render(
        profile.email,
        TEMPLATES[purpose],
        {
            "name": profile.name,
            "email": profile.email,
            "inviter": sender,
            "team": sites[0].name if len(sites) == 1 else "Porchlight",
            "role": profile.role,
            "url": url,
            "hours": LINK_HOURS[purpose],
            "product": "Porchlight",
        },
        profile.console_language,
    )
    await app[STORE].add_link(
        token_digest(token), profile.id, purpose, (time.time(), expires_at), email
    )
    outbox.wake()
    log.info("staff %s sent a %s link", profile.id, purpose)
    target, details = f"staff:{profile.id}", {"purpose": purpose}
    await app[AUDIT].record(actor, AuditAction.PASSWORD_LINK_SENT, target, details)
    return LinkSent(
        staff=StaffOut.of(profile), url=url, expires_at=expires_at, message_id=email.message_id
    )


@routes.post("/api/v1/staff/{id}/password-link")
@operation(LinkSent, status=201, roles=["admin"], errors=[ErrorCode.STAFF_NOT_FOUND])
async def password_link(request: web.Request) -> web.Response:
    """Email a staff member a link to choose a password.

    The invitation again while they have not accepted it, else a password reset; earlier
    links of the kind stop working."""
    session = require(request, "admin")
    profile = await _profile_or_404(request, staff_id_of(request))
    actor = actor_of(request, session)
    sent = await send_password_link(request.app, profile, session.member.name, actor)
    return reply(sent, status=201, headers=NO_STORE)


# -- one's own profile ------------------------------------------------------------------


async def _profile_out(request: web.Request, profile: StaffProfile) -> ProfileOut:
    photo = await request.app[STORE].photo(profile.id)
    return ProfileOut(
        staff=StaffOut.of(profile, photo_url(profile.id, photo[2] if photo else None)),
        console_languages=[
            ConsoleLanguageOut(code=code, name=name) for code, name in CONSOLE_LANGUAGES.items()
        ],
    )


@routes.get("/api/v1/me/profile")
@operation(ProfileOut, auth="session")
async def my_profile(request: web.Request) -> web.Response:
    """One's own profile."""
    session = require(request)
    profile = await _profile_or_404(request, session.member.id)
    return reply(await _profile_out(request, profile), headers=NO_STORE)


@routes.patch("/api/v1/me/profile")
@operation(ProfileOut, body=ProfileEdit, auth="session")
async def edit_my_profile(request: web.Request) -> web.Response:
    """One's own name and console language (also the language of one's emails)."""
    session = require(request)
    body = await read_body(request, ProfileEdit)
    values = body.model_dump(exclude_none=True)
    profile = await request.app[STORE].update_staff(session.member.id, **values)
    if profile is None:
        return error(404, ErrorCode.STAFF_NOT_FOUND, NOT_FOUND)
    if values:
        await request.app[AUDIT].record(
            actor_of(request, session),
            AuditAction.PROFILE_CHANGED,
            f"staff:{profile.id}",
            {"changed": sorted(values)},
        )
    return reply(await _profile_out(request, profile), headers=NO_STORE)


@routes.post("/api/v1/me/password")
@operation(Ok, body=PasswordChange, auth="session", errors=[ErrorCode.PASSWORD_WRONG])
async def change_my_password(request: web.Request) -> web.Response:
    """A new password, given the current one. Other sessions stay signed in."""
    session = require(request)
    body = await read_body(request, PasswordChange)
    store = request.app[STORE]
    current = await store.password_hash(session.member.id)
    if not await request.app[AUTH].passwords.verify(current or None, body.current_password):
        return error(400, ErrorCode.PASSWORD_WRONG, "Your current password is not right.")
    await store.set_password_hash(session.member.id, hash_password(body.new_password))
    log.info("staff %s changed their password", session.member.id)
    await request.app[AUDIT].record(
        actor_of(request, session),
        AuditAction.PASSWORD_CHANGED,
        f"staff:{session.member.id}",
        {"via": "profile"},
    )
    return reply(Ok())
