"""Staff photos: each member uploads their own (``PUT /api/v1/me/photo``, a data URL the
browser made by cropping and shrinking the picture); anyone may fetch one by staff id
(``GET /staff-photos/{id}``), since customers see them. The type is sniffed from the bytes,
never taken from the client, and the answer can only ever be an image."""

from __future__ import annotations

import base64
import binascii
import logging
import time
from typing import Annotated

from aiohttp import web
from pydantic import StringConstraints

from server.api_models import Reply
from server.keys import STORE
from server.openapi import operation
from server.rest import Body, error, read_body, reply, require
from signaling.errors import ErrorCode

log = logging.getLogger(__name__)

routes = web.RouteTableDef()

MAX_PHOTO = 160 * 1024
# 4/3 of the bytes, plus the data URL's prefix.
MAX_DATA_URL = MAX_PHOTO * 4 // 3 + 64
SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
)


def sniff(data: bytes) -> str | None:
    """The image type of ``data`` by its first bytes: PNG, JPEG or WebP only."""
    for magic, kind in SIGNATURES:
        if data.startswith(magic):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def photo_url(staff_id: int, version: float | None) -> str | None:
    return None if version is None else f"/staff-photos/{staff_id}?v={int(version * 1000)}"


class PhotoUpload(Body):
    """A photo as a data URL (``data:image/png;base64,…``): PNG, JPEG or WebP."""

    data: Annotated[str, StringConstraints(max_length=MAX_DATA_URL)]


class PhotoOut(Reply):
    """Where one's photo is served now (null: none)."""

    photo_url: str | None


@routes.put("/api/v1/me/photo")
@operation(PhotoOut, body=PhotoUpload, auth="session")
async def upload_photo(request: web.Request) -> web.Response:
    """Set one's own photo (cropped and shrunk by the browser)."""
    session = require(request)
    body = await read_body(request, PhotoUpload)
    head, _, encoded = body.data.partition(",")
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        data = b""
    kind = sniff(data) if head.endswith(";base64") else None
    if kind is None or len(data) > MAX_PHOTO:
        return error(
            400,
            ErrorCode.PAYLOAD_INVALID,
            f"The photo must be a PNG, JPEG or WebP image of at most {MAX_PHOTO // 1024} KB.",
        )
    now = time.time()
    await request.app[STORE].set_photo(session.member.id, kind, data, now)
    log.info("staff %s changed their photo", session.member.id)
    return reply(PhotoOut(photo_url=photo_url(session.member.id, now)))


@routes.delete("/api/v1/me/photo")
@operation(PhotoOut, auth="session")
async def remove_photo(request: web.Request) -> web.Response:
    """Remove one's own photo."""
    session = require(request)
    await request.app[STORE].delete_photo(session.member.id)
    return reply(PhotoOut(photo_url=None))


@routes.get("/staff-photos/{id:\\d{1,12}}")
async def serve(request: web.Request) -> web.Response:
    found = await request.app[STORE].photo(int(request.match_info["id"]))
    if found is None:
        raise web.HTTPNotFound(text="No photo.")
    kind, data, _ = found
    return web.Response(
        body=data,
        content_type=kind,
        headers={
            # The URL carries the version (?v=), so a new photo is a new URL.
            "Cache-Control": "public, max-age=86400",
            "Content-Disposition": "inline",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cross-Origin-Resource-Policy": "cross-origin",
        },
    )
