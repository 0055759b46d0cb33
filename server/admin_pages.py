"""The console's admin and supervisor pages (listed in ``server.admin_nav``): one
server-rendered shell per page, each with its own bundle (``widget/src/admin/pages/<slug>.ts``),
so settings, figures and logs never weigh on the desk's bundle."""

from __future__ import annotations

from aiohttp import web

from server.admin_nav import PAGES, page_for
from server.auth import SESSION_COOKIE
from server.keys import AUTH
from server.pages import csp, page_json, render


async def admin_page(request: web.Request) -> web.Response:
    page = page_for(request.match_info["slug"])
    if page is None or not page.offered(request.app):
        raise web.HTTPNotFound(text="No such page.")
    session = await request.app[AUTH].session(request.cookies.get(SESSION_COOKIE))
    if session is None:
        raise web.HTTPFound("/console")
    if session.member.role not in page.roles:
        raise web.HTTPForbidden(text="Your role cannot open this page.")
    nav = [
        {"slug": p.slug, "title": p.title}
        for p in PAGES
        if session.member.role in p.roles and p.offered(request.app)
    ]
    config = {"productName": "Porchlight", "page": page.slug, "title": page.title, "nav": nav}
    body = render(
        request,
        "admin.html",
        config_json=page_json(config),
        title=page.title,
        bundle=f"admin-{page.slug}",
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


def add_routes(app: web.Application) -> None:
    app.router.add_get(r"/console/{slug:[a-z][a-z-]{0,30}}", admin_page)
