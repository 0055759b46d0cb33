"""Staff administration in SQL: editing staff, invitations and password-reset links. The
``staff_links`` half of ``SqlStore``; sign-in and sessions are in ``server.accounts``.

A link is stored as the SHA-256 of its token. Using one is a single compare-and-set
(``used_at IS NULL AND expires_at > now``) in the same transaction as the new password, so
a link works once even if it is opened in two tabs at the same moment.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.exc import IntegrityError

from server.accounts import DuplicateError
from server.store_mail import Email, insert_email
from server.tables import staff, staff_links
from signaling.ports import Role

T = TypeVar("T")
Purpose = Literal["invite", "reset"]
# A password hash that no password matches: an invited member who has not chosen one yet.
NO_PASSWORD = ""


class LastAdmin(Exception):
    """The change would leave the team without an admin who can sign in."""


@dataclass(frozen=True, slots=True)
class StaffProfile:
    """A staff member as their admin and they themselves see them. ``invited``: they have
    not chosen a password yet."""

    id: int
    email: str
    name: str
    role: Role
    languages: tuple[str, ...]
    max_chats: int
    max_calls: int
    console_language: str
    invited: bool
    active: bool


_PROFILE = (
    staff.c.id,
    staff.c.email,
    staff.c.name,
    staff.c.role,
    staff.c.languages,
    staff.c.max_chats,
    staff.c.max_calls,
    staff.c.console_language,
    (staff.c.password_hash == NO_PASSWORD).label("invited"),
    staff.c.active,
)


def _profile(row: RowMapping) -> StaffProfile:
    return StaffProfile(
        id=row["id"],
        email=row["email"],
        name=row["name"],
        role=row["role"],
        languages=tuple(json.loads(row["languages"] or "[]")),
        max_chats=row["max_chats"],
        max_calls=row["max_calls"],
        console_language=row["console_language"],
        invited=bool(row["invited"]),
        active=bool(row["active"]),
    )


def _admins_left(conn: Connection, staff_id: int) -> int:
    """Admins other than ``staff_id`` who are active and can sign in."""
    return int(
        conn.scalar(
            sa.select(sa.func.count()).where(
                staff.c.role == "admin",
                staff.c.active.is_(True),
                staff.c.password_hash != NO_PASSWORD,
                staff.c.id != staff_id,
            )
        )
        or 0
    )


class StaffStore:
    """Staff profiles and their links; each method is one transaction."""

    async def _run(self, work: Callable[[Connection], T]) -> T:
        raise NotImplementedError

    async def staff_profiles(self, after: int = 0, limit: int | None = None) -> list[StaffProfile]:
        """Staff members with ``id > after``, oldest first, at most ``limit`` (all if None)."""
        statement = sa.select(*_PROFILE).where(staff.c.id > after).order_by(staff.c.id).limit(limit)
        rows = await self._run(lambda conn: conn.execute(statement).all())
        return [_profile(row._mapping) for row in rows]

    async def staff_profile(self, staff_id: int) -> StaffProfile | None:
        statement = sa.select(*_PROFILE).where(staff.c.id == staff_id)
        row = await self._run(lambda conn: conn.execute(statement).first())
        return _profile(row._mapping) if row is not None else None

    async def invite_staff(
        self,
        email: str,
        name: str,
        role: Role,
        languages: Iterable[str],
        max_chats: int,
        max_calls: int,
        link: tuple[str, float, float],
        email_out: Email,
    ) -> StaffProfile:
        """Add a staff member who has no password yet, their invitation link
        ``(token_hash, now, expires_at)`` and the email that carries it, all or nothing.
        Raises ``DuplicateError`` if the email is taken."""
        token_hash, now, expires_at = link

        def work(conn: Connection) -> StaffProfile:
            staff_id = conn.scalar(
                sa.insert(staff)
                .values(
                    email=email.strip().lower(),
                    name=name,
                    role=role,
                    password_hash=NO_PASSWORD,
                    languages=json.dumps(list(languages)),
                    max_chats=max_chats,
                    max_calls=max_calls,
                    active=True,
                    created_at=now,
                )
                .returning(staff.c.id)
            )
            assert staff_id is not None
            _insert_link(conn, token_hash, staff_id, "invite", now, expires_at)
            insert_email(conn, email_out, now)
            row = conn.execute(sa.select(*_PROFILE).where(staff.c.id == staff_id)).one()
            conn.commit()
            return _profile(row._mapping)

        try:
            return await self._run(work)
        except IntegrityError as error:
            raise DuplicateError("a staff member with this email exists") from error

    async def update_staff(self, staff_id: int, **values: Any) -> StaffProfile | None:
        """Change the given columns (name, role, languages, max_chats, max_calls,
        console_language). None if no such member; ``LastAdmin`` if this would demote the
        last admin."""
        if "languages" in values:
            values["languages"] = json.dumps(list(values["languages"]))

        def work(conn: Connection) -> StaffProfile | None:
            current = conn.execute(
                sa.select(staff.c.role).where(staff.c.id == staff_id).with_for_update()
            ).first()
            if current is None:
                conn.rollback()
                return None
            demoted = current.role == "admin" and values.get("role", "admin") != "admin"
            if demoted and _admins_left(conn, staff_id) == 0:
                conn.rollback()
                raise LastAdmin
            if values:
                conn.execute(sa.update(staff).where(staff.c.id == staff_id).values(values))
            row = conn.execute(sa.select(*_PROFILE).where(staff.c.id == staff_id)).one()
            conn.commit()
            return _profile(row._mapping)

        return await self._run(work)

    async def password_hash(self, staff_id: int) -> str | None:
        statement = sa.select(staff.c.password_hash).where(staff.c.id == staff_id)
        return await self._run(lambda conn: conn.scalar(statement))

    async def add_link(
        self,
        token_hash: str,
        staff_id: int,
        purpose: Purpose,
        expiry: tuple[float, float],
        email_out: Email,
    ) -> None:
        """A new link for ``staff_id`` (``expiry``: now, expires_at) and the email that
        carries it; their earlier unused links of this purpose stop working (only the newest
        email's link does)."""
        now, expires_at = expiry

        def work(conn: Connection) -> None:
            _insert_link(conn, token_hash, staff_id, purpose, now, expires_at)
            insert_email(conn, email_out, now)
            conn.commit()

        await self._run(work)

    async def link_holder(self, token_hash: str, now: float) -> tuple[StaffProfile, Purpose] | None:
        """Whose link this is and what for, while it is unused and unexpired."""
        statement = (
            sa.select(*_PROFILE, staff_links.c.purpose)
            .join_from(staff_links, staff, staff.c.id == staff_links.c.staff_id)
            .where(
                staff_links.c.token_hash == token_hash,
                staff_links.c.used_at.is_(None),
                staff_links.c.expires_at > now,
                staff.c.active.is_(True),
            )
        )
        row = await self._run(lambda conn: conn.execute(statement).first())
        if row is None:
            return None
        return _profile(row._mapping), row.purpose

    async def use_link(
        self, token_hash: str, now: float, password_hash: str
    ) -> tuple[StaffProfile, Purpose] | None:
        """Spend the link and set the holder's password, in one transaction. None if the
        link is unknown, used or expired (nothing changes then)."""

        def work(conn: Connection) -> tuple[StaffProfile, Purpose] | None:
            spent = conn.execute(
                sa.update(staff_links)
                .where(
                    staff_links.c.token_hash == token_hash,
                    staff_links.c.used_at.is_(None),
                    staff_links.c.expires_at > now,
                )
                .values(used_at=now)
                .returning(staff_links.c.staff_id, staff_links.c.purpose)
            ).first()
            if spent is None:
                conn.rollback()
                return None
            changed = conn.execute(
                sa.update(staff)
                .where(staff.c.id == spent.staff_id, staff.c.active.is_(True))
                .values(password_hash=password_hash)
            ).rowcount
            if changed == 0:  # disabled since the link was sent
                conn.rollback()
                return None
            row = conn.execute(sa.select(*_PROFILE).where(staff.c.id == spent.staff_id)).one()
            conn.commit()
            return _profile(row._mapping), spent.purpose

        return await self._run(work)


def _insert_link(
    conn: Connection,
    token_hash: str,
    staff_id: int,
    purpose: Purpose,
    now: float,
    expires_at: float,
) -> None:
    # Superseded links count as used: only the newest email's link works.
    conn.execute(
        sa.update(staff_links)
        .where(
            staff_links.c.staff_id == staff_id,
            staff_links.c.purpose == purpose,
            staff_links.c.used_at.is_(None),
        )
        .values(used_at=now)
    )
    conn.execute(
        sa.insert(staff_links).values(
            token_hash=token_hash,
            staff_id=staff_id,
            purpose=purpose,
            created_at=now,
            expires_at=expires_at,
        )
    )
