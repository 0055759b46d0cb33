"""Pages and files the browser loads: the loader, the customer frame, the console."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from server.admin_nav import ROLES, first_page
from server.auth import SESSION_COOKIE
from server.keys import ASSETS, AUTH, SETTINGS, STORE, TEMPLATES
from server.site_settings import ink_for

routes = web.RouteTableDef()


def page_json(value: dict[str, Any]) -> str:
    """JSON safe inside a ``<script type="application/json">`` element."""
    return (
        json.dumps(value, ensure_ascii=False)
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
    )


def render(request: web.Request, template: str, **context: Any) -> str:
    assets = request.app[ASSETS]
    env = request.app[TEMPLATES]
    return env.get_template(template).render(asset=assets.url, **context)


def socket_sources(request: web.Request) -> str:
    """``connect-src`` for our own websocket: ``'self'`` and the public URL's ``ws(s)://``
    form. Built from settings only: the Host header is the client's to choose."""
    parts = urlsplit(request.app[SETTINGS].public_origin)
    ws = "wss" if parts.scheme == "https" else "ws"
    return f"'self' {ws}://{parts.netloc}"


def csp(request: web.Request, frame_ancestors: str) -> str:
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "media-src 'self' blob:",
            f"connect-src {socket_sources(request)}",
            f"frame-ancestors {frame_ancestors}",
            "base-uri 'none'",
            "form-action 'none'",
        ]
    )


@routes.get("/widget.js")
async def loader(request: web.Request) -> web.StreamResponse:
    """The loader at its stable URL; short cache so site owners get updates quickly."""
    path = request.app[ASSETS].path("loader.js")
    return web.FileResponse(
        path,
        headers={
            "Content-Type": "application/javascript; charset=utf-8",
            "Cache-Control": "public, max-age=300",
        },
    )


@routes.get("/w/frame")
async def frame(request: web.Request) -> web.Response:
    """The customer frame, embeddable only by the site's allowed origins."""
    site = await request.app[STORE].get_site(request.query.get("site", ""))
    if site is None:
        raise web.HTTPNotFound(text="No such site.")
    host = request.query.get("host", "")
    if host not in site.allowed_origins:
        raise web.HTTPForbidden(text="Chat is not enabled on this website.")
    config = {
        "siteKey": site.key,
        "siteName": site.name,
        "greeting": site.greeting,
        "color": site.brand_color,
        "ink": ink_for(site.brand_color),
        "channels": list(site.channels),
        "showStaff": site.show_staff,
        "host": host,
        "instance": request.query.get("instance", "")[:64],
    }
    body = render(
        request,
        "frame.html",
        config_json=page_json(config),
        # What is shown: English, left to right, until the frame has other catalogues.
        lang="en",
        dir="ltr",
    )
    return web.Response(
        text=body,
        content_type="text/html",
        headers={
            "Content-Security-Policy": csp(request, " ".join(site.allowed_origins)),
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
        },
    )


@routes.get("/console")
async def console(request: web.Request) -> web.Response:
    """The staff console shell; the app signs in over the API. ``signedIn`` spares a signed-out
    visitor the ``/me`` call that would answer 401."""
    session = await request.app[AUTH].session(request.cookies.get(SESSION_COOKIE))
    # Per role, so a staff member who signs in on this page gets their link too.
    settings = {role: page for role in ROLES if (page := first_page(role))}
    config = {
        "productName": "Porchlight",
        "signedIn": session is not None,
        "settings": {role: f"/console/{page.slug}" for role, page in settings.items()},
    }
    body = render(
        request,
        "console.html",
        config_json=page_json(config),
        lang="en",
        dir="ltr",
    )
    return web.Response(
        text=body,
        content_type="text/html",
        headers={
            "Content-Security-Policy": csp(request, "'none'"),
            "Cache-Control": "no-store",
            "Referrer-Policy": "same-origin",
        },
    )


@routes.get("/")
async def home(request: web.Request) -> web.Response:
    raise web.HTTPFound("/console")
