"""``/api/v1/openapi.json`` and a readable page of it at ``/api/docs``.

The page is rendered on the server from the same document, with no script at all and its
style sheet from us, so it needs no CDN and passes a strict Content-Security-Policy.
"""

from __future__ import annotations

import inspect
import re
from importlib import metadata
from pathlib import Path
from typing import Any

from aiohttp import web
from markupsafe import Markup, escape
from pydantic import ConfigDict

from server.api_models import Reply
from server.keys import SETTINGS, TEMPLATES
from server.openapi import STATUS, document, operation
from signaling.errors import ErrorCode

routes = web.RouteTableDef()

DOCUMENT = web.AppKey("openapi_document", dict)
STYLE = (Path(__file__).parent / "templates" / "api_docs.css").read_text(encoding="utf-8")
PAGE_CSP = (
    "default-src 'none'; style-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)


class OpenApiDocument(Reply):
    """An OpenAPI 3.1 document."""

    model_config = ConfigDict(frozen=True, extra="allow")

    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]


def _version() -> str:
    try:
        return metadata.version("porchlight")
    except metadata.PackageNotFoundError:
        return "0"


async def build_document(app: web.Application) -> None:
    """``on_startup``: the router is frozen by now, so the document is built once."""
    app[DOCUMENT] = document(app, _version(), app[SETTINGS].public_url)


def openapi_document(app: web.Application) -> dict[str, Any]:
    found: dict[str, Any] = app[DOCUMENT]
    return found


@routes.get("/api/v1/openapi.json")
@operation(OpenApiDocument, auth="public")
async def openapi_json(request: web.Request) -> web.Response:
    """This document."""
    return web.json_response(
        openapi_document(request.app), headers={"Access-Control-Allow-Origin": "*"}
    )


def _type(schema: dict[str, Any]) -> str:
    """A schema as a short type name for people: ``string``, ``list of SiteView`` …"""
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    if "anyOf" in schema:
        return " or ".join(_type(option) for option in schema["anyOf"])
    if "const" in schema:
        return repr(schema["const"])
    if "enum" in schema:
        return " | ".join(str(value) for value in schema["enum"])
    if schema.get("type") == "array":
        return f"list of {_type(schema.get('items', {}))}"
    return str(schema.get("type", "any"))


def _limits(schema: dict[str, Any]) -> str:
    keys = ("minLength", "maxLength", "minimum", "maximum", "minItems", "maxItems", "pattern")
    shown = [f"{key} {schema[key]}" for key in keys if key in schema]
    if "default" in schema:
        shown.append(f"default {schema['default']!r}")
    return ", ".join(shown)


# The security schemes as a person reads them.
SCHEMES = {
    "session": "a signed-in session",
    "csrf": "its CSRF token",
    "token": "an API token",
    "visitor": "a visitor token",
    "site": "its site key",
}


def _code_docs() -> list[tuple[str, int | None, str]]:
    """(code, REST status, when it is sent) for the catalogue, from its one-line docs."""
    source = inspect.getsource(ErrorCode)
    found = re.findall(r'= "([a-z_.]+)"[^\n]*\n\s*"""(.+?)"""', source, re.S)
    return [(code, STATUS.get(ErrorCode(code)), " ".join(doc.split())) for code, doc in found]


CODE_DOCS = _code_docs()
_CODE = re.compile(r"``(.+?)``|`(.+?)`")


def _prose(text: str) -> Markup:
    """A description as HTML: escaped, with its CommonMark code spans as ``<code>``."""
    escaped = str(escape(text))
    return Markup(_CODE.sub(lambda m: f"<code>{m.group(1) or m.group(2)}</code>", escaped))  # noqa: S704 - escaped above


@routes.get("/api/docs")
async def docs_page(request: web.Request) -> web.Response:
    body = (
        request.app[TEMPLATES]
        .get_template("api_docs.html")
        .render(
            doc=openapi_document(request.app),
            type_of=_type,
            limits=_limits,
            prose=_prose,
            schemes=SCHEMES,
            codes=CODE_DOCS,
        )
    )
    return web.Response(
        text=body,
        content_type="text/html",
        headers={"Content-Security-Policy": PAGE_CSP, "Referrer-Policy": "no-referrer"},
    )


@routes.get("/api/docs/style.css")
async def docs_style(request: web.Request) -> web.Response:
    return web.Response(
        text=STYLE, content_type="text/css", headers={"Cache-Control": "public, max-age=3600"}
    )
