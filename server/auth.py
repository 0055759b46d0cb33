"""Who is who: staff passwords (Argon2id) and sessions, signed customer tokens, and the
origin checks on every socket. Implements the domain's ``Auth`` port. Sign-in throttling is
in ``server.throttle``."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from server.settings import Settings
from server.store import SqlStore
from signaling.errors import ErrorCode, ProtocolError
from signaling.ports import CustomerIdentity, StaffMember

SESSION_COOKIE = "porchlight_session"
TOKEN_VERSION = "v1"  # noqa: S105 - a format version, not a secret
TOKEN_MAX_AGE = 90 * 24 * 3600

_hasher = PasswordHasher()  # argon2-cffi's defaults are Argon2id (RFC 9106 low-memory)
# Verified against when the email is unknown, so a miss costs as long as a hit.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))
# Argon2 verifications at once: about one per core, at most four.
VERIFY_CONCURRENCY = min(4, os.cpu_count() or 1)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _verify(hasher: PasswordHasher, password_hash: str | None, password: str) -> bool:
    try:
        return hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


class PasswordVerifier:
    """Argon2id verification off the event loop, at most ``concurrency`` at a time. An
    unknown account (``None`` hash) costs one verification too, so a miss takes as long as
    a hit.

    Each verification holds ~64 MiB and a core for tens of milliseconds: a burst of sign-ins
    waits here instead of exhausting memory and the default thread pool that the rest of
    the server shares. ``waiting`` is how many callers are queued for a turn.
    """

    def __init__(self, concurrency: int = VERIFY_CONCURRENCY, hasher: PasswordHasher = _hasher):
        self._slots = asyncio.Semaphore(concurrency)
        self._hasher = hasher
        self.waiting = 0

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Whether ``password`` matches ``password_hash`` (never when it is ``None``)."""
        self.waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1
        check = asyncio.ensure_future(
            asyncio.to_thread(_verify, self._hasher, password_hash, password)
        )
        # The slot is free when the thread is, even if this caller is cancelled meanwhile.
        check.add_done_callback(lambda _: self._slots.release())
        return await asyncio.shield(check)


def secrets_match(given: str, expected: str) -> bool:
    """Constant-time comparison of a secret someone sent with the one we hold. Our secrets
    are ASCII; anything else is simply wrong (``compare_digest`` on ``str`` would raise on
    it), and the comparison runs on bytes."""
    if not given.isascii():
        return False
    return hmac.compare_digest(given.encode("ascii"), expected.encode("ascii"))


def token_digest(token: str) -> str:
    """Session tokens are stored only as their SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()


class CustomerTokens:
    """Opaque, signed visitor tokens: ``v1.<site>.<visitor>.<issued>.<mac>``. A token names
    one visitor on one site and grants that visitor's own conversations only."""

    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(("customer-token|" + secret).encode()).digest()

    def _mac(self, body: str) -> str:
        digest = hmac.new(self._key, body.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def mint(self, site_key: str, visitor_id: str, now: float | None = None) -> str:
        issued = int(time.time() if now is None else now)
        body = f"{TOKEN_VERSION}.{site_key}.{visitor_id}.{issued}"
        return f"{body}.{self._mac(body)}"

    def verify(self, token: str, site_key: str, now: float | None = None) -> str:
        """The visitor id, or ``token.invalid``."""
        parts = token.split(".")
        if not token.isascii() or len(parts) != 5 or parts[0] != TOKEN_VERSION:
            raise ProtocolError(ErrorCode.TOKEN_INVALID, "The visitor token is malformed.")
        body, mac = ".".join(parts[:4]), parts[4]
        if not secrets_match(mac, self._mac(body)):
            raise ProtocolError(ErrorCode.TOKEN_INVALID, "The visitor token is not ours.")
        if parts[1] != site_key:
            raise ProtocolError(ErrorCode.TOKEN_INVALID, "The visitor token is for another site.")
        now = time.time() if now is None else now
        if not parts[3].isdigit() or now - int(parts[3]) > TOKEN_MAX_AGE:
            raise ProtocolError(ErrorCode.TOKEN_INVALID, "The visitor token has expired.")
        return parts[2]


@dataclass(frozen=True, slots=True)
class StaffSession:
    member: StaffMember
    csrf_token: str


def cookie_value(header: str | None, name: str) -> str | None:
    if not header:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except CookieError:  # a malformed header: treated as no session
        return None
    morsel = jar.get(name)
    return morsel.value if morsel else None


class SessionAuth:
    """The ``Auth`` port: staff by session cookie, customers by site, origin and token."""

    def __init__(self, settings: Settings, store: SqlStore) -> None:
        self.settings = settings
        self.store = store
        self.tokens = CustomerTokens(settings.secret_key)
        self.passwords = PasswordVerifier()

    def own_origins(self, environ: Mapping[str, Any]) -> set[str]:
        """Origins that are this server: the public URL, and in development also the host the
        request was made to (so 127.0.0.1 and localhost both work)."""
        origins = {self.settings.public_origin}
        host = environ.get("HTTP_HOST")
        if self.settings.mode == "development" and host:
            scheme = self.settings.public_origin.split("://", 1)[0]
            origins.add(f"{scheme}://{host}")
        return origins

    def check_own_origin(self, environ: Mapping[str, Any]) -> None:
        """Sockets come from our own pages only (the frame or the console): this is what stops
        a foreign page from opening one (cross-site WebSocket hijacking)."""
        origin = environ.get("HTTP_ORIGIN")
        if origin not in self.own_origins(environ):
            raise ProtocolError(
                ErrorCode.ORIGIN_NOT_ALLOWED, "Connections are accepted from our own pages only."
            )

    async def session(self, token: str | None) -> StaffSession | None:
        if not token:
            return None
        found = await self.store.get_session(token_digest(token), time.time())
        return StaffSession(*found) if found else None

    async def staff_from_environ(self, environ: Mapping[str, Any]) -> StaffMember | None:
        self.check_own_origin(environ)
        found = await self.session(cookie_value(environ.get("HTTP_COOKIE"), SESSION_COOKIE))
        return found.member if found else None

    async def customer_from_auth(
        self, site_key: str, host: str, token: str | None, environ: Mapping[str, Any]
    ) -> CustomerIdentity:
        site = await self.store.get_site(site_key)
        if site is None:
            raise ProtocolError(ErrorCode.SITE_UNKNOWN, "No such site.")
        self.check_own_origin(environ)
        if host not in site.allowed_origins:
            raise ProtocolError(
                ErrorCode.ORIGIN_NOT_ALLOWED, "This site does not allow chat on that page."
            )
        if token:
            visitor_id = self.tokens.verify(token, site.key)
        else:
            visitor_id = secrets.token_hex(16)
            token = self.tokens.mint(site.key, visitor_id)
        return CustomerIdentity(site=site, visitor_id=visitor_id, token=token)

    async def start_session(self, member: StaffMember) -> tuple[str, str]:
        """A new session: (cookie token, csrf token)."""
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(24)
        now = time.time()
        await self.store.create_session(
            token_digest(token), member.id, csrf, now, now + self.settings.session_hours * 3600
        )
        return token, csrf

    async def end_session(self, token: str) -> None:
        await self.store.delete_session(token_digest(token))

    async def end_all_sessions(self, staff_id: int) -> int:
        """Sign one staff member out everywhere; returns how many sessions ended."""
        return await self.store.delete_staff_sessions(staff_id)
