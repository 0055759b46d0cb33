"""Sites over REST (admins): list, create, read, change, delete. The fields and their
validation are ``server.site_settings``', shared with the console and the command line."""

from __future__ import annotations

import secrets
from typing import Any

from aiohttp import web

from server.api import actor_of
from server.api_models import Ok, SiteCreated, SiteList, SiteView
from server.audit import AUDIT, AuditAction
from server.keys import SETTINGS, STORE
from server.openapi import operation
from server.paging import Page, next_cursor, page
from server.rest import error, read_body, reply, require
from server.site_settings import SiteChanges, SiteFields
from signaling.errors import ErrorCode
from signaling.ports import Site

routes = web.RouteTableDef()


def snippet(public_url: str, site_key: str) -> str:
    """What a site owner pastes before ``</body>``."""
    return f'<script async src="{public_url}/widget.js" data-site="{site_key}"></script>'


def view(request: web.Request, site: Site) -> SiteView:
    return SiteView.of(site, snippet(request.app[SETTINGS].public_url, site.key))


async def create(store: Any, fields: SiteFields) -> Site:
    """A new site with a fresh public key and identity secret."""
    return await store.create_site(  # type: ignore[no-any-return]
        key=secrets.token_urlsafe(12), secret=secrets.token_urlsafe(32), **fields.model_dump()
    )


@routes.get("/api/v1/sites")
@operation(SiteList, roles=["admin"], query=Page)
async def list_sites(request: web.Request) -> web.Response:
    """List sites, oldest first, with their snippets."""
    require(request, "admin")
    after, limit = page(request)
    sites = await request.app[STORE].list_sites(after=after, limit=limit + 1)
    return reply(
        SiteList(
            sites=[view(request, s) for s in sites[:limit]],
            next_cursor=next_cursor([s.id for s in sites], limit),
        )
    )


@routes.post("/api/v1/sites")
@operation(SiteCreated, status=201, body=SiteFields, roles=["admin"])
async def create_site(request: web.Request) -> web.Response:
    """Create a site; the answer carries the snippet to paste."""
    session = require(request, "admin")
    site = await create(request.app[STORE], await read_body(request, SiteFields))
    await request.app[AUDIT].record(
        actor_of(request, session),
        AuditAction.SITE_CREATED,
        f"site:{site.key}",
        {"name": site.name, "allowed_origins": list(site.allowed_origins)},
    )
    return reply(SiteCreated(site=view(request, site)), status=201)


@routes.get("/api/v1/sites/{key}")
@operation(SiteCreated, roles=["admin"], errors=[ErrorCode.SITE_UNKNOWN])
async def get_site(request: web.Request) -> web.Response:
    """One site, with its snippet and where it was last seen running."""
    require(request, "admin")
    site = await request.app[STORE].get_site(request.match_info["key"])
    if site is None:
        return error(404, ErrorCode.SITE_UNKNOWN, "No such site.")
    return reply(SiteCreated(site=view(request, site)))


@routes.patch("/api/v1/sites/{key}")
@operation(SiteCreated, body=SiteChanges, roles=["admin"], errors=[ErrorCode.SITE_UNKNOWN])
async def change_site(request: web.Request) -> web.Response:
    """Change a site's settings: only the fields sent change. Pages see it within a minute."""
    session = require(request, "admin")
    changes = await read_body(request, SiteChanges)
    changed = changes.model_dump(exclude_none=True)
    site = await request.app[STORE].update_site(request.match_info["key"], **changed)
    if site is None:
        return error(404, ErrorCode.SITE_UNKNOWN, "No such site.")
    if changed:
        await request.app[AUDIT].record(
            actor_of(request, session),
            AuditAction.SITE_CHANGED,
            f"site:{site.key}",
            {"changed": sorted(changed), **changed},
        )
    return reply(SiteCreated(site=view(request, site)))


@routes.delete("/api/v1/sites/{key}")
@operation(Ok, roles=["admin"], errors=[ErrorCode.SITE_UNKNOWN])
async def delete_site(request: web.Request) -> web.Response:
    """Delete a site: its widget, frame and new sockets are refused at once; its key never
    comes back."""
    session = require(request, "admin")
    key = request.match_info["key"]
    if not await request.app[STORE].delete_site(key):
        return error(404, ErrorCode.SITE_UNKNOWN, "No such site.")
    await request.app[AUDIT].record(
        actor_of(request, session), AuditAction.SITE_DELETED, f"site:{key}"
    )
    return reply(Ok())
