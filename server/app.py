"""The composition root: ``create_app(settings)`` builds everything, no globals."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import jinja2
from aiohttp import web
from limits.aio.storage import RedisStorage
from redis.asyncio import Redis

from server import (
    admin_pages,
    api,
    api_analytics,
    api_audit,
    api_docs,
    api_hours,
    api_mail,
    api_photos,
    api_privacy,
    api_shift,
    api_sites,
    api_staff,
    api_tokens,
    api_webhooks,
    fanout,
    health,
    metrics,
    pages,
    pages_account,
    precheck_api,
    rest,
)
from server.assets import Assets
from server.audit import AUDIT, Audit
from server.audit_tokens import TokenAudit
from server.auth import SessionAuth
from server.ice import TurnIce
from server.installs import Installs
from server.keys import (
    ASSETS,
    AUTH,
    INSTALLS,
    LIMITS,
    SETTINGS,
    SIGNALING,
    SIO,
    STORE,
    TEMPLATES,
    THROTTLE,
    WEBHOOKS,
)
from server.limits import RateLimits, rates_from
from server.migrate import migrate
from server.net import TRUSTED_PROXIES, socket_address
from server.privacy import PRIVACY, Privacy, RetentionSchedule
from server.settings import Settings
from server.sockets import SocketServer
from server.store import SqlStore
from server.store_webhooks import WebhookStore
from server.throttle import MemoryThrottle, RedisThrottle
from server.webhooks import Outbox, policy_for
from signaling.calls import Calls
from signaling.clock import LoopClock
from signaling.conversations import Conversations
from signaling.event_log import EventLog
from signaling.namespaces import Signaling
from signaling.routing import Router, RoutingPolicy
from signaling.sweeper import Sweeper
from signaling.views import StaffHandles

log = logging.getLogger(__name__)

TEMPLATE_DIR = Path(__file__).parent / "templates"
MAX_SOCKET_MESSAGE = 64 * 1024


SERVER_NAME = "Porchlight"


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: runs for every response about to be sent, including raised
    ``HTTPException``s, unknown routes and the 500 of an unhandled error, which a middleware
    never sees as a response. ``Server`` names no version (aiohttp's default does)."""
    response.headers["Server"] = SERVER_NAME
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if request.path.startswith("/static/dist/") and response.status == 200:
        # Fingerprinted names change with their content.
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable"


def create_app(settings: Settings) -> web.Application:
    """Build the application. The store, the signaling domain and the socket server are
    created in ``cleanup_ctx`` and torn down in reverse, closing every socket."""
    app = web.Application(middlewares=[rest.errors, api.guard], client_max_size=256 * 1024)
    app.on_response_prepare.append(security_headers)
    app[SETTINGS] = settings
    app[TRUSTED_PROXIES] = settings.proxy_networks
    app[ASSETS] = Assets(settings.static_dir)
    app[TEMPLATES] = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=jinja2.select_autoescape(["html"]),
    )
    _shared_counters(app, settings)
    sio = SocketServer(
        address_of=partial(socket_address, trusted=settings.proxy_networks),
        sockets_per_address=settings.sockets_per_address,
        # In-process, or Redis when this is one node of a fleet (server.fanout).
        client_manager=fanout.manager_for(settings),
        async_mode="aiohttp",
        transports=["websocket"],
        # Origins are checked per namespace with coded refusals (see server.auth).
        cors_allowed_origins=[],
        # One connection's events are handled in order; connections run concurrently.
        async_handlers=False,
        max_http_buffer_size=MAX_SOCKET_MESSAGE,
        # engine.io's defaults (25 s + 20 s) let a console that vanished hold its
        # conversations for 45 s before the grace period even began.
        ping_interval=settings.ping_interval,
        ping_timeout=settings.ping_timeout,
        logger=False,
        engineio_logger=False,
    )
    sio.attach(app)
    app[SIO] = sio
    metrics.install(app)
    app.add_routes(pages.routes)
    admin_pages.add_routes(app)
    app.add_routes(health.routes)
    app.add_routes(api.routes)
    app.add_routes(api_sites.routes)
    app.add_routes(precheck_api.routes)
    app.add_routes(api_hours.routes)
    app.add_routes(api_staff.routes)
    app.add_routes(api_mail.routes)
    app.add_routes(api_photos.routes)
    app.add_routes(pages_account.routes)
    app.add_routes(api_audit.routes)
    app.add_routes(api_privacy.routes)
    app.add_routes(api_shift.routes)
    app.add_routes(api_tokens.routes)
    app.add_routes(api_docs.routes)
    # The audit log (and anything else) subscribes to API token use here.
    app[api_tokens.TOKEN_LISTENERS] = []
    app.on_startup.append(api_docs.build_document)
    app.add_routes(api_webhooks.routes)
    app.add_routes(api_analytics.routes)
    app.router.add_static("/static/", settings.static_dir, follow_symlinks=False)
    app.on_shutdown.append(_close_sockets)
    # Before _runtime: subscribed before the domain starts, closed after the socket server.
    app.cleanup_ctx.append(fanout.fanout_runtime)
    app.cleanup_ctx.append(_runtime)
    # After _runtime: it needs the store, and it is torn down first (every peer closes
    # before the store does).
    app.cleanup_ctx.append(api_mail.mail_runtime)
    app.cleanup_ctx.append(precheck_api.precheck_runtime)
    app.cleanup_ctx.append(api_hours.offline_runtime)
    app.cleanup_ctx.append(health.readiness_runtime)
    app.cleanup_ctx.append(api_analytics.analytics_runtime)
    return app


def _shared_counters(app: web.Application, settings: Settings) -> None:
    """Sign-in throttling and rate limits: in this process's memory for one node, in Redis
    for a fleet, so that a limit is one limit whichever node a client reaches."""
    if settings.redis_url is None:
        app[THROTTLE] = MemoryThrottle(settings.login_attempts)
        app[LIMITS] = RateLimits(rates_from(settings))
        return
    prefix = f"porchlight:{settings.redis_channel}:"
    redis = Redis.from_url(settings.redis_url, socket_timeout=1.0, socket_connect_timeout=1.0)
    app[THROTTLE] = RedisThrottle(redis, prefix + "sign-in:", settings.login_attempts)
    storage = RedisStorage(
        settings.redis_url, implementation="redispy", key_prefix=prefix + "limits"
    )
    app[LIMITS] = RateLimits(rates_from(settings), storage)

    async def close(_app: web.Application) -> None:
        await redis.aclose()

    app.on_cleanup.append(close)


async def _close_sockets(app: web.Application) -> None:
    """Close every websocket as a transport close, not a socket.io disconnect: clients then
    reconnect (to this process after a restart, or to another node) instead of giving up.
    Putting None on an engine.io socket's queue is how engine.io itself stops its writer,
    which closes the websocket."""
    if SIGNALING in app:
        app[SIGNALING].customer.closing = True
    eio = app[SIO].eio
    for engine_socket in list(eio.sockets.values()):
        await engine_socket.queue.put(None)
    deadline = asyncio.get_running_loop().time() + 5.0
    # engine.io announces no "all closed" event, so poll with a deadline.
    while eio.sockets and asyncio.get_running_loop().time() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.02)


async def _runtime(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    if settings.auto_migrate:
        await migrate(settings.database_url)
    store = await SqlStore.open(settings.database_url)
    figures = app[metrics.METRICS]
    figures.attach_store(store)
    clock = LoopClock()
    node_id = uuid.uuid4().hex
    outbound = metrics.MeteredOutbound(app[SIO], figures)
    events = EventLog(store)
    events.subscribe(figures.observe)
    # Webhooks are relayed from the stored log; the subscription only wakes the outbox.
    webhooks = Outbox(
        WebhookStore(store._run, store.dialect),
        clock,
        policy_for(settings.mode, settings.webhook_networks),
    )
    events.subscribe(webhooks.on_event)
    router = Router(
        store,
        store,
        clock,
        outbound,
        RoutingPolicy(
            ring_timeout=settings.ring_timeout,
            grace_period=settings.grace_period,
            node_timeout=settings.node_timeout,
            customer_grace=settings.customer_grace,
        ),
        StaffHandles(settings.secret_key),
        node_id=node_id,
        events=events,
    )
    auth = SessionAuth(settings, store)
    calls = Calls(store, clock, router, outbound, TurnIce(settings, store))
    signaling = Signaling(
        router,
        Conversations(store, clock, router, outbound),
        calls,
        auth,
        outbound,
        app[LIMITS],
    )
    signaling.mount(app[SIO])
    await router.start(alone=settings.redis_url is None)
    sweeper = Sweeper(router.sweep)
    sweeper.start()
    webhooks.start()
    # The depth the outbox counts on each pass, read at scrape time.
    figures.outbox_depth("webhooks", lambda: webhooks.depth().pending)
    app[STORE] = store
    app[INSTALLS] = Installs(store)
    app[WEBHOOKS] = webhooks
    app[AUTH] = auth
    app[AUDIT] = Audit(store, settings.secret_key)
    app[api_tokens.TOKEN_LISTENERS].append(TokenAudit(app[AUDIT]))
    app[PRIVACY] = Privacy(store, app[AUDIT])
    retention = RetentionSchedule(app[PRIVACY], node_id, settings.retention_every)
    retention.start()
    app[SIGNALING] = signaling
    log.info("porchlight started on %s", settings.public_url)
    yield
    log.info("porchlight stopping")
    await retention.stop()
    await sweeper.stop()
    await webhooks.stop()
    await app[SIO].shutdown()
    await router.stop()
    await clock.close()
    await store.close()
