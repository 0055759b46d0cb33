"""The OpenAPI 3.1 document, generated from the route table and the pydantic models.

A route module declares each REST operation with one line under its route decorator::

    @routes.get("/api/v1/sites")
    @operation(SiteList, roles=("admin",), query=Page)
    async def list_sites(request: web.Request) -> web.Response:
        \"\"\"List sites, oldest first.\"\"\"  (first line: the summary; the rest: the description)

``operation`` only attaches an ``Operation`` to the handler; ``document(app)`` walks
``app.router`` and reads them, and the guard (``server.api.guard``, ``server.rest.admit``)
enforces ``roles`` and ``auth`` before the handler runs: ``public`` (anyone), ``visitor``
(the customer frame's Bearer visitor token or a staff session), ``session`` (a signed-in
browser only, never an API token) or ``staff`` (a session or an API token whose scope
covers the call: ``read`` tokens may only read).
Errors each operation can answer are listed by code; the codes that follow from ``auth`` and
``body`` are added on their own.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from aiohttp import web
from pydantic import BaseModel, Field
from pydantic.json_schema import models_json_schema

from server.auth import SESSION_COOKIE
from signaling.errors import ErrorCode
from signaling.ports import Role

Auth = Literal["public", "visitor", "session", "staff"]
H = TypeVar("H", bound=Callable[..., Any])
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# An API token's scope and the role it acts with (server.api_tokens): ``read`` only reads.
SCOPE_ROLES: dict[str, Role] = {"read": "supervisor", "admin": "admin"}
REF = "#/components/schemas/{model}"

# The status each catalogue code answers with over REST.
STATUS: dict[ErrorCode, int] = {
    ErrorCode.PAYLOAD_INVALID: 400,
    ErrorCode.TOKEN_INVALID: 401,
    ErrorCode.AUTH_REQUIRED: 401,
    ErrorCode.AUTH_INVALID: 401,
    ErrorCode.SITE_UNKNOWN: 404,
    ErrorCode.AUTH_FORBIDDEN: 403,
    ErrorCode.AUTH_CSRF: 403,
    ErrorCode.ROUTE_NOT_FOUND: 404,
    ErrorCode.CONVERSATION_NOT_FOUND: 404,
    ErrorCode.API_TOKEN_NOT_FOUND: 404,
    ErrorCode.PRECHECK_NOT_FOUND: 404,
    ErrorCode.WEBHOOK_NOT_FOUND: 404,
    ErrorCode.STAFF_NOT_FOUND: 404,
    ErrorCode.MAIL_CATCHER_OFF: 404,
    ErrorCode.PASSWORD_WRONG: 400,
    ErrorCode.WEBHOOK_URL_REFUSED: 400,
    ErrorCode.HOURS_INVALID: 400,
    ErrorCode.TIMEZONE_UNKNOWN: 400,
    ErrorCode.EMAIL_INVALID: 400,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.STAFF_EXISTS: 409,
    ErrorCode.STAFF_LAST_ADMIN: 409,
    ErrorCode.CONVERSATION_NOT_ENDED: 409,
    ErrorCode.OFFLINE_DISABLED: 409,
    ErrorCode.DATABASE_UNAVAILABLE: 503,
    ErrorCode.REDIS_UNAVAILABLE: 503,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.AUTH_THROTTLED: 429,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.PRECHECK_BUSY: 429,
    ErrorCode.SERVER_ERROR: 500,
}


class WireError(BaseModel):
    """One refusal: a code from the closed catalogue and a message safe to show."""

    code: ErrorCode
    message: str
    retry_after_ms: int | None = Field(
        default=None, description="With a 429: milliseconds after which a retry may succeed."
    )


class ErrorEnvelope(BaseModel):
    """Every REST refusal has this shape."""

    error: WireError


@dataclass(frozen=True, slots=True)
class Operation:
    """What ``operation`` declares about one handler (see the module's docstring)."""

    response: type[BaseModel] | None
    status: int
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    auth: Auth
    roles: tuple[str, ...]
    errors: tuple[ErrorCode, ...]
    summary: str
    description: str

    def admits_token(self, scope: str, method: str) -> bool:
        """Whether an API token with ``scope`` may make this call."""
        if self.auth != "staff" or scope not in SCOPE_ROLES:
            return False
        if self.roles and SCOPE_ROLES[scope] not in self.roles:
            return False
        return scope == "admin" or method in SAFE_METHODS

    def codes(self, method: str) -> list[ErrorCode]:
        """Every code this operation can answer with, its own and those its auth implies."""
        implied: list[ErrorCode] = []
        if self.body is not None or self.query is not None:
            implied.append(ErrorCode.PAYLOAD_INVALID)
        if self.body is not None:
            implied.append(ErrorCode.PAYLOAD_TOO_LARGE)
        if self.auth in ("session", "staff", "visitor"):
            implied.append(ErrorCode.AUTH_REQUIRED)
        if self.auth == "staff":
            implied += [ErrorCode.AUTH_INVALID, ErrorCode.AUTH_FORBIDDEN]
        elif self.roles:
            implied.append(ErrorCode.AUTH_FORBIDDEN)
        if method not in SAFE_METHODS and self.auth != "visitor":
            implied.append(ErrorCode.AUTH_CSRF)
        implied.append(ErrorCode.SERVER_ERROR)
        return list(dict.fromkeys([*implied, *self.errors]))


def operation(
    response: type[BaseModel] | None,
    *,
    status: int = 200,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    auth: Auth = "staff",
    roles: Iterable[str] = (),
    errors: Iterable[ErrorCode] = (),
) -> Callable[[H], H]:
    """Declare a REST operation: its response model (``None`` for an empty 204), request
    body and query models, who may call it and the codes it refuses with."""

    def declare(handler: H) -> H:
        doc = inspect.getdoc(handler) or handler.__name__.replace("_", " ").capitalize()
        summary, _, description = doc.partition("\n")
        handler.operation = Operation(  # type: ignore[attr-defined]
            response=response,
            status=status,
            body=body,
            query=query,
            auth=auth,
            roles=tuple(roles),
            errors=tuple(errors),
            summary=summary.strip().rstrip("."),
            description=" ".join(description.split()),
        )
        return handler

    return declare


def operation_of(handler: object) -> Operation | None:
    found = getattr(handler, "operation", None)
    return found if isinstance(found, Operation) else None


_PARAM = re.compile(r"\{(\w+)\}")


def _group(pattern: str, name: str) -> str | None:
    """The regex of the named group ``name`` in a compiled route pattern."""
    start = pattern.find(f"(?P<{name}>")
    if start < 0:
        return None
    depth, begin = 0, start + len(f"(?P<{name}>")
    for end in range(start, len(pattern)):
        char = pattern[end]
        if char == "(" and pattern[end - 1] != "\\":
            depth += 1
        elif char == ")" and pattern[end - 1] != "\\":
            depth -= 1
            if depth == 0:
                return pattern[begin:end]
    return None


def _path(resource: web.AbstractResource) -> tuple[str, list[dict[str, Any]]]:
    """The resource's OpenAPI path (``/x/{id}``) and its path parameters, with the regex
    each must match (aiohttp's default, one segment, for a plain ``{name}``)."""
    path = resource.canonical
    compiled = resource.get_info().get("pattern")
    params = []
    for name in _PARAM.findall(path):
        regex = _group(compiled.pattern, name) if compiled is not None else None
        schema: dict[str, Any] = {"type": "string"}
        if regex and regex != "[^{}/]+":
            schema["pattern"] = f"^{regex}$"
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    return path, params


def api_operations(app: web.Application) -> list[tuple[str, str, Operation]]:
    """(method, OpenAPI path, operation) for every declared route, in route order."""
    found = []
    for route in app.router.routes():
        declared = operation_of(route.handler)
        if declared is None or route.method == "HEAD":
            continue
        if route.resource is not None:
            found.append((route.method, route.resource.canonical, declared))
    return found


def _security(op: Operation, method: str) -> list[dict[str, list[str]]]:
    session: dict[str, list[str]] = (
        {"session": []} if method in SAFE_METHODS else {"session": [], "csrf": []}
    )
    if op.auth == "public":
        return []
    if op.auth == "visitor":
        return [{"visitor": [], "site": []}, session]
    if op.auth == "session":
        return [session]
    scopes = [scope for scope in SCOPE_ROLES if op.admits_token(scope, method)]
    return [session, {"token": scopes}] if scopes else [session]


def _schemas(ops: list[tuple[str, str, Operation]]) -> dict[str, Any]:
    models: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = [
        (ErrorEnvelope, "serialization")
    ]
    for _, _, op in ops:
        if op.body is not None:
            models.append((op.body, "validation"))
        if op.response is not None:
            models.append((op.response, "serialization"))
    _, top = models_json_schema(list(dict.fromkeys(models)), ref_template=REF)
    return dict(sorted(top.get("$defs", {}).items()))


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def _errors(op: Operation, method: str) -> dict[str, Any]:
    by_status: dict[int, list[ErrorCode]] = {}
    for code in op.codes(method):
        by_status.setdefault(STATUS[code], []).append(code)
    return {
        str(status): {
            "description": "; ".join(f"`{code}`" for code in codes),
            "content": {"application/json": {"schema": _ref(ErrorEnvelope)}},
        }
        for status, codes in sorted(by_status.items())
    }


def _query(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=REF)
    required = set(schema.get("required", []))
    return [
        {
            "name": name,
            "in": "query",
            "required": name in required,
            "description": prop.get("description", ""),
            "schema": {k: v for k, v in prop.items() if k not in ("description", "title")},
        }
        for name, prop in schema.get("properties", {}).items()
    ]


def document(app: web.Application, version: str, server_url: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document for every declared route of ``app``."""
    ops = api_operations(app)
    paths: dict[str, dict[str, Any]] = {}
    for route in app.router.routes():
        op = operation_of(route.handler)
        if op is None or route.method == "HEAD" or route.resource is None:
            continue
        path, params = _path(route.resource)
        method = route.method
        entry: dict[str, Any] = {
            "operationId": getattr(route.handler, "__name__", path),
            "summary": op.summary,
            "tags": [path.split("/")[3] if path.count("/") >= 3 else "api"],
            "security": _security(op, method),
        }
        if op.description:
            entry["description"] = op.description
        if op.roles:
            entry["x-roles"] = list(op.roles)
        if params or op.query is not None:
            entry["parameters"] = params + (_query(op.query) if op.query else [])
        if op.body is not None:
            entry["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": _ref(op.body)}},
            }
        ok: dict[str, Any] = {"description": "Done." if op.response is None else "OK."}
        if op.response is not None:
            ok["content"] = {"application/json": {"schema": _ref(op.response)}}
        entry["responses"] = {str(op.status): ok, **_errors(op, method)}
        paths.setdefault(path, {})[method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Porchlight REST API",
            "version": version,
            "description": (
                "Staff sign-in, administration and the customer frame's pre-call check. "
                "Every refusal is an `ErrorEnvelope` with a code from the closed catalogue. "
                "Lists are paged by an opaque `cursor`: pass a page's `next_cursor` to get "
                "the next one; `null` means the last page."
            ),
        },
        "servers": [{"url": server_url}],
        "paths": paths,
        "components": {
            "schemas": _schemas(ops),
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE},
                "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token"},
                "token": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "pl_…",
                    "description": "An API token (scope `read` or `admin`); no CSRF token.",
                },
                "visitor": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The customer frame's visitor token.",
                },
                "site": {"type": "apiKey", "in": "header", "name": "X-Porchlight-Site"},
            },
        },
    }
