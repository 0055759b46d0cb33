"""Sites over REST (admins): list, create, change, delete. The fields and their validation are
``server.site_settings``', shared with the console and the command line."""

from __future__ import annotations

import secrets
import time
from dataclasses import asdict
from typing import Any

from aiohttp import web

from server.api import error, read_body, require
from server.keys import SETTINGS, STORE
from server.site_settings import SiteChanges, SiteFields, ink_for
from signaling.ports import Site

routes = web.RouteTableDef()


def snippet(public_url: str, site_key: str) -> str:
    """What a site owner pastes before ``</body>``."""
    return f'<script async src="{public_url}/widget.js" data-site="{site_key}"></script>'


def site_json(site: Site, public_url: str) -> dict[str, Any]:
    data = asdict(site)
    data["allowed_origins"] = list(site.allowed_origins)
    data["channels"] = list(site.channels)
    data["brand_ink"] = ink_for(site.brand_color)
    data["snippet"] = snippet(public_url, site.key)
    return data


async def create(store: Any, fields: SiteFields) -> Site:
    """A new site with a fresh public key and identity secret."""
    values = fields.model_dump()
    return await store.create_site(  # type: ignore[no-any-return]
        key=secrets.token_urlsafe(12), secret=secrets.token_urlsafe(32), **values
    )


@routes.get("/api/v1/sites")
async def list_sites(request: web.Request) -> web.Response:
    require(request, "admin")
    public_url = request.app[SETTINGS].public_url
    sites = await request.app[STORE].list_sites()
    return web.json_response({"sites": [site_json(s, public_url) for s in sites]})


@routes.post("/api/v1/sites")
async def create_site(request: web.Request) -> web.Response:
    require(request, "admin")
    site = await create(request.app[STORE], await read_body(request, SiteFields))
    return web.json_response(
        {"site": site_json(site, request.app[SETTINGS].public_url)}, status=201
    )


@routes.get("/api/v1/sites/{key}")
async def get_site(request: web.Request) -> web.Response:
    require(request, "admin")
    site = await request.app[STORE].get_site(request.match_info["key"])
    if site is None:
        return error(404, "site.unknown", "No such site.")
    return web.json_response({"site": site_json(site, request.app[SETTINGS].public_url)})


@routes.patch("/api/v1/sites/{key}")
async def change_site(request: web.Request) -> web.Response:
    require(request, "admin")
    changes = await read_body(request, SiteChanges)
    site = await request.app[STORE].update_site(
        request.match_info["key"], **changes.model_dump(exclude_none=True)
    )
    if site is None:
        return error(404, "site.unknown", "No such site.")
    return web.json_response({"site": site_json(site, request.app[SETTINGS].public_url)})


@routes.delete("/api/v1/sites/{key}")
async def delete_site(request: web.Request) -> web.Response:
    """The widget stops at once: the loader, the frame and new sockets are refused."""
    require(request, "admin")
    if not await request.app[STORE].delete_site(request.match_info["key"]):
        return error(404, "site.unknown", "No such site.")
    return web.json_response({"ok": True, "deleted_at": time.time()})
