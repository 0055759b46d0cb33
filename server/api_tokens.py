"""API tokens for server-to-server REST, and their routes under ``/api/v1/tokens``.

A token is ``pl_`` + 43 random URL-safe characters, shown once when an admin makes it and
kept only as its SHA-256. It is sent as ``Authorization: Bearer pl_…``; the prefix is what
tells it from the customer frame's Bearer visitor token (``v1.…``, ``server.auth``), so the
guard never takes one for the other. A token acts for the admin who made it, while they are
an active admin, with its scope's role:

- ``read``: what a supervisor may read (GET only);
- ``admin``: what an admin may do.

Neither may sign in or out or manage tokens (those routes are ``auth="session"``), and CSRF
does not apply: a browser never sends this header on its own.

Every use, creation and revocation is announced to ``app[TOKEN_LISTENERS]`` (the audit log
subscribes there): ``async def listener(event: TokenEvent) -> None``.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Annotated, Literal

from aiohttp import web
from pydantic import Field, StringConstraints

from server.api_models import NEXT_PAGE, Reply
from server.auth import StaffSession, token_digest
from server.keys import STORE
from server.net import request_address
from server.openapi import SCOPE_ROLES, Operation, operation, operation_of
from server.paging import Page, next_cursor, page
from server.rest import SESSION_KEY, Body, admit, error, read_body, reply, require
from server.store import SqlStore
from server.store_tokens import ApiToken, Scope
from signaling.errors import ErrorCode

log = logging.getLogger(__name__)

routes = web.RouteTableDef()

PREFIX = "pl_"
SHOWN = 10  # characters of a token kept to tell it apart: "pl_" and 7 more
# Uses closer together than this update last_used_at once: no write per request.
TOUCH_EVERY = 60.0


@dataclass(frozen=True, slots=True)
class TokenEvent:
    """A token was ``created``, ``revoked`` or ``used``. For a use: the request's method,
    path, address and the status it was answered with; ``staff_id`` is who acted (the
    token's creator for a use, the admin for a creation or revocation)."""

    kind: Literal["created", "revoked", "used"]
    token: ApiToken
    staff_id: int
    at: float
    method: str = ""
    path: str = ""
    address: str = ""
    status: int = 0


TokenListener = Callable[[TokenEvent], Awaitable[None]]
TOKEN_LISTENERS = web.AppKey("token_listeners", list[TokenListener])
TOKEN_KEY = web.RequestKey("api_token", ApiToken)


def new_secret() -> tuple[str, str, str]:
    """A new token: (secret, its digest, its shown prefix)."""
    secret = PREFIX + secrets.token_urlsafe(32)
    return secret, token_digest(secret), secret[:SHOWN]


async def create(store: SqlStore, name: str, scope: Scope, created_by: int) -> tuple[ApiToken, str]:
    """Make a token; returns it and its secret (shown once, never stored)."""
    secret, digest, prefix = new_secret()
    token = await store.create_token(name, scope, digest, prefix, created_by, time.time())
    return token, secret


async def announce(app: web.Application, event: TokenEvent) -> None:
    """Tell every listener; one that fails is logged and does not fail the request."""
    for listener in app.get(TOKEN_LISTENERS, []):
        try:
            await listener(event)
        except Exception:
            log.exception("token listener failed on %s", event.kind)


def is_api_token(authorization: str) -> bool:
    return authorization.startswith("Bearer " + PREFIX)


async def token_request(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """A request with ``Authorization: Bearer pl_…`` (from ``server.api.guard``): 401
    ``auth.invalid`` for a token that is unknown, revoked or whose creator is no longer an
    active admin; 403 ``auth.forbidden`` where its scope does not reach."""
    if request.match_info.http_exception is not None:
        return await handler(request)  # the router's own 404 or 405
    store = request.app[STORE]
    secret = request.headers["Authorization"][len("Bearer ") :].strip()
    found = await store.token_by_hash(token_digest(secret))
    if found is None or found[1].role != "admin":
        return error(401, ErrorCode.AUTH_INVALID, "This API token is unknown or revoked.")
    token, owner = found
    now = time.time()
    if token.last_used_at is None or now - token.last_used_at >= TOUCH_EVERY:
        await store.touch_token(token.id, now)
    status = 500
    try:  # every answer to a real token is announced, refusals too
        declared: Operation | None = operation_of(request.match_info.handler)
        if declared is None or not declared.admits_token(token.scope, request.method):
            status = 403
            return error(
                403, ErrorCode.AUTH_FORBIDDEN, "This API token's scope does not allow this."
            )
        request[SESSION_KEY] = StaffSession(replace(owner, role=SCOPE_ROLES[token.scope]), "")
        request[TOKEN_KEY] = token
        admit(request)
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        use = TokenEvent(
            "used",
            token,
            owner.id,
            now,
            method=request.method,
            path=request.path,
            address=request_address(request),
            status=status,
        )
        await announce(request.app, use)


# -- routes -----------------------------------------------------------------------------


class TokenView(Reply):
    """A token as admins see it: never its secret."""

    id: int
    name: str
    scope: Scope
    prefix: str
    created_by: int = Field(description="The admin the token acts for.")
    created_at: float = Field(description="Epoch seconds.")
    last_used_at: float | None = Field(description="Epoch seconds, to the minute; null: never.")
    revoked_at: float | None = Field(description="Epoch seconds; null while it works.")

    @classmethod
    def of(cls, token: ApiToken) -> TokenView:
        return cls(
            id=token.id,
            name=token.name,
            scope=token.scope,
            prefix=token.prefix,
            created_by=token.created_by,
            created_at=token.created_at,
            last_used_at=token.last_used_at,
            revoked_at=token.revoked_at,
        )


class TokenList(Reply):
    """One page of API tokens, oldest first, revoked ones too."""

    tokens: list[TokenView]
    next_cursor: str | None = NEXT_PAGE


class TokenCreated(Reply):
    """The new token. ``secret`` is shown this once: store it now."""

    token: TokenView
    secret: str


class TokenRevoked(Reply):
    """The token, with the time it was revoked."""

    token: TokenView


class NewToken(Body):
    """A new token: a name to recognise it by, and its scope."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=80)]
    scope: Scope


@routes.get("/api/v1/tokens")
@operation(TokenList, auth="session", roles=["admin"], query=Page)
async def list_tokens(request: web.Request) -> web.Response:
    """List API tokens with their last use."""
    require(request, "admin")
    after, limit = page(request)
    tokens = await request.app[STORE].list_tokens(after=after, limit=limit + 1)
    return reply(
        TokenList(
            tokens=[TokenView.of(t) for t in tokens[:limit]],
            next_cursor=next_cursor([t.id for t in tokens], limit),
        )
    )


@routes.post("/api/v1/tokens")
@operation(TokenCreated, status=201, body=NewToken, auth="session", roles=["admin"])
async def create_token(request: web.Request) -> web.Response:
    """Create an API token; its secret is in this answer only."""
    session = require(request, "admin")
    body = await read_body(request, NewToken)
    token, secret = await create(request.app[STORE], body.name, body.scope, session.member.id)
    log.info("staff %s created API token %s (%s)", session.member.id, token.id, token.scope)
    await announce(request.app, TokenEvent("created", token, session.member.id, time.time()))
    return reply(
        TokenCreated(token=TokenView.of(token), secret=secret),
        status=201,
        headers={"Cache-Control": "no-store"},
    )


@routes.delete(r"/api/v1/tokens/{token_id:\d{1,18}}")
@operation(TokenRevoked, auth="session", roles=["admin"], errors=[ErrorCode.API_TOKEN_NOT_FOUND])
async def revoke_token(request: web.Request) -> web.Response:
    """Revoke an API token: it is refused from the next request on.

    Revoking a revoked token changes nothing and answers it again."""
    session = require(request, "admin")
    token = await request.app[STORE].revoke_token(int(request.match_info["token_id"]), time.time())
    if token is None:
        return error(404, ErrorCode.API_TOKEN_NOT_FOUND, "No such API token.")
    log.info("staff %s revoked API token %s", session.member.id, token.id)
    await announce(request.app, TokenEvent("revoked", token, session.member.id, time.time()))
    return reply(TokenRevoked(token=TokenView.of(token)))
