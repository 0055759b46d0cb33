"""Sites, staff and staff sessions in SQL: the account half of ``SqlStore``.

``Accounts`` is a base class: each method describes its transaction as a plain function of a
SQLAlchemy ``Connection`` and hands it to ``_run``, which ``server.store.SqlStore`` provides
(along with the conversation and message half and the database's life cycle).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.exc import IntegrityError

from server.site_settings import SiteFields
from server.tables import sites, staff, staff_sessions
from signaling.ports import Role, ShiftPolicy, Site, StaffMember

T = TypeVar("T")


class DuplicateError(Exception):
    """A row with this unique value (a staff email, a site key) exists already."""


def _json_list(values: Iterable[str]) -> str:
    return json.dumps(list(values), separators=(",", ":"))


def _tuple(text: str | None) -> tuple[str, ...]:
    return tuple(json.loads(text)) if text else ()


def _site_values(fields: dict[str, Any]) -> dict[str, Any]:
    unknown = set(fields) - SITE_FIELDS
    if unknown:
        raise TypeError(f"not site settings: {sorted(unknown)}")
    return {k: _json_list(v) if k in _LISTS else v for k, v in fields.items()}


def shift_from_text(text: str | None) -> ShiftPolicy:
    """A site's stored shift rules (NULL: the defaults)."""
    if not text:
        return ShiftPolicy()
    values = json.loads(text)
    values["outcome_tags"] = tuple(values.get("outcome_tags", ()))
    return ShiftPolicy(**values)


def shift_to_text(policy: ShiftPolicy) -> str:
    values = dataclasses.asdict(policy)
    values["outcome_tags"] = list(policy.outcome_tags)
    return json.dumps(values, separators=(",", ":"))


def site_from_row(row: RowMapping) -> Site:
    return Site(
        id=row["id"],
        key=row["key"],
        name=row["name"],
        allowed_origins=_tuple(row["allowed_origins"]),
        greeting=row["greeting"],
        relay_only=bool(row["relay_only"]),
        retention_days=row["retention_days"],
        channels=_tuple(row["channels"]),
        brand_color=row["brand_color"],
        launcher_position=row["launcher_position"],
        launcher_text=row["launcher_text"],
        show_staff=bool(row["show_staff"]),
        seen_origin=row["seen_origin"],
        seen_at=row["seen_at"],
        shift=shift_from_text(row["shift"]),
    )


def staff_from_row(row: RowMapping) -> StaffMember:
    return StaffMember(
        id=row["id"],
        email=row["email"],
        name=row["name"],
        role=row["role"],
        languages=_tuple(row["languages"]),
        max_chats=row["max_chats"],
    )


_SITE = (
    sites.c.id,
    sites.c.key,
    sites.c.name,
    sites.c.allowed_origins,
    sites.c.greeting,
    sites.c.relay_only,
    sites.c.retention_days,
    sites.c.channels,
    sites.c.brand_color,
    sites.c.launcher_position,
    sites.c.launcher_text,
    sites.c.show_staff,
    sites.c.seen_origin,
    sites.c.seen_at,
    sites.c.shift,
)
# What a site owner may change (server.site_settings validates it); lists are stored as JSON.
SITE_FIELDS = frozenset(SiteFields.model_fields)
_LISTS = {"allowed_origins", "channels"}
_STAFF = (
    staff.c.id,
    staff.c.email,
    staff.c.name,
    staff.c.role,
    staff.c.languages,
    staff.c.max_chats,
)
# Built once: these run on every socket connect and every staff event.
_GET_SITE = sa.select(*_SITE).where(
    sites.c.key == sa.bindparam("site_key"), sites.c.deleted_at.is_(None)
)
_GET_STAFF = sa.select(*_STAFF).where(staff.c.id == sa.bindparam("id"))
_GET_SESSION = (
    sa.select(*_STAFF, staff_sessions.c.csrf_token)
    .join_from(staff_sessions, staff, staff.c.id == staff_sessions.c.staff_id)
    .where(
        staff_sessions.c.token_hash == sa.bindparam("token_hash"),
        staff_sessions.c.expires_at > sa.bindparam("now"),
        staff.c.active.is_(True),
    )
)


SITE_TTL = 5.0
SITE_CACHE_SIZE = 10_000


class Accounts:
    """Sites, staff members and their sign-in sessions. Each method is one transaction."""

    # Site keys never change, so a conversation's ``site_key`` can come from here instead of
    # a join on every read.
    _site_keys: dict[int, str]
    # Every customer connect, frame and pre-call check looks its site up: a few seconds'
    # cache keeps that off the database (a reconnect storm would queue on the pool). A change
    # made on this node drops the entry at once; other nodes see it within SITE_TTL.
    _sites: dict[str, tuple[float, Site]]

    async def _run(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` on a connection of its own; ``work`` commits what it writes."""
        raise NotImplementedError

    # -- sites ---------------------------------------------------------------------------

    async def get_site(self, key: str) -> Site | None:
        """The site with this public key (at most ``SITE_TTL`` seconds old)."""
        now = time.monotonic()
        cached = self._sites.get(key)
        if cached is not None and now - cached[0] < SITE_TTL:
            return cached[1]
        params = {"site_key": key}
        row = await self._run(lambda conn: conn.execute(_GET_SITE, params).first())
        if row is None:
            self._sites.pop(key, None)
            return None
        self._site_keys[row.id] = row.key
        site = site_from_row(row._mapping)
        if len(self._sites) >= SITE_CACHE_SIZE:
            self._sites.clear()
        self._sites[key] = (now, site)
        return site

    async def set_shift(self, key: str, policy: ShiftPolicy) -> Site | None:
        """Store a site's shift rules; None if there is no such site. Other nodes see them
        within ``SITE_TTL``."""
        statement = sa.update(sites).where(sites.c.key == key).values(shift=shift_to_text(policy))

        def work(conn: Connection) -> int:
            changed = conn.execute(statement).rowcount
            conn.commit()
            return int(changed)

        self._sites.pop(key, None)
        if not await self._run(work):
            return None
        return await self.get_site(key)

    async def site_key(self, site_id: int) -> str:
        """The public key of the site with this id (cached). Raises ``KeyError`` if none."""
        key = self._site_keys.get(site_id)
        if key is None:
            statement = sa.select(sites.c.key).where(sites.c.id == site_id)
            key = await self._run(lambda conn: conn.scalar(statement))
            if key is None:
                raise KeyError(site_id)
            self._site_keys[site_id] = key
        return key

    async def list_sites(self, after: int = 0, limit: int | None = None) -> list[Site]:
        """Sites not deleted with ``id > after``, oldest first, at most ``limit`` (all if None)."""
        statement = (
            sa.select(*_SITE)
            .where(sites.c.deleted_at.is_(None), sites.c.id > after)
            .order_by(sites.c.id)
            .limit(limit)
        )
        rows = await self._run(lambda conn: conn.execute(statement).all())
        for row in rows:
            self._site_keys[row.id] = row.key
        return [site_from_row(row._mapping) for row in rows]

    async def create_site(
        self,
        key: str,
        name: str,
        allowed_origins: Iterable[str],
        greeting: str,
        secret: str,
        relay_only: bool = False,
        **look: Any,
    ) -> Site:
        """Add a site. ``secret`` signs the host site's identity claims; it is never returned
        here. ``look`` holds any other of ``SITE_FIELDS``. Raises ``DuplicateError`` if the
        key is taken."""
        statement = (
            sa.insert(sites)
            .values(
                key=key,
                secret=secret,
                created_at=time.time(),
                **_site_values(
                    {
                        "name": name,
                        "allowed_origins": allowed_origins,
                        "greeting": greeting,
                        "relay_only": relay_only,
                        **look,
                    }
                ),
            )
            .returning(*_SITE)
        )
        try:
            row = await self._run(lambda conn: commit(conn, conn.execute(statement).one()))
        except IntegrityError as error:
            raise DuplicateError("a site with this key exists") from error
        self._site_keys[row.id] = row.key
        return site_from_row(row._mapping)

    async def update_site(self, key: str, **changes: Any) -> Site | None:
        """Change any of ``SITE_FIELDS``; a field given as ``None`` stays as it is. None if
        no such site (or it was deleted)."""
        values = _site_values({k: v for k, v in changes.items() if v is not None})
        if not values:
            return await self.get_site(key)
        statement = (
            sa.update(sites)
            .where(sites.c.key == key, sites.c.deleted_at.is_(None))
            .values(values)
            .returning(*_SITE)
        )
        row = await self._run(lambda conn: commit(conn, conn.execute(statement).first()))
        self._sites.pop(key, None)
        return site_from_row(row._mapping) if row is not None else None

    async def delete_site(self, key: str) -> bool:
        """Stop serving a site at once on this node (other nodes within ``SITE_TTL``): its
        widget, frame and sockets are refused; its key is never reused. False if none."""
        statement = (
            sa.update(sites)
            .where(sites.c.key == key, sites.c.deleted_at.is_(None))
            .values(deleted_at=time.time())
        )
        result = await self._run(lambda conn: commit(conn, conn.execute(statement)))
        self._sites.pop(key, None)
        return bool(result.rowcount)

    async def site_seen(self, key: str, origin: str, at: float) -> None:
        """Record that the snippet ran on ``origin`` (the install check)."""
        statement = (
            sa.update(sites).where(sites.c.key == key).values(seen_origin=origin, seen_at=at)
        )
        await self._run(lambda conn: commit(conn, conn.execute(statement)))
        self._sites.pop(key, None)

    async def set_retention(self, key: str, days: int | None) -> Site | None:
        """Keep this site's ended conversations ``days`` days (None: forever). None if no
        such site."""
        statement = (
            sa.update(sites)
            .where(sites.c.key == key, sites.c.deleted_at.is_(None))
            .values(retention_days=days)
            .returning(*_SITE)
        )
        row = await self._run(lambda conn: commit(conn, conn.execute(statement).first()))
        self._sites.pop(key, None)
        return site_from_row(row._mapping) if row is not None else None

    # -- staff ---------------------------------------------------------------------------

    async def get_staff(self, staff_id: int) -> StaffMember | None:
        """A staff member by id (deactivated ones too: they still author old messages)."""
        row = await self._run(lambda conn: conn.execute(_GET_STAFF, {"id": staff_id}).first())
        return staff_from_row(row._mapping) if row is not None else None

    async def list_staff(self, after: int = 0, limit: int | None = None) -> list[StaffMember]:
        """Staff members with ``id > after``, oldest first, at most ``limit`` (all if None)."""
        statement = sa.select(*_STAFF).where(staff.c.id > after).order_by(staff.c.id).limit(limit)
        rows = await self._run(lambda conn: conn.execute(statement).all())
        return [staff_from_row(row._mapping) for row in rows]

    async def create_staff(
        self,
        email: str,
        name: str,
        role: Role,
        password_hash: str,
        languages: Iterable[str] = (),
        max_chats: int = 3,
    ) -> StaffMember:
        """Add a staff member (email stored lowercased). Raises ``DuplicateError`` if the
        email is taken."""
        statement = (
            sa.insert(staff)
            .values(
                email=email.strip().lower(),
                name=name,
                role=role,
                password_hash=password_hash,
                languages=_json_list(languages),
                max_chats=max_chats,
                active=True,
                created_at=time.time(),
            )
            .returning(*_STAFF)
        )
        try:
            row = await self._run(lambda conn: commit(conn, conn.execute(statement).one()))
        except IntegrityError as error:
            raise DuplicateError("a staff member with this email exists") from error
        return staff_from_row(row._mapping)

    async def staff_credentials(self, email: str) -> tuple[StaffMember, str] | None:
        """An active staff member and their password hash, for signing in."""
        statement = sa.select(*_STAFF, staff.c.password_hash).where(
            staff.c.email == email.strip().lower(), staff.c.active.is_(True)
        )
        row = await self._run(lambda conn: conn.execute(statement).first())
        if row is None:
            return None
        return staff_from_row(row._mapping), row.password_hash

    async def set_password_hash(self, staff_id: int, password_hash: str) -> bool:
        """Replace a staff member's password hash (e.g. after a rehash). False if no such
        member."""
        statement = (
            sa.update(staff).where(staff.c.id == staff_id).values(password_hash=password_hash)
        )
        count = await self._run(lambda conn: commit(conn, conn.execute(statement).rowcount))
        return count > 0

    # -- sessions ------------------------------------------------------------------------

    async def create_session(
        self, token_hash: str, staff_id: int, csrf_token: str, now: float, expires_at: float
    ) -> None:
        """Store a sign-in session under the digest of its cookie token."""
        statement = sa.insert(staff_sessions).values(
            token_hash=token_hash,
            staff_id=staff_id,
            csrf_token=csrf_token,
            created_at=now,
            expires_at=expires_at,
        )
        await self._run(lambda conn: commit(conn, conn.execute(statement)))

    async def get_session(self, token_hash: str, now: float) -> tuple[StaffMember, str] | None:
        """The active staff member behind a session and its CSRF token; None if the session
        is unknown, expired, or its member deactivated."""
        params = {"token_hash": token_hash, "now": now}
        row = await self._run(lambda conn: conn.execute(_GET_SESSION, params).first())
        if row is None:
            return None
        return staff_from_row(row._mapping), row.csrf_token

    async def delete_session(self, token_hash: str) -> None:
        """Sign a session out."""
        statement = sa.delete(staff_sessions).where(staff_sessions.c.token_hash == token_hash)
        await self._run(lambda conn: commit(conn, conn.execute(statement)))

    async def delete_staff_sessions(self, staff_id: int) -> int:
        """Sign every session of one staff member out; returns how many there were."""
        statement = sa.delete(staff_sessions).where(staff_sessions.c.staff_id == staff_id)
        return await self._run(lambda conn: commit(conn, conn.execute(statement).rowcount))

    async def purge_sessions(self, now: float) -> int:
        """Delete expired sessions; returns how many."""
        statement = sa.delete(staff_sessions).where(staff_sessions.c.expires_at <= now)
        return await self._run(lambda conn: commit(conn, conn.execute(statement).rowcount))


def commit(conn: Connection, result: T) -> T:
    """Commit ``conn``'s transaction and pass ``result`` through (for one-line writes)."""
    conn.commit()
    return result
