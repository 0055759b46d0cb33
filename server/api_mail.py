"""Email in the app: the outbox and its sender in ``cleanup_ctx``, the development catcher,
and ``GET /api/v1/caught-mail`` (admins, only while the catcher runs)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web
from pydantic import ConfigDict, Field

from server.api_models import Reply
from server.keys import CATCHER, MAIL, SETTINGS, STORE
from server.mail import MailTemplates, Outbox, Sender
from server.mail_catcher import MailCatcher
from server.mail_sender import MailWorker, SmtpTransport
from server.metrics import METRICS
from server.openapi import operation
from server.rest import error, require
from signaling.errors import ErrorCode

log = logging.getLogger(__name__)

routes = web.RouteTableDef()


class CaughtOut(Reply):
    """One email the development catcher received."""

    model_config = ConfigDict(
        frozen=True, populate_by_name=True, json_schema_serialization_defaults_required=True
    )

    number: int
    received_at: float
    sender: str = Field(serialization_alias="from")
    to: list[str]
    subject: str
    message_id: str
    text: str
    html: str


class CaughtList(Reply):
    """What the development catcher received, newest first."""

    emails: list[CaughtOut]


async def mail_runtime(app: web.Application) -> AsyncIterator[None]:
    """The outbox (always: emails are kept even without a mail server), the catcher in
    development when asked for, and this node's sender when a mail server is set."""
    settings = app[SETTINGS]
    store = app[STORE]
    outbox = Outbox(store, MailTemplates(), Sender(settings.mail_from))
    app[MAIL] = outbox
    app[METRICS].outbox_depth("email", outbox.depth)
    catcher = None
    if settings.mail_catcher and settings.smtp_host is not None:
        catcher = MailCatcher(settings.smtp_host, settings.smtp_port)
        await catcher.start()
        app[CATCHER] = catcher
    worker = None
    if settings.smtp_host is None:
        log.info("no smtp_host set: emails wait in the outbox until one is")
    else:
        worker = MailWorker(store, SmtpTransport(settings), settings.mail_from)
        outbox.wake = worker.wake
        worker.start()
    yield
    if worker is not None:
        await worker.stop()
    if catcher is not None:
        await catcher.stop()


@routes.get("/api/v1/caught-mail")
@operation(CaughtList, roles=["admin"], errors=[ErrorCode.MAIL_CATCHER_OFF])
async def caught_mail(request: web.Request) -> web.Response:
    """What the development catcher received, newest first."""
    require(request, "admin")
    catcher = request.app.get(CATCHER)
    if catcher is None:
        return error(404, ErrorCode.MAIL_CATCHER_OFF, "The mail catcher is not running.")
    emails = [
        CaughtOut(
            number=caught.number,
            received_at=caught.received_at,
            sender=caught.sender,
            to=list(caught.recipients),
            subject=caught.subject,
            message_id=caught.message_id,
            text=caught.text,
            html=caught.html,
        )
        for caught in reversed(catcher.caught)
    ]
    return web.json_response(
        CaughtList(emails=emails).model_dump(mode="json", by_alias=True),
        headers={"Cache-Control": "no-store"},
    )


@routes.get("/api/v1/caught-mail/{number}/html")
async def caught_html(request: web.Request) -> web.Response:
    """One caught email's HTML part as its recipient's mail client would show it: in a
    sandbox, without scripts, fetching nothing (images inline only)."""
    require(request, "admin")
    catcher = request.app.get(CATCHER)
    number = request.match_info["number"]
    found = None
    if catcher is not None and number.isdigit():
        found = next((c for c in catcher.caught if c.number == int(number)), None)
    if found is None or not found.html:
        return error(404, ErrorCode.MAIL_CATCHER_OFF, "No such caught email.")
    return web.Response(
        text=found.html,
        content_type="text/html",
        headers={
            "Content-Security-Policy": (
                "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"
            ),
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
        },
    )
