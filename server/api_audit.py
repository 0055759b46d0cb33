"""``GET /api/v1/audit``: the audit log for admins, newest first, filtered by actor, action
and date, in pages joined by an opaque cursor."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from server.audit import AUDIT, AuditAction
from server.openapi import operation
from server.rest import error, require
from server.store_audit import AuditEntry, AuditQuery
from signaling.errors import ErrorCode
from signaling.protocol import describe

routes = web.RouteTableDef()

PAGE = 50
MAX_PAGE = 200


class AuditFilters(BaseModel):
    """The query string. ``actor`` is an email (or "cli", "system") or a staff id;
    ``action`` one action or a family ending in "." ("auth."); ``since`` and ``until`` are
    ISO 8601 times (``until`` exclusive); ``target`` as recorded ("staff:4")."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    actor: Annotated[str, Field(min_length=1, max_length=320)] | None = None
    action: Annotated[str, Field(min_length=1, max_length=40)] | None = None
    target: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    since: datetime | None = None
    until: datetime | None = None
    cursor: Annotated[str, Field(max_length=40)] | None = None
    limit: Annotated[int, Field(ge=1, le=MAX_PAGE)] = PAGE


class AuditEntryOut(BaseModel):
    """One entry of the audit log."""

    id: int
    at: str
    actor: str
    actor_id: int | None
    action: str
    target: str | None
    details: dict[str, Any]
    address: str | None


class AuditPage(BaseModel):
    """A page of the audit log, newest first."""

    entries: list[AuditEntryOut]
    next_cursor: str | None


class ActionOut(BaseModel):
    """An action the audit log records, and what it means."""

    action: str
    description: str


def entry_out(entry: AuditEntry) -> AuditEntryOut:
    return AuditEntryOut(
        id=entry.id,
        at=datetime.fromtimestamp(entry.at, UTC).isoformat(timespec="milliseconds"),
        actor=entry.actor,
        actor_id=entry.actor_id,
        action=entry.action,
        target=entry.target,
        details=dict(entry.details),
        address=entry.address,
    )


def cursor_for(entry_id: int) -> str:
    return base64.urlsafe_b64encode(f"a{entry_id}".encode()).decode().rstrip("=")


def cursor_id(cursor: str) -> int | None:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    return int(text[1:]) if text.startswith("a") and text[1:].isdigit() else None


def _epoch(moment: datetime | None) -> float | None:
    if moment is None:
        return None
    # A time without an offset is UTC, as the API documents.
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def query_of(filters: AuditFilters) -> AuditQuery | str:
    """The store's query, or what is wrong with the filters."""
    before = None
    if filters.cursor is not None:
        before = cursor_id(filters.cursor)
        if before is None:
            return "The cursor is not one this API gave."
    actor_id = int(filters.actor) if filters.actor and filters.actor.isdigit() else None
    return AuditQuery(
        actor_id=actor_id,
        actor=filters.actor.lower() if filters.actor and actor_id is None else None,
        action=filters.action,
        target=filters.target,
        since=_epoch(filters.since),
        until=_epoch(filters.until),
        before_id=before,
    )


class ActionList(BaseModel):
    """Every action the audit log records."""

    actions: list[ActionOut]


@routes.get("/api/v1/audit")
@operation(AuditPage, query=AuditFilters, roles=["admin"])
async def audit_log(request: web.Request) -> web.Response:
    """A page of the audit log (admins)."""
    require(request, "admin")
    try:
        filters = AuditFilters.model_validate(dict(request.query))
    except ValidationError as exc:
        return error(400, ErrorCode.PAYLOAD_INVALID, describe(exc))
    query = query_of(filters)
    if isinstance(query, str):
        return error(400, ErrorCode.PAYLOAD_INVALID, query)
    # One more than asked: whether a next page exists, without a count.
    found = await request.app[AUDIT].entries(query, filters.limit + 1)
    entries = found[: filters.limit]
    page = AuditPage(
        entries=[entry_out(e) for e in entries],
        next_cursor=cursor_for(entries[-1].id) if len(found) > filters.limit else None,
    )
    return web.json_response(text=page.model_dump_json(), headers={"Cache-Control": "no-store"})


@routes.get("/api/v1/audit/actions")
@operation(ActionList, roles=["admin"])
async def audit_actions(request: web.Request) -> web.Response:
    """The catalogue of actions, for a filter (admins)."""
    require(request, "admin")
    actions = [ActionOut(action=str(a), description=_doc(a)).model_dump() for a in AuditAction]
    return web.json_response({"actions": actions})


def _doc(action: AuditAction) -> str:
    return ACTION_TEXT.get(action, str(action))


# What the console shows for each action (the enum's docstrings are for developers).
ACTION_TEXT = {
    AuditAction.SIGN_IN: "Signed in",
    AuditAction.SIGN_IN_FAILED: "Sign-in refused",
    AuditAction.SIGNED_OUT_EVERYWHERE: "Signed out everywhere",
    AuditAction.STAFF_CREATED: "Staff member added",
    AuditAction.STAFF_ROLE_CHANGED: "Role changed",
    AuditAction.STAFF_INVITED: "Staff member invited",
    AuditAction.STAFF_CHANGED: "Staff member changed",
    AuditAction.PASSWORD_LINK_SENT: "Password link sent",
    AuditAction.PASSWORD_CHANGED: "Password changed",
    AuditAction.PROFILE_CHANGED: "Own profile changed",
    AuditAction.STAFF_DISABLED: "Staff member disabled",
    AuditAction.SITE_CREATED: "Site added",
    AuditAction.SITE_CHANGED: "Site changed",
    AuditAction.SITE_DELETED: "Site deleted",
    AuditAction.SETTINGS_CHANGED: "Settings changed",
    AuditAction.DATA_EXPORTED: "Personal data exported",
    AuditAction.DATA_ERASED: "Personal data erased",
    AuditAction.RETENTION_PURGED: "Old conversations purged",
    AuditAction.RECORDING_CONSENTED: "Recording consented",
    AuditAction.API_TOKEN_USED: "API token used",
}

__all__ = ["ACTION_TEXT", "routes"]
