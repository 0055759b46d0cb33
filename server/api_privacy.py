"""Personal data for admins: export and erase one visitor's data, set a site's retention
period, run the retention purge now. Identifiers travel in POST bodies, never in URLs, so
they stay out of access logs and browser history."""

from __future__ import annotations

from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, model_validator

from server.api import actor_of
from server.api_models import SiteCreated
from server.api_sites import view
from server.audit import AUDIT, AuditAction
from server.keys import STORE
from server.openapi import operation
from server.privacy import PRIVACY, Subject, SubjectBusy, UnknownSite
from server.rest import error, read_body, reply, require
from signaling.errors import ErrorCode

routes = web.RouteTableDef()
NO_STORE = {"Cache-Control": "no-store"}


class SubjectBody(BaseModel):
    """A visitor: ``site`` and ``visitor_id``, or one of their ``conversation_id``s."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    site: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    visitor_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    conversation_id: Annotated[str, Field(min_length=1, max_length=32)] | None = None

    @model_validator(mode="after")
    def _one_way(self) -> SubjectBody:
        by_visitor = self.site is not None and self.visitor_id is not None
        if by_visitor == (self.conversation_id is not None):
            raise ValueError("give either site and visitor_id, or conversation_id")
        return self


class Retention(BaseModel):
    """Days after which a site's ended conversations are deleted; null keeps them."""

    model_config = ConfigDict(extra="forbid")

    days: Annotated[int, Field(ge=1, le=3650)] | None


class Exported(BaseModel):
    """Everything held about one visitor, and the erasures already done for them."""

    format: str
    exported_at: str
    subject: dict[str, str]
    conversations: list[dict[str, Any]]
    erasures: list[dict[str, Any]]


class Erasure(BaseModel):
    """How many items of each kind were erased."""

    erased: dict[str, int]


class Purge(BaseModel):
    """How many items of each kind the retention purge deleted."""

    purged: dict[str, int]


async def subject_of(request: web.Request, body: SubjectBody) -> Subject | web.Response:
    if body.conversation_id is not None:
        found = await request.app[PRIVACY].subject_of_conversation(body.conversation_id)
        if found is None:
            return error(404, ErrorCode.CONVERSATION_NOT_FOUND, "No such conversation.")
        return found
    assert body.site is not None and body.visitor_id is not None
    return Subject(body.site, body.visitor_id)


@routes.post("/api/v1/privacy/export")
@operation(
    Exported,
    body=SubjectBody,
    roles=["admin"],
    errors=[ErrorCode.SITE_UNKNOWN, ErrorCode.CONVERSATION_NOT_FOUND],
)
async def export(request: web.Request) -> web.Response:
    """Everything about one visitor, as a JSON document to download."""
    session = require(request, "admin")
    subject = await subject_of(request, await read_body(request, SubjectBody))
    if isinstance(subject, web.Response):
        return subject
    try:
        document: dict[str, Any] = await request.app[PRIVACY].export(
            actor_of(request, session), subject
        )
    except UnknownSite:
        return error(404, ErrorCode.SITE_UNKNOWN, "No such site.")
    return web.json_response(
        document,
        headers={
            **NO_STORE,
            "Content-Disposition": 'attachment; filename="porchlight-export.json"',
        },
    )


@routes.post("/api/v1/privacy/erase")
@operation(
    Erasure,
    body=SubjectBody,
    roles=["admin"],
    errors=[
        ErrorCode.SITE_UNKNOWN,
        ErrorCode.CONVERSATION_NOT_FOUND,
        ErrorCode.CONVERSATION_NOT_ENDED,
    ],
)
async def erase(request: web.Request) -> web.Response:
    """Erase one visitor's data; a tombstone stays in the audit log."""
    session = require(request, "admin")
    subject = await subject_of(request, await read_body(request, SubjectBody))
    if isinstance(subject, web.Response):
        return subject
    try:
        counts = await request.app[PRIVACY].erase(actor_of(request, session), subject)
    except UnknownSite:
        return error(404, ErrorCode.SITE_UNKNOWN, "No such site.")
    except SubjectBusy:
        return error(
            409,
            ErrorCode.CONVERSATION_NOT_ENDED,
            "This person has a conversation that has not ended. End it, then erase.",
        )
    return web.json_response(text=Erasure(erased=counts).model_dump_json(), headers=NO_STORE)


@routes.put("/api/v1/sites/{key}/retention")
@operation(SiteCreated, body=Retention, roles=["admin"], errors=[ErrorCode.SITE_UNKNOWN])
async def set_retention(request: web.Request) -> web.Response:
    """Set how long a site keeps ended conversations."""
    session = require(request, "admin")
    body = await read_body(request, Retention)
    key = request.match_info["key"]
    site = await request.app[STORE].set_retention(key, body.days)
    if site is None:
        return error(404, ErrorCode.SITE_UNKNOWN, "No such site.")
    await request.app[AUDIT].record(
        actor_of(request, session),
        AuditAction.SITE_CHANGED,
        f"site:{key}",
        {"changed": ["retention_days"], "retention_days": body.days},
    )
    return reply(SiteCreated(site=view(request, site)))


@routes.post("/api/v1/privacy/purge")
@operation(Purge, roles=["admin"])
async def purge(request: web.Request) -> web.Response:
    """Run the retention purge now (it also runs on its schedule)."""
    session = require(request, "admin")
    purged = await request.app[PRIVACY].purge(actor=actor_of(request, session))
    return web.json_response(text=Purge(purged=purged).model_dump_json())
