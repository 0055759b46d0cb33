"""Typed keys for the objects the app factory puts on the application."""

from __future__ import annotations

import jinja2
import socketio
from aiohttp import web

from server.assets import Assets
from server.auth import SessionAuth
from server.settings import Settings
from server.store import SqlStore
from server.throttle import SignInThrottle
from signaling.namespaces import Signaling

SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("store", SqlStore)
AUTH = web.AppKey("auth", SessionAuth)
THROTTLE: web.AppKey[SignInThrottle] = web.AppKey("throttle")
SIGNALING = web.AppKey("signaling", Signaling)
SIO = web.AppKey("sio", socketio.AsyncServer)
TEMPLATES = web.AppKey("templates", jinja2.Environment)
ASSETS = web.AppKey("assets", Assets)
