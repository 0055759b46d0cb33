"""The soak's account: what the database holds against what the clients were told and what
they hold (bench/soak.py)."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from typing import Any

import asyncpg
from soak_fleet import Fleet, settle
from soak_link import Acked, View
from soak_services import Postgres

DB_RETRIES = 20

# -- the database's account -----------------------------------------------------------------


@dataclass
class Stored:
    """The database as the bench reads it: every message, by conversation and seq; each
    conversation's (status, assignee); the staff members with a console socket on record."""

    messages: list[asyncpg.Record]
    conversations: dict[str, tuple[str, int | None]]
    socket_staff: set[int]


@dataclass
class Tally:
    """What the database holds against what the clients were told."""

    acknowledged: int
    stored: int
    lost: list[str]  # acknowledged, not stored as acknowledged
    duplicated: list[str]  # a client_msg_id or body in more than one row
    stored_unacknowledged: int  # stored, its acknowledgement still to come (or lost)
    gaps: list[str]  # conversations whose seqs are not 1..n
    requeued: int  # "requeued" system messages: a staff member's grace ran out
    forgotten: list[str]  # consoles connected and synced that the fleet counts as gone

    def line(self) -> dict[str, int]:
        return {
            "acked": self.acknowledged,
            "stored": self.stored,
            "lost": len(self.lost),
            "dup": len(self.duplicated),
            "requeued": self.requeued,
            "forgotten": len(self.forgotten),
        }


async def read_stored(postgres: Postgres, database: str) -> Stored:
    """Read the database (retried while PostgreSQL comes back)."""
    for attempt in range(DB_RETRIES):
        try:
            connection = await asyncpg.connect(postgres.dsn(database), timeout=5)
            try:
                messages = await connection.fetch(
                    "SELECT conversation_id, seq, client_msg_id, sender, kind, body"
                    " FROM messages ORDER BY conversation_id, seq"
                )
                conversations = await connection.fetch(
                    "SELECT id, status, assignee_id FROM conversations"
                )
                sockets = await connection.fetch("SELECT DISTINCT staff_id FROM staff_sockets")
            finally:
                await connection.close()
            return Stored(
                list(messages),
                {row["id"]: (row["status"], row["assignee_id"]) for row in conversations},
                {row["staff_id"] for row in sockets},
            )
        except (OSError, asyncpg.PostgresError, TimeoutError):
            if attempt == DB_RETRIES - 1:
                raise
            await asyncio.sleep(1.0)
    raise AssertionError("unreachable")


async def check(fleet: Fleet) -> Tally:
    """Read the database and hold it against what was acknowledged before the read began
    (a message acknowledged during the read may be missing from what it saw)."""
    acked = dict(fleet.journal.acked)
    return tally(fleet, await read_stored(fleet.postgres, fleet.database), acked)


def tally(fleet: Fleet, stored: Stored, acked: dict[str, Acked]) -> Tally:
    journal = fleet.journal
    rows = stored.messages
    ours = [row for row in rows if row["client_msg_id"] in journal.sent]
    by_id: dict[str, list[asyncpg.Record]] = {}
    for row in ours:
        by_id.setdefault(row["client_msg_id"], []).append(row)
    bodies = Counter(row["body"] for row in ours)
    lost = []
    for client_msg_id, ack in acked.items():
        found = by_id.get(client_msg_id, [])
        if not any(
            (r["conversation_id"], r["seq"], r["body"]) == (ack.conversation_id, ack.seq, ack.body)
            for r in found
        ):
            lost.append(client_msg_id)
    duplicated = sorted(
        {cid for cid, found in by_id.items() if len(found) > 1}
        | {body.split(" ")[0] for body, n in bodies.items() if n > 1}
    )
    gaps = []
    seqs: dict[str, list[int]] = {}
    for row in rows:
        seqs.setdefault(row["conversation_id"], []).append(row["seq"])
    for conversation_id, found in seqs.items():
        if found != list(range(1, len(found) + 1)):
            gaps.append(conversation_id)
    return Tally(
        acknowledged=len(acked),
        stored=len(ours),
        lost=lost,
        duplicated=duplicated,
        stored_unacknowledged=sum(1 for cid in by_id if cid not in acked),
        gaps=gaps,
        requeued=sum(1 for r in rows if r["kind"] == "system" and r["body"] == "requeued"),
        forgotten=[
            console.name
            for console in fleet.consoles
            if console.connected and console.ready and console.staff_id not in stored.socket_staff
        ],
    )


def compare(view: View, stored: dict[int, tuple[str | None, str, str]]) -> tuple[int, int]:
    """(stored messages missing from the view, seqs whose content differs)."""
    missing = sum(1 for seq in stored if seq not in view.messages)
    differ = sum(
        1
        for seq, seen in view.messages.items()
        if seq in stored and (seen.client_msg_id, seen.sender, seen.body) != stored[seq]
    )
    return missing, differ


def twice(view: View) -> int:
    """client_msg_ids held at more than one seq."""
    ids = Counter(seen.client_msg_id for seen in view.messages.values() if seen.client_msg_id)
    return sum(1 for n in ids.values() if n > 1)


def holdings(fleet: Fleet) -> dict[tuple[str, str], dict[int, Any]]:
    """A copy of what every client holds: (client, conversation) → seq → message."""
    views = {(c.name, c.conversation_id or ""): dict(c.view.messages) for c in fleet.customers}
    for console in fleet.consoles:
        for conversation_id, view in console.views.items():
            views[(console.name, conversation_id)] = dict(view.messages)
    return views


async def finish(fleet: Fleet) -> dict[str, Any]:
    """Flush, catch up, replay from 0, and account for every message."""
    p = fleet.params
    flushed = await settle(lambda: all(not c.outbox for c in fleet.customers), p.flush_timeout)
    for console in fleet.consoles:
        console.replying = False
    flushed = (
        await settle(lambda: all(not s.outbox for s in fleet.consoles), p.flush_timeout) and flushed
    )
    await asyncio.sleep(3.0)  # the last hints
    held_before = holdings(fleet)
    await settle(lambda: all(link.ready for link in fleet.links), p.recover_timeout)
    for customer in fleet.customers:
        await customer.catch_up.run()
    for console in fleet.consoles:
        for conversation_id in sorted(console.mine):
            await console.catch_up(conversation_id)
    late = [
        (who, conversation_id, seq, seen.sender)
        for (who, conversation_id), view in holdings(fleet).items()
        for seq, seen in view.items()
        if seq not in held_before.get((who, conversation_id), {})
    ]
    acked = dict(fleet.journal.acked)
    database = await read_stored(fleet.postgres, fleet.database)
    rows = database.messages
    account = tally(fleet, database, acked)
    stored: dict[str, dict[int, tuple[str | None, str, str]]] = {}
    for row in rows:
        stored.setdefault(row["conversation_id"], {})[row["seq"]] = (
            row["client_msg_id"],
            row["sender"],
            row["body"],
        )
    assignees = database.conversations
    consoles = {console.staff_id: console for console in fleet.consoles}
    unseen = differ = conflicts = at_two_seqs = replay_wrong = 0
    unchecked_staff = 0
    for customer in fleet.customers:
        assert customer.conversation_id is not None
        held = stored.get(customer.conversation_id, {})
        missing, wrong = compare(customer.view, held)
        unseen += missing
        differ += wrong
        conflicts += len(customer.view.conflicts)
        at_two_seqs += twice(customer.view)
        replayed = await customer.replay_all()
        if {s: (m.client_msg_id, m.sender, m.body) for s, m in replayed.messages.items()} != held:
            replay_wrong += 1
        status, assignee = assignees.get(customer.conversation_id, ("?", None))
        handler = consoles.get(assignee) if assignee is not None else None
        if status != "active" or handler is None:
            unchecked_staff += 1
            continue
        view = handler.views.get(customer.conversation_id, View())
        missing, wrong = compare(view, held)
        unseen += missing
        differ += wrong
    for console in fleet.consoles:
        for view in console.views.values():
            conflicts += len(view.conflicts)
            at_two_seqs += twice(view)
    journal = fleet.journal
    never_acked = [
        cid for cid in journal.sent if cid not in journal.acked and cid not in journal.refused
    ]
    refused_stored = [
        cid for cid in journal.refused if any(r["client_msg_id"] == cid for r in rows)
    ]
    sent_by = Counter(
        "staff" if cid.split("-")[1].startswith("s") else "customer" for cid in journal.sent
    )
    lost = len(account.lost) + len(never_acked) + unseen
    duplicated = (
        len(account.duplicated) + differ + conflicts + at_two_seqs + len(journal.ack_conflicts)
    )
    return {
        "flushed": flushed,
        "sent": dict(sent_by),
        "acknowledged": account.acknowledged,
        "stored": account.stored,
        "lost": lost,
        "lost_detail": {
            "acked_not_stored": account.lost[:20],
            "acked_not_stored_count": len(account.lost),
            "never_acknowledged": len(never_acked),
            "never_acknowledged_ids": never_acked[:20],
            "missing_from_views": unseen,
        },
        "duplicated": duplicated,
        "duplicated_detail": {
            "stored_twice": account.duplicated[:20],
            "stored_twice_count": len(account.duplicated),
            "view_differs_from_store": differ,
            "view_seq_conflicts": conflicts,
            "view_id_at_two_seqs": at_two_seqs,
            "acks_disagree": len(journal.ack_conflicts),
        },
        "refused": dict(Counter(journal.refused.values())),
        "refused_but_stored": len(refused_stored),
        "stored_unacknowledged": account.stored_unacknowledged,
        "seq_gaps": len(account.gaps),
        "requeued": account.requeued,
        "forgotten_consoles": account.forgotten,
        "replay_from_0_wrong": replay_wrong,
        "seen_only_at_final_catch_up": len(late),
        "seen_only_at_final_catch_up_sample": late[:10],
        "conversations": len(fleet.customers),
        "conversations_not_active_or_unassigned": unchecked_staff,
        "client_errors": journal.errors[:20],
        "client_error_count": len(journal.errors),
        "drops": sum(link.drops for link in fleet.links),
    }
