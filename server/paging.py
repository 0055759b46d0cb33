"""Cursor pagination for REST lists: ``?limit=&cursor=`` in, ``next_cursor`` out.

A cursor is opaque to clients (base64url of a versioned position), so the keyset behind it
(an id, a seq) can change without breaking them. Pages are keyset pages: a row added or
removed between two requests never shifts the next page or repeats a row.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from server.rest import refuse
from signaling.errors import ErrorCode
from signaling.protocol import describe

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
_VERSION = "p1:"


class Page(BaseModel):
    """The query of a paged list."""

    model_config = ConfigDict(extra="ignore")

    limit: Annotated[
        int,
        Field(ge=1, le=MAX_LIMIT, description=f"Items per page, at most {MAX_LIMIT}."),
    ] = DEFAULT_LIMIT
    cursor: Annotated[
        str | None,
        Field(max_length=200, description="The `next_cursor` of the previous page."),
    ] = None


def encode(after: int) -> str:
    raw = f"{_VERSION}{after}".encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode(cursor: str) -> int:
    """The position after which the page starts, or ``ValueError``."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValueError(cursor) from None
    if not raw.startswith(_VERSION) or not raw[len(_VERSION) :].isdigit():
        raise ValueError(cursor)
    return int(raw[len(_VERSION) :])


def page(request: web.Request) -> tuple[int, int]:
    """(after, limit) from the query, or 400 ``payload.invalid``. ``after`` is 0 for the
    first page; keys start at 1."""
    try:
        query = Page.model_validate(dict(request.query))
    except ValidationError as exc:
        raise refuse(400, ErrorCode.PAYLOAD_INVALID, describe(exc)) from None
    if query.cursor is None:
        return 0, query.limit
    try:
        return decode(query.cursor), query.limit
    except ValueError:
        raise refuse(400, ErrorCode.PAYLOAD_INVALID, "cursor: not one this server gave.") from None


def next_cursor(keys: list[int], limit: int) -> str | None:
    """The cursor after a page read with ``limit + 1`` rows (``keys``): None on the last."""
    return encode(keys[limit - 1]) if len(keys) > limit else None
