"""REST for webhooks (admins): a site's endpoints, their secrets, their delivery log and
"send again". The kinds an endpoint may subscribe to are ``server.webhook_kinds``."""

from __future__ import annotations

import time
from typing import Annotated, Literal

from aiohttp import web
from pydantic import AfterValidator, BaseModel, Field, StringConstraints, WithJsonSchema

from server.api import Body, error, read_body, require
from server.keys import STORE, WEBHOOKS
from server.openapi import operation
from server.safe_fetch import UnsafeTarget, vet
from server.store_hook_endpoints import Endpoint
from server.store_webhooks import Delivery
from server.webhook_kinds import DESCRIPTIONS, KINDS
from server.webhook_signing import new_secret
from signaling.errors import ErrorCode

routes = web.RouteTableDef()

# After a rotation the old secret still signs (beside the new one) for this long, so a
# receiver can move over without dropping a delivery.
ROTATION_OVERLAP = 24 * 3600.0
PAGE = 50


def _known(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"{kind!r} is not a webhook kind")
    return kind


# One of the catalogue's kinds (an enum in the schema).
Kind = Annotated[
    str,
    AfterValidator(_known),
    WithJsonSchema({"type": "string", "enum": [str(kind) for kind in KINDS]}),
]
Url = Annotated[str, StringConstraints(min_length=8, max_length=2000)]
Description = Annotated[str, StringConstraints(max_length=200)]


class NewEndpoint(Body):
    url: Url
    description: Description = ""
    kinds: Annotated[list[Kind], Field(min_length=1, max_length=len(KINDS))]


class EndpointChanges(Body):
    url: Url | None = None
    description: Description | None = None
    kinds: Annotated[list[Kind], Field(min_length=1, max_length=len(KINDS))] | None = None
    enabled: bool | None = None


class EndpointView(BaseModel):
    id: int
    site: str
    url: str
    description: str
    kinds: list[str]
    enabled: bool
    created_at: float
    # Only in the answer that creates it or rotates it.
    secret: str | None = None
    previous_secret_until: float | None = None


class DeliveryView(BaseModel):
    id: int
    event_id: int
    webhook_id: str
    kind: str
    # The exact JSON text sent (and signed).
    body: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    created_at: float
    next_attempt_at: float | None
    last_attempt_at: float | None
    response_status: int | None
    last_error: str | None
    delivered_at: float | None


class DeliveryPage(BaseModel):
    deliveries: list[DeliveryView]
    # Pass as ``before`` for the next (older) page; None on the last page.
    next_cursor: int | None


class KindView(BaseModel):
    kind: str
    description: str
    fields: list[str]


class KindList(BaseModel):
    kinds: list[KindView]


class EndpointList(BaseModel):
    webhooks: list[EndpointView]


class DeliveryQuery(BaseModel):
    """The delivery log's filters."""

    before: str | None = Field(None, description="A `next_cursor` from the previous page")
    status: Literal["pending", "delivered", "failed"] | None = None


class Done(BaseModel):
    ok: bool


def _view(endpoint: Endpoint, site_key: str, with_secret: bool = False) -> EndpointView:
    now = time.time()
    until = endpoint.previous_until
    return EndpointView(
        id=endpoint.id,
        site=site_key,
        url=endpoint.url,
        description=endpoint.description,
        kinds=list(endpoint.kinds),
        enabled=endpoint.enabled,
        created_at=endpoint.created_at,
        secret=endpoint.secret if with_secret else None,
        previous_secret_until=until if until is not None and until > now else None,
    )


def _delivery(delivery: Delivery) -> DeliveryView:
    return DeliveryView(
        id=delivery.id,
        event_id=delivery.event_id,
        webhook_id=delivery.message_id,
        kind=delivery.kind,
        body=delivery.body,
        status=delivery.status,
        attempts=delivery.attempts,
        created_at=delivery.created_at,
        next_attempt_at=delivery.next_attempt_at,
        last_attempt_at=delivery.last_attempt_at,
        response_status=delivery.response_status,
        last_error=delivery.last_error,
        delivered_at=delivery.delivered_at,
    )


def _json(model: BaseModel, status: int = 200) -> web.Response:
    return web.json_response(model.model_dump(mode="json"), status=status)


def _missing() -> web.Response:
    return error(404, ErrorCode.WEBHOOK_NOT_FOUND, "No such webhook endpoint.")


async def _refused_url(request: web.Request, url: str) -> web.Response | None:
    try:
        await vet(url, request.app[WEBHOOKS].policy)
    except UnsafeTarget as exc:
        return error(400, ErrorCode.WEBHOOK_URL_REFUSED, f"This URL cannot be called ({exc}).")
    return None


async def _endpoint(request: web.Request) -> tuple[Endpoint, str] | None:
    try:
        endpoint_id = int(request.match_info["id"])
    except ValueError:
        return None
    endpoint = await request.app[WEBHOOKS].store.endpoint(endpoint_id)
    if endpoint is None:
        return None
    return endpoint, await request.app[STORE].site_key(endpoint.site_id)


@routes.get("/api/v1/webhooks/kinds")
@operation(KindList, roles=["admin"])
async def list_kinds(request: web.Request) -> web.Response:
    """The catalogue an endpoint subscribes from, with what each kind's ``data`` holds."""
    require(request, "admin")
    kinds = [
        KindView(kind=str(kind), description=DESCRIPTIONS[kind], fields=list(fields))
        for kind, fields in KINDS.items()
    ]
    return _json(KindList(kinds=kinds))


@routes.get("/api/v1/sites/{key}/webhooks")
@operation(EndpointList, roles=["admin"], errors=[ErrorCode.SITE_UNKNOWN])
async def list_endpoints(request: web.Request) -> web.Response:
    """A site's webhook endpoints."""
    require(request, "admin")
    site = await request.app[STORE].get_site(request.match_info["key"])
    if site is None:
        return error(404, ErrorCode.SITE_UNKNOWN, "No such site.")
    found = await request.app[WEBHOOKS].store.endpoints(site.id)
    return _json(EndpointList(webhooks=[_view(e, site.key) for e in found]))


@routes.post("/api/v1/sites/{key}/webhooks")
@operation(
    EndpointView,
    status=201,
    body=NewEndpoint,
    roles=["admin"],
    errors=[ErrorCode.SITE_UNKNOWN, ErrorCode.WEBHOOK_URL_REFUSED],
)
async def create_endpoint(request: web.Request) -> web.Response:
    """A new endpoint; the answer carries its signing secret (shown this once)."""
    require(request, "admin")
    site = await request.app[STORE].get_site(request.match_info["key"])
    if site is None:
        return error(404, ErrorCode.SITE_UNKNOWN, "No such site.")
    body = await read_body(request, NewEndpoint)
    refused = await _refused_url(request, body.url)
    if refused is not None:
        return refused
    endpoint = await request.app[WEBHOOKS].store.create_endpoint(
        site.id,
        body.url,
        body.description,
        list(dict.fromkeys(body.kinds)),
        new_secret(),
        request.app[WEBHOOKS].clock.now(),
    )
    return _json(_view(endpoint, site.key, with_secret=True), status=201)


@routes.get("/api/v1/webhooks/{id:\\d+}")
@operation(EndpointView, roles=["admin"], errors=[ErrorCode.WEBHOOK_NOT_FOUND])
async def get_endpoint(request: web.Request) -> web.Response:
    """One webhook endpoint (its secret is never shown again)."""
    require(request, "admin")
    found = await _endpoint(request)
    return _missing() if found is None else _json(_view(*found))


@routes.patch("/api/v1/webhooks/{id:\\d+}")
@operation(
    EndpointView,
    body=EndpointChanges,
    roles=["admin"],
    errors=[ErrorCode.WEBHOOK_NOT_FOUND, ErrorCode.WEBHOOK_URL_REFUSED],
)
async def update_endpoint(request: web.Request) -> web.Response:
    """Change an endpoint's URL, description, kinds or whether it is paused."""
    require(request, "admin")
    found = await _endpoint(request)
    if found is None:
        return _missing()
    body = await read_body(request, EndpointChanges)
    changes = body.model_dump(exclude_none=True)
    if "url" in changes:
        refused = await _refused_url(request, changes["url"])
        if refused is not None:
            return refused
    if "kinds" in changes:
        changes["kinds"] = list(dict.fromkeys(changes["kinds"]))
    endpoint = found[0]
    if changes:
        updated = await request.app[WEBHOOKS].store.update_endpoint(endpoint.id, **changes)
        if updated is None:
            return _missing()
        endpoint = updated
    return _json(_view(endpoint, found[1]))


@routes.delete("/api/v1/webhooks/{id:\\d+}")
@operation(Done, roles=["admin"], errors=[ErrorCode.WEBHOOK_NOT_FOUND])
async def delete_endpoint(request: web.Request) -> web.Response:
    """The endpoint and its delivery log; nothing more is sent to it."""
    require(request, "admin")
    found = await _endpoint(request)
    if found is None or not await request.app[WEBHOOKS].store.delete_endpoint(found[0].id):
        return _missing()
    return _json(Done(ok=True))


@routes.post("/api/v1/webhooks/{id:\\d+}/rotate-secret")
@operation(EndpointView, roles=["admin"], errors=[ErrorCode.WEBHOOK_NOT_FOUND])
async def rotate_secret(request: web.Request) -> web.Response:
    """A new signing secret (in the answer, this once); the old one keeps signing beside it
    for 24 hours."""
    require(request, "admin")
    found = await _endpoint(request)
    if found is None:
        return _missing()
    rotated = await request.app[WEBHOOKS].store.rotate_secret(
        found[0].id, new_secret(), request.app[WEBHOOKS].clock.now() + ROTATION_OVERLAP
    )
    if rotated is None:
        return _missing()
    return _json(_view(rotated, found[1], with_secret=True))


@routes.get("/api/v1/webhooks/{id:\\d+}/deliveries")
@operation(DeliveryPage, query=DeliveryQuery, roles=["admin"], errors=[ErrorCode.WEBHOOK_NOT_FOUND])
async def list_deliveries(request: web.Request) -> web.Response:
    """The delivery log, newest first: ``?before=<cursor>&status=failed``."""
    require(request, "admin")
    found = await _endpoint(request)
    if found is None:
        return _missing()
    before_text = request.query.get("before")
    status = request.query.get("status")
    if (before_text is not None and not before_text.isdigit()) or status not in (
        None,
        "pending",
        "delivered",
        "failed",
    ):
        return error(
            400,
            ErrorCode.PAYLOAD_INVALID,
            "before is a cursor; status pending, delivered or failed.",
        )
    before = int(before_text) if before_text is not None else None
    rows = await request.app[WEBHOOKS].store.deliveries(found[0].id, before, PAGE + 1, status)
    page = DeliveryPage(
        deliveries=[_delivery(d) for d in rows[:PAGE]],
        next_cursor=rows[PAGE - 1].id if len(rows) > PAGE else None,
    )
    return _json(page)


@routes.post("/api/v1/webhooks/{id:\\d+}/deliveries/{delivery:\\d+}/resend")
@operation(DeliveryView, roles=["admin"], errors=[ErrorCode.WEBHOOK_NOT_FOUND])
async def resend(request: web.Request) -> web.Response:
    """Send a delivery again now, with the same ``webhook-id``."""
    require(request, "admin")
    found = await _endpoint(request)
    if found is None:
        return _missing()
    outbox = request.app[WEBHOOKS]
    again = await outbox.store.resend(
        found[0].id, int(request.match_info["delivery"]), outbox.clock.now()
    )
    if again is None:
        return error(404, ErrorCode.WEBHOOK_NOT_FOUND, "No such delivery.")
    outbox.wake()
    return _json(_delivery(again))
