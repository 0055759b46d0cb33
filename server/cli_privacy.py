"""``porchlight privacy``: export or erase one visitor's data, set a site's retention
period, run the retention purge now. Each is audited with the actor "cli"."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from server.audit import CLI, Audit, AuditAction
from server.migrate import migrate
from server.privacy import Privacy, Subject, SubjectBusy, UnknownSite
from server.settings import Settings
from server.store import SqlStore


def add_parsers(commands: Any) -> None:
    privacy = commands.add_parser("privacy", help="personal data: export, erase, retention")
    actions = privacy.add_subparsers(dest="action", required=True)
    for name, text in (
        ("export", "print everything about one visitor as JSON"),
        ("erase", "erase one visitor's data (a tombstone stays in the audit log)"),
    ):
        action = actions.add_parser(name, help=text)
        action.add_argument("--site", help="the site key (with --visitor)")
        action.add_argument("--visitor", help="the visitor id (with --site)")
        action.add_argument("--conversation", help="or: one of the visitor's conversations")
        if name == "export":
            action.add_argument("--output", help="write to this file instead of stdout")
    retention = actions.add_parser("retention", help="set a site's retention period")
    retention.add_argument("site", help="the site key")
    retention.add_argument("days", help="days to keep ended conversations, or 'off'")
    actions.add_parser("purge", help="delete conversations past their site's retention now")


async def run(settings: Settings, args: argparse.Namespace) -> int:
    await migrate(settings.database_url)
    store = await SqlStore.open(settings.database_url)
    try:
        audit = Audit(store, settings.secret_key)
        privacy = Privacy(store, audit)
        if args.action == "retention":
            return await _retention(store, audit, args.site, args.days)
        if args.action == "purge":
            purged = await privacy.purge(actor=CLI)
            print(json.dumps({"purged": purged}))
            return 0
        subject = await _subject(privacy, args)
        if subject is None:
            return 2
        try:
            if args.action == "export":
                document = json.dumps(await privacy.export(CLI, subject), indent=2)
                if args.output:
                    Path(args.output).write_text(document + "\n", encoding="utf-8")  # noqa: ASYNC240 - a CLI, nothing else runs
                else:
                    print(document)
                return 0
            print(json.dumps({"erased": await privacy.erase(CLI, subject)}))
            return 0
        except UnknownSite:
            print(f"porchlight: no site has the key {subject.site_key}", file=sys.stderr)
            return 1
        except SubjectBusy:
            print(
                "porchlight: this visitor has a conversation that has not ended; end it first",
                file=sys.stderr,
            )
            return 1
    finally:
        await store.close()


async def _subject(privacy: Privacy, args: argparse.Namespace) -> Subject | None:
    if args.conversation and not (args.site or args.visitor):
        found = await privacy.subject_of_conversation(args.conversation)
        if found is None:
            print(f"porchlight: no conversation {args.conversation}", file=sys.stderr)
        return found
    if args.site and args.visitor and not args.conversation:
        return Subject(args.site, args.visitor)
    print("porchlight: give --site and --visitor, or --conversation", file=sys.stderr)
    return None


async def _retention(store: SqlStore, audit: Audit, key: str, days_text: str) -> int:
    days = None if days_text == "off" else int(days_text) if days_text.isdigit() else -1
    if days is not None and not 1 <= days <= 3650:
        print("porchlight: days must be 1 to 3650, or 'off'", file=sys.stderr)
        return 2
    site = await store.set_retention(key, days)
    if site is None:
        print(f"porchlight: no site has the key {key}", file=sys.stderr)
        return 1
    await audit.record(
        CLI,
        AuditAction.SITE_CHANGED,
        f"site:{key}",
        {"changed": ["retention_days"], "retention_days": days},
    )
    kept = "forever" if days is None else f"for {days} days"
    print(f"Site {site.name!r} keeps ended conversations {kept}.")
    return 0
