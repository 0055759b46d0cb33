"""The demo shop: three jinja2 pages, each with the Porchlight snippet pasted into the body."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jinja2
from aiohttp import web

HERE = Path(__file__).parent


@dataclass(frozen=True)
class Product:
    """A lamp for sale."""

    slug: str
    name: str
    price: str
    summary: str
    details: str


PRODUCTS = (
    Product(
        "harbour-desk-lamp",
        "Harbour desk lamp",
        "€89",
        "Brushed brass, warm 2700 K light, a head that tilts where you need it.",
        "A weighted base keeps it steady; the dimmer sits under your thumb on the stem.",
    ),
    Product(
        "dune-floor-lamp",
        "Dune floor lamp",
        "€179",
        "Linen shade on an oak stem for the corner that needs a glow.",
        "Stands 160 cm tall. The shade is washable and the bulb is an E27 LED, included.",
    ),
    Product(
        "moth-pendant",
        "Moth pendant",
        "€129",
        "Folded paper pendant that softens any light over a dining table.",
        "Flat-packed, folds out in a minute, 45 cm across. Ceiling rose and cable included.",
    ),
    Product(
        "pip-bedside-lamp",
        "Pip bedside lamp",
        "€49",
        "A rechargeable glass orb with touch dimming and a week of battery.",
        "Charges over USB-C. Three brightness steps and a warm night-light mode.",
    ),
)
BY_SLUG = {product.slug: product for product in PRODUCTS}

PAGES = web.AppKey("pages", jinja2.Environment)
SNIPPET = web.AppKey("snippet", dict[str, str])


def create_app(widget_url: str, site_key: str) -> web.Application:
    """The shop, embedding the widget served from ``widget_url`` for site ``site_key``."""
    app = web.Application()
    app[PAGES] = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "pages"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )
    app[SNIPPET] = {"widget_url": widget_url.rstrip("/"), "site_key": site_key}
    app.router.add_get("/", home)
    app.router.add_get("/products/{slug}", product)
    app.router.add_get("/help", help_page)
    app.router.add_static("/static", HERE / "static")
    return app


def render(request: web.Request, template: str, **context: object) -> web.Response:
    """Render ``template`` with the snippet settings and ``context``."""
    page = request.app[PAGES].get_template(template)
    html = page.render(**request.app[SNIPPET], **context)
    return web.Response(text=html, content_type="text/html")


async def home(request: web.Request) -> web.Response:
    return render(request, "home.html", products=PRODUCTS)


async def product(request: web.Request) -> web.Response:
    item = BY_SLUG.get(request.match_info["slug"])
    if item is None:
        raise web.HTTPNotFound(text="No such lamp.")
    return render(request, "product.html", product=item)


async def help_page(request: web.Request) -> web.Response:
    return render(request, "help.html")
