"""Typed keys for the objects the app factory puts on the application."""

from __future__ import annotations

import jinja2
from aiohttp import web

from server.assets import Assets
from server.auth import SessionAuth
from server.installs import Installs
from server.limits import RateLimits
from server.mail import Outbox as MailOutbox
from server.mail_catcher import MailCatcher
from server.settings import Settings
from server.sockets import SocketServer
from server.store import SqlStore
from server.throttle import SignInThrottle
from server.webhooks import Outbox
from signaling.namespaces import Signaling

SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("store", SqlStore)
AUTH = web.AppKey("auth", SessionAuth)
THROTTLE: web.AppKey[SignInThrottle] = web.AppKey("throttle")
LIMITS = web.AppKey("limits", RateLimits)
SIGNALING = web.AppKey("signaling", Signaling)
SIO = web.AppKey("sio", SocketServer)
TEMPLATES = web.AppKey("templates", jinja2.Environment)
ASSETS = web.AppKey("assets", Assets)
INSTALLS = web.AppKey("installs", Installs)
MAIL = web.AppKey("mail", MailOutbox)
# Only while the development mail catcher runs (settings.mail_catcher).
CATCHER = web.AppKey("catcher", MailCatcher)
WEBHOOKS = web.AppKey("webhooks", Outbox)
