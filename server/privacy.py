"""A person's data: export (everything, as JSON), erasure (a tombstone stays in the audit
log) and the retention purge per site.

A person is a ``Subject``: a visitor of a site (the id in their widget token), found directly
or through one of their conversations. The core's data is the store's (conversations,
messages, events, calls); other stores of personal data (attachments, recordings, forms)
plug in as ``PersonalData`` sources, which every export, erasure and purge calls with the
conversations concerned, before the core's rows change.

The purge runs on one node of a fleet at a time (a claim in ``job_claims``, taken by
compare-and-set and lapsing if its node dies), in batches of one transaction each: a crash
leaves each batch done or untouched, and the next run finishes the work. Nothing is logged
or purged twice.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from aiohttp import web

from server.audit import SYSTEM, Actor, Audit, AuditAction
from server.store import SqlStore
from signaling.sweeper import Sweeper

log = logging.getLogger(__name__)

EXPORT_FORMAT = "porchlight.export/1"
PURGE_BATCH = 500
PURGE_JOB = "retention"
DAY = 86_400.0


class PersonalData(Protocol):
    """Another store of personal data, keyed by conversation (attachments, recordings,
    form answers). ``name`` is its key in an export."""

    name: str

    async def export(self, conversation_ids: Sequence[str]) -> list[dict[str, Any]]: ...

    async def erase(self, conversation_ids: Sequence[str]) -> int:
        """Remove everything held for these conversations; returns how many items."""
        ...


@dataclass(frozen=True, slots=True)
class Subject:
    """A visitor of one site."""

    site_key: str
    visitor_id: str

    def describe(self) -> dict[str, str]:
        return {"kind": "visitor", "site": self.site_key, "visitor_id": self.visitor_id}


class SubjectBusy(Exception):
    """The person has a conversation that has not ended: it cannot be erased while it
    runs."""


class UnknownSite(Exception):
    """No site has this key."""


@dataclass
class Privacy:
    """Export and erasure of one person's data; the retention purge of every site."""

    store: SqlStore
    audit: Audit
    sources: list[PersonalData] = field(default_factory=list)

    async def subject_of_conversation(self, conversation_id: str) -> Subject | None:
        """The visitor behind a conversation, as an admin finds them in the console."""
        conversation = await self.store.get_conversation(conversation_id)
        if conversation is None:
            return None
        return Subject(conversation.site_key, conversation.visitor_id)

    async def _conversations(self, subject: Subject) -> list[tuple[str, str]]:
        site = await self.store.get_site(subject.site_key)
        if site is None:
            raise UnknownSite(subject.site_key)
        return await self.store.visitor_conversations(site.id, subject.visitor_id)

    def target(self, subject: Subject) -> str:
        return self.audit.subject_target("visitor", f"{subject.site_key}|{subject.visitor_id}")

    async def export(self, actor: Actor, subject: Subject) -> dict[str, Any]:
        """Everything held about ``subject``, and the erasures already done for them."""
        ids = [cid for cid, _ in await self._conversations(subject)]
        target = self.target(subject)
        erasures = await self.audit.entries_for(target, AuditAction.DATA_ERASED)
        document: dict[str, Any] = {
            "format": EXPORT_FORMAT,
            "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "subject": subject.describe(),
            "conversations": await self.store.export_conversations(ids),
            "erasures": [
                {"at": datetime.fromtimestamp(e.at, UTC).isoformat(), **e.details} for e in erasures
            ],
        }
        for source in self.sources:
            document[source.name] = await source.export(ids)
        await self.audit.record(
            actor, AuditAction.DATA_EXPORTED, target, {"conversations": len(ids)}
        )
        return document

    async def erase(self, actor: Actor, subject: Subject) -> dict[str, int]:
        """Remove ``subject``'s messages, identity and page data, and whatever the sources
        hold; the conversations stay as anonymous rows. Leaves the tombstone (an audit
        entry with the counts) and returns the counts. Raises ``SubjectBusy`` while one of
        their conversations has not ended."""
        found = await self._conversations(subject)
        if any(status != "ended" for _, status in found):
            raise SubjectBusy(subject)
        ids = [cid for cid, _ in found]
        counts: dict[str, int] = {}
        for source in self.sources:
            counts[source.name] = await source.erase(ids)
        # Not a visitor id any token can carry: the rows belong to no one any more.
        erased = await self.store.erase_conversations(ids, f"erased-{secrets.token_hex(8)}")
        counts.update(conversations=erased.conversations, messages=erased.messages)
        await self.audit.record(actor, AuditAction.DATA_ERASED, self.target(subject), counts)
        log.info("personal data erased", extra={"conversations": erased.conversations})
        return counts

    async def purge(self, now: float | None = None, actor: Actor = SYSTEM) -> dict[str, int]:
        """Delete every site's ended conversations older than its retention period; returns
        how many per site key (sites with nothing to delete are left out)."""
        now = time.time() if now is None else now
        purged: dict[str, int] = {}
        for site_id, key, days in await self.store.sites_with_retention():
            cutoff = now - days * DAY
            total = 0
            while ids := await self.store.expired_conversations(site_id, cutoff, PURGE_BATCH):
                for source in self.sources:
                    await source.erase(ids)
                total += (await self.store.delete_conversations(ids, cutoff)).conversations
            if total:
                purged[key] = total
                await self.audit.record(
                    actor,
                    AuditAction.RETENTION_PURGED,
                    f"site:{key}",
                    {"conversations": total, "older_than_days": days},
                )
        return purged


class RetentionSchedule:
    """Runs ``Privacy.purge`` every ``every`` seconds on whichever node claims it first.

    :param lease: how long a claim lasts; a node that dies mid-purge holds the job this
        long at most, then another node runs it again (the purge is safe to rerun).
    """

    def __init__(self, privacy: Privacy, node_id: str, every: float, lease: float = 900.0) -> None:
        self.privacy = privacy
        self.node_id = node_id
        self.every = every
        self.lease = lease
        # The claim is checked about once a minute: cheap, and a due purge waits at most that.
        self._sweeper = Sweeper(self.tick, every=min(60.0, every))

    async def tick(self) -> None:
        store = self.privacy.store
        now = time.time()
        if not await store.claim_job(PURGE_JOB, self.node_id, now, self.every, self.lease):
            return
        purged = await self.privacy.purge(now)
        await store.finish_job(PURGE_JOB, self.node_id, time.time())
        if purged:
            log.info("retention purge deleted %d conversations", sum(purged.values()))

    def start(self) -> None:
        self._sweeper.start()

    async def stop(self) -> None:
        await self._sweeper.stop()


PRIVACY = web.AppKey("privacy", Privacy)
