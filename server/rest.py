"""The REST envelope: every refusal under ``/api/v1`` is ``{"error": {"code", "message"}}``
with a code from the closed catalogue (``signaling.errors.ErrorCode``), built here and only
here; ``errors`` turns aiohttp's own 404, 405 and 413 and any unhandled exception into the
same shape. Also the request helpers every route module uses: ``require``, ``read_body``."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, ValidationError

from server.auth import StaffSession
from server.openapi import operation_of
from signaling.errors import ErrorCode, ProtocolError
from signaling.protocol import describe

log = logging.getLogger(__name__)

API_PREFIX = "/api/"
SESSION_KEY = web.RequestKey("session", StaffSession)

# aiohttp's own refusals, as catalogue codes.
_STATUS_CODES = {
    400: ErrorCode.PAYLOAD_INVALID,
    401: ErrorCode.AUTH_REQUIRED,
    403: ErrorCode.AUTH_FORBIDDEN,
    404: ErrorCode.ROUTE_NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    429: ErrorCode.RATE_LIMITED,
}
_STATUS_MESSAGES = {
    404: "No such endpoint.",
    405: "This endpoint does not accept that method.",
    413: "The request body is too large.",
}


def envelope(code: ErrorCode | str, message: str, retry_after: float | None = None) -> str:
    """The JSON text of one refusal. ``code`` must be in the catalogue (``ValueError`` if
    not), so an uncatalogued code fails the first test that reaches it."""
    wire = ProtocolError(ErrorCode(code), message, retry_after).to_wire()
    return json.dumps({"error": wire}, separators=(",", ":"))


def _headers(retry_after: float | None, headers: dict[str, str]) -> dict[str, str]:
    if retry_after is not None:
        headers.setdefault("Retry-After", str(max(1, math.ceil(retry_after))))
    return headers


def error(status: int, code: ErrorCode | str, message: str, **headers: str) -> web.Response:
    """A refusal to return. A ``Retry-After`` header also travels as ``retry_after_ms``."""
    wait = headers.get("Retry-After")
    retry_after = float(wait) if wait is not None and wait.isdigit() else None
    return web.Response(
        status=status,
        text=envelope(code, message, retry_after),
        content_type="application/json",
        headers=headers,
    )


def _subclasses(cls: type[web.HTTPException]) -> list[type[web.HTTPException]]:
    return [cls, *(sub for child in cls.__subclasses__() for sub in _subclasses(child))]


# aiohttp's exception class per status (``HTTPNotFound`` for 404 …).
_EXCEPTIONS = {
    cls.status_code: cls
    for cls in reversed(_subclasses(web.HTTPError))
    if isinstance(getattr(cls, "status_code", None), int) and cls.status_code >= 400
}


def refuse(
    status: int, code: ErrorCode | str, message: str, retry_after: float | None = None
) -> web.HTTPException:
    """A refusal to raise from anywhere below a handler."""
    cls: Any = _EXCEPTIONS[status]
    # The two classes whose constructors want more than a body.
    extra: dict[str, Any] = {}
    if status == 413:
        extra = {"max_size": 0, "actual_size": 0}
    elif status == 405:
        extra = {"method": "", "allowed_methods": ()}
    exc: web.HTTPException = cls(
        text=envelope(code, message, retry_after),
        content_type="application/json",
        headers=_headers(retry_after, {}),
        **extra,
    )
    return exc


def is_envelope(exc: web.HTTPException) -> bool:
    return exc.content_type == "application/json" and (exc.text or "").startswith('{"error":')


@web.middleware
async def errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Outermost middleware: under ``/api/`` a refusal that is not yet an envelope (the
    router's 404 and 405, the body reader's 413, a bare ``HTTPException``) becomes one, and
    an unhandled exception becomes 500 ``server.error`` with nothing of it shown."""
    if not request.path.startswith(API_PREFIX):
        return await handler(request)
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or is_envelope(exc):
            raise
        code = _STATUS_CODES.get(exc.status, ErrorCode.SERVER_ERROR)
        message = _STATUS_MESSAGES.get(exc.status) or exc.reason
        headers = {k: v for k, v in exc.headers.items() if k in ("Allow", "Retry-After")}
        return error(exc.status, code, message, **headers)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error(500, ErrorCode.SERVER_ERROR, "Something failed on the server.")


def require(request: web.Request, *roles: str) -> StaffSession:
    """The caller's staff session (from a cookie or an API token), or 401; 403 when
    ``roles`` are given and the caller's role is not one of them."""
    session: StaffSession | None = request.get(SESSION_KEY)
    if session is None:
        raise refuse(401, ErrorCode.AUTH_REQUIRED, "Please sign in.")
    if roles and session.member.role not in roles:
        raise refuse(403, ErrorCode.AUTH_FORBIDDEN, "Your role cannot do this.")
    return session


def admit(request: web.Request) -> None:
    """What the matched route declares (``server.openapi.operation``) holds before its
    handler runs: a caller, and one of its roles. The handler's own ``require`` stays as a
    second check; this one makes the declaration the rule, not only its documentation."""
    declared = operation_of(request.match_info.handler)
    if declared is not None and declared.auth in ("staff", "session"):
        require(request, *declared.roles)


class Body(BaseModel):
    """Base of every REST request body: unknown fields are refused, strings stripped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


M = TypeVar("M", bound=BaseModel)


async def read_json(request: web.Request) -> Any:
    """The request's JSON body, or 400 ``payload.invalid``: also for JSON nested too deeply
    for the parser (``RecursionError``), which is only a few kilobytes of brackets."""
    try:
        return await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise refuse(400, ErrorCode.PAYLOAD_INVALID, "Expected JSON.") from None


async def read_body(request: web.Request, model: type[M]) -> M:
    """The JSON body validated into ``model``, or 400 ``payload.invalid``."""
    raw = await read_json(request)
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise refuse(400, ErrorCode.PAYLOAD_INVALID, describe(exc)) from None


def reply(
    body: BaseModel, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A response body from its documented model (so it cannot drift from the schema)."""
    return web.Response(
        status=status,
        text=body.model_dump_json(),
        content_type="application/json",
        headers=headers,
    )
