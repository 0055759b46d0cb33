"""The audit trail: who did what to accounts, settings and personal data, and when.

``Audit.record(actor, action, target, details)`` is the one port every part calls (sign-in,
staff and site changes, exports and erasures here; recording consents and API tokens from
their own modules). Actions are a closed catalogue (``AuditAction``, frozen by a test).
Entries are append-only (the table's triggers refuse changes). A person whose data was erased
is named in the log only by a keyed digest (``subject_target``), so the tombstone itself
holds nothing personal and an admin can still find it by typing the same identifier.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from aiohttp import web

from server.net import request_address
from server.store import SqlStore
from server.store_audit import AuditEntry, AuditQuery

log = logging.getLogger(__name__)


class AuditAction(StrEnum):
    """What an entry records. Each line says what ``target`` and ``details`` carry."""

    SIGN_IN = "auth.sign_in"
    """A staff member signed in. Target ``staff:<id>``."""
    SIGN_IN_FAILED = "auth.sign_in_failed"
    """A sign-in was refused (a wrong email or password); the actor is the email tried.
    Details: ``reason``. Refusals while throttled are not recorded one by one."""
    SIGNED_OUT_EVERYWHERE = "auth.signed_out_everywhere"
    """A staff member ended all their sessions. Details: ``sessions``."""
    STAFF_CREATED = "staff.created"
    """A staff account was added. Target ``staff:<id>``; details: ``role``."""
    STAFF_ROLE_CHANGED = "staff.role_changed"
    """A staff member's role changed. Details: ``from``, ``to``."""
    STAFF_INVITED = "staff.invited"
    """A staff member was invited (no password yet). Target ``staff:<id>``; details:
    ``email``, ``role``."""
    STAFF_CHANGED = "staff.changed"
    """An admin changed a staff member's name, languages or capacity. Details: ``changed``."""
    PASSWORD_LINK_SENT = "auth.password_link_sent"  # noqa: S105 - an action name
    """A link to choose a password was emailed (an invitation again, or a reset). Target
    ``staff:<id>``; details: ``purpose``."""
    PASSWORD_CHANGED = "auth.password_changed"  # noqa: S105 - an action name
    """A staff member set a password: their own change, or through an emailed link. Target
    ``staff:<id>``; details: ``via``."""
    PROFILE_CHANGED = "staff.profile_changed"
    """A staff member changed their own profile. Details: ``changed``."""
    STAFF_DISABLED = "staff.disabled"
    """A staff account was disabled."""
    SITE_CREATED = "site.created"
    """A site was added. Target ``site:<key>``."""
    SITE_CHANGED = "site.changed"
    """A site's settings changed. Details: the ``changed`` field names (and new values
    where they are not secret)."""
    SITE_DELETED = "site.deleted"
    """A site was deleted: its widget stopped. Target ``site:<key>``."""
    SETTINGS_CHANGED = "settings.changed"
    """Other settings changed. Details: ``changed``."""
    DATA_EXPORTED = "privacy.exported"
    """A person's data was exported. Target ``subject:<digest>``; details: counts."""
    DATA_ERASED = "privacy.erased"
    """A person's data was erased: the tombstone. Target ``subject:<digest>``; details:
    counts per kind of data removed."""
    RETENTION_PURGED = "privacy.purged"
    """The retention purge deleted a site's old conversations. Target ``site:<key>``;
    details: ``conversations``, ``older_than_days``."""
    RECORDING_CONSENTED = "recording.consented"
    """A customer consented to a call's recording. Target ``call:<id>``."""
    API_TOKEN_CREATED = "api_token.created"  # noqa: S105 - an action name
    """An admin created an API token. Target ``api_token:<id>``; details: ``name``,
    ``scope``."""
    API_TOKEN_REVOKED = "api_token.revoked"  # noqa: S105 - an action name
    """An admin revoked an API token. Target ``api_token:<id>``."""
    API_TOKEN_USED = "api_token.used"  # noqa: S105 - an action name
    """An API token was used. Target ``api_token:<id>``; details: ``route`` and ``status``.
    Recorded at most once a minute per token and route while its calls succeed; every refusal
    is recorded."""


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acted: a staff member (``staff_id``), or a label with no account ("cli",
    "system", the email a failed sign-in tried), from ``address`` when over HTTP."""

    label: str
    staff_id: int | None = None
    address: str | None = None

    @classmethod
    def staff(cls, staff_id: int, email: str, request: web.Request | None = None) -> Actor:
        return cls(email, staff_id, request_address(request) if request else None)

    @classmethod
    def anonymous(cls, label: str, request: web.Request) -> Actor:
        return cls(label, None, request_address(request))


CLI = Actor("cli")
SYSTEM = Actor("system")


class Audit:
    """Records and reads the audit log.

    :param secret_key: keys the digests that name people in the log (``subject_target``).
    """

    def __init__(self, store: SqlStore, secret_key: str) -> None:
        self.store = store
        self._key = hashlib.sha256(("audit-subject|" + secret_key).encode()).digest()

    async def record(
        self,
        actor: Actor,
        action: AuditAction,
        target: str | None = None,
        details: Mapping[str, Any] | None = None,
        at: float | None = None,
    ) -> int:
        """Append one entry; returns its id."""
        entry_id = await self.store.append_audit(
            time.time() if at is None else at,
            actor.staff_id,
            actor.label,
            str(action),
            target,
            details or {},
            actor.address,
        )
        log.info("audit %s", action, extra={"audit_id": entry_id, "target_kind": _kind(target)})
        return entry_id

    def subject_target(self, kind: str, value: str) -> str:
        """``subject:<digest>`` for a person's identifier (a site and visitor id, an
        email): the same for the same person, reversible by no one without the key."""
        mac = hmac.new(self._key, f"{kind}|{value}".encode(), hashlib.sha256).hexdigest()
        return f"subject:{mac[:32]}"

    async def entries(self, query: AuditQuery, limit: int) -> list[AuditEntry]:
        return await self.store.list_audit(query, limit)

    async def entries_for(self, target: str, action: AuditAction) -> list[AuditEntry]:
        """Every entry of ``action`` on ``target``, oldest first."""
        found: list[AuditEntry] = []
        query = AuditQuery(action=str(action), target=target)
        while page := await self.store.list_audit(query, 500):
            found += page
            query = AuditQuery(action=str(action), target=target, before_id=page[-1].id)
        return found[::-1]


def _kind(target: str | None) -> str | None:
    return target.split(":", 1)[0] if target else None


AUDIT = web.AppKey("audit", Audit)
