"""The ``porchlight`` command: serve, migrate, site add, staff add, token, demo."""

from __future__ import annotations

import argparse
import asyncio
import errno
import getpass
import secrets
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from server import api_tokens, cli_privacy, logs
from server.api_sites import create, snippet
from server.app import create_app
from server.audit import CLI, Audit, AuditAction
from server.auth import hash_password
from server.keys import SETTINGS
from server.mail_catcher import CatcherUnavailable
from server.migrate import migrate
from server.settings import Settings, SettingsError, load_settings
from server.site_settings import SiteFields
from server.staff_models import MIN_PASSWORD, StaffEdit, StaffInvite
from server.store import DuplicateError, SqlStore
from server.store_staff import LastAdmin, StaffProfile
from signaling.protocol import describe

DEMO_EMAIL = "demo@porchlight.local"
DEMO_PASSWORD = "porchlight-demo"  # noqa: S105 - printed to the person running the demo
DEMO_SITE_KEY = "demo-shop"
DEMO_SHOP_PORT = 8090
DEMO_MAIL_PORT = 8025


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(prog="porchlight", description=__doc__)
    cli.add_argument("--settings", type=Path, help="TOML settings file")
    cli.add_argument("--database-url", help="e.g. sqlite+aiosqlite:///porchlight.db")
    cli.add_argument(
        "--log-format",
        choices=["text", "json"],
        help="json: one object per line, personal data only as digests",
    )
    commands = cli.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the server")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)

    commands.add_parser("migrate", help="create or upgrade the database schema")

    site = commands.add_parser("site", help="manage sites").add_subparsers(
        dest="action", required=True
    )
    add_site = site.add_parser("add", help="create a site and print its embed snippet")
    add_site.add_argument("name")
    add_site.add_argument(
        "--origin", action="append", required=True, help="allowed origin (repeatable)"
    )
    add_site.add_argument("--greeting", default="Hi! How can we help?")
    add_site.add_argument(
        "--relay-only",
        action="store_true",
        help="calls go through TURN only, so neither side learns the other's address",
    )
    add_site.add_argument(
        "--channel",
        action="append",
        choices=["chat", "voice", "video", "oneway"],
        help="a channel offered (repeatable; default: all)",
    )
    add_site.add_argument("--color", help="brand colour, #rrggbb (default #1f3a5f)")

    staff = commands.add_parser("staff", help="manage staff").add_subparsers(
        dest="action", required=True
    )
    add_staff = staff.add_parser("add", help="create a staff account (prompts for a password)")
    add_staff.add_argument("email")
    add_staff.add_argument("name")
    add_staff.add_argument("--role", choices=["admin", "supervisor", "agent"], default="agent")
    add_staff.add_argument("--language", action="append", default=[])
    add_staff.add_argument("--max-chats", type=int, default=3)
    add_staff.add_argument("--max-calls", type=int, default=1, help="0: chats only")
    edit_staff = staff.add_parser("edit", help="change a staff account (what is given)")
    edit_staff.add_argument("email")
    edit_staff.add_argument("--name")
    edit_staff.add_argument("--role", choices=["admin", "supervisor", "agent"])
    edit_staff.add_argument(
        "--language", action="append", help="a language they take (repeatable); 'any' clears"
    )
    edit_staff.add_argument("--max-chats", type=int)
    edit_staff.add_argument("--max-calls", type=int, help="0: chats only, 1: calls too")
    staff.add_parser("list", help="list staff accounts")

    token = commands.add_parser("token", help="manage API tokens").add_subparsers(
        dest="action", required=True
    )
    add_token = token.add_parser("create", help="create an API token and print it (once)")
    add_token.add_argument("name", help="what the token is for, e.g. 'CRM sync'")
    add_token.add_argument("--scope", choices=["read", "admin"], required=True)
    add_token.add_argument("--by", required=True, metavar="EMAIL", help="the admin it acts for")
    token.add_parser("list", help="list API tokens with their last use")
    revoke = token.add_parser("revoke", help="revoke an API token")
    revoke.add_argument("id", type=int)
    cli_privacy.add_parsers(commands)
    analytics = commands.add_parser("analytics", help="analytics figures").add_subparsers(
        dest="action", required=True
    )
    analytics.add_parser("rebuild", help="derive every conversation's figures again from the log")

    demo = commands.add_parser("demo", help="run the server and the demo shop")
    demo.add_argument("--port", type=int, default=8080)
    demo.add_argument("--shop-port", type=int, default=DEMO_SHOP_PORT)
    demo.add_argument(
        "--mail-port",
        type=int,
        default=DEMO_MAIL_PORT,
        help="where the demo's mail catcher listens (emails are caught, never sent)",
    )
    return cli


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    overrides: dict[str, Any] = {
        "database_url": args.database_url,
        "log_format": args.log_format,
    }
    if args.command == "serve":
        overrides.update(host=args.host, port=args.port)
    if args.command == "demo":
        overrides.update(
            port=args.port,
            public_url=f"http://127.0.0.1:{args.port}",
            # Every email the demo sends lands in the console's "Caught email" page.
            mail_catcher=True,
            smtp_host="127.0.0.1",
            smtp_port=args.mail_port,
            smtp_security="none",
            smtp_username="",
            smtp_password="",
        )
    try:
        settings = load_settings(args.settings, None, **overrides)
    except SettingsError as exc:
        print(f"porchlight: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level, settings.log_format, settings.secret_key)
    if args.command == "serve":
        return run(serve(settings))
    if args.command == "migrate":
        asyncio.run(migrate(settings.database_url))
        print("database is up to date")
        return 0
    if args.command == "site":
        return asyncio.run(add_site(settings, args))
    if args.command == "privacy":
        return asyncio.run(cli_privacy.run(settings, args))
    if args.command == "staff":
        return staff_command(settings, args)
    if args.command == "token":
        return asyncio.run(manage_tokens(settings, args))
    if args.command == "analytics":
        return asyncio.run(rebuild_analytics(settings))
    return run(demo(settings, args.shop_port))


async def rebuild_analytics(settings: Settings) -> int:
    store = await SqlStore.open(settings.database_url)
    try:
        replayed = await store.rebuild_analytics()
    finally:
        await store.close()
    print(f"analytics rebuilt from {replayed} events")
    return 0


def run(main_task: object) -> int:
    """Run until Ctrl-C or SIGTERM, then shut down cleanly."""
    try:
        asyncio.run(main_task)  # type: ignore[arg-type]
    except KeyboardInterrupt:
        pass
    except PortInUse as exc:
        print(f"porchlight: {exc}", file=sys.stderr)
        return 1
    return 0


class PortInUse(Exception):
    """Something else listens where we would."""


async def until_stopped() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()


async def start(app: web.Application, host: str, port: int) -> web.AppRunner:
    settings = app.get(SETTINGS)
    access = logs.access_logger(settings.log_format) if settings is not None else {}
    runner = web.AppRunner(app, handle_signals=False, **access)
    try:
        # setup() starts the app, which may listen too (the demo's mail catcher).
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
    except CatcherUnavailable as exc:
        await runner.cleanup()
        raise PortInUse(exc.strerror) from None
    except OSError as exc:
        await runner.cleanup()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(
                f"{host}:{port} is already in use (is Porchlight already running?); "
                "stop it or choose another port with --port"
            ) from None
        raise
    return runner


async def serve(settings: Settings) -> None:
    runner = await start(create_app(settings), settings.host, settings.port)
    print(f"Porchlight is running on {settings.public_url} (Ctrl-C to stop)", flush=True)
    try:
        await until_stopped()
    finally:
        await runner.cleanup()


async def add_site(settings: Settings, args: argparse.Namespace) -> int:
    """``site add``: validated exactly as the console and the REST API validate a site."""
    given = {
        "name": args.name,
        "allowed_origins": args.origin,
        "greeting": args.greeting,
        "relay_only": args.relay_only,
        "channels": args.channel,
        "brand_color": args.color,
    }
    try:
        fields = SiteFields.model_validate({k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        print(f"porchlight: {describe(exc)}", file=sys.stderr)
        return 2
    await migrate(settings.database_url)
    store = await SqlStore.open(settings.database_url)
    try:
        site = await create(store, fields)
        await Audit(store, settings.secret_key).record(
            CLI, AuditAction.SITE_CREATED, f"site:{site.key}", {"name": site.name}
        )
    finally:
        await store.close()
    if site.relay_only:
        print("Calls on this site go through your TURN server only.")
    print(f"Site {site.name!r} created. Paste this before </body> on your pages:\n")
    print(snippet(settings.public_url, site.key))
    return 0


def staff_command(settings: Settings, args: argparse.Namespace) -> int:
    """``staff add|edit|list``, validated by the same models as the REST API."""
    try:
        if args.action == "add":
            new = StaffInvite.model_validate(
                {
                    "email": args.email,
                    "name": args.name,
                    "role": args.role,
                    "languages": args.language,
                    "max_chats": args.max_chats,
                    "max_calls": args.max_calls,
                }
            )
        elif args.action == "edit":
            languages = args.language
            edit = StaffEdit.model_validate(
                {
                    "name": args.name,
                    "role": args.role,
                    "languages": [] if languages == ["any"] else languages,
                    "max_chats": args.max_chats,
                    "max_calls": args.max_calls,
                }
            )
            return asyncio.run(edit_staff(settings, args.email, edit))
        else:
            return asyncio.run(list_staff(settings))
    except ValidationError as exc:
        print(f"porchlight: {describe(exc)}", file=sys.stderr)
        return 2
    password = getpass.getpass(f"Password (at least {MIN_PASSWORD} characters): ")
    if len(password) < MIN_PASSWORD:
        print(
            f"porchlight: the password must have at least {MIN_PASSWORD} characters",
            file=sys.stderr,
        )
        return 2
    return asyncio.run(add_staff(settings, new, password))


async def add_staff(settings: Settings, new: StaffInvite, password: str) -> int:
    await migrate(settings.database_url)
    store = await SqlStore.open(settings.database_url)
    try:
        member = await store.create_staff(
            email=new.email,
            name=new.name,
            role=new.role,
            password_hash=hash_password(password),
            languages=tuple(new.languages),
            max_chats=new.max_chats,
        )
        if new.max_calls != 1:
            await store.update_staff(member.id, max_calls=new.max_calls)
        await Audit(store, settings.secret_key).record(
            CLI,
            AuditAction.STAFF_CREATED,
            f"staff:{member.id}",
            {"email": member.email, "role": member.role},
        )
    except DuplicateError:
        print(f"porchlight: a staff member with email {new.email} exists", file=sys.stderr)
        return 1
    finally:
        await store.close()
    print(f"Staff member {new.email} ({new.role}) created.")
    return 0


async def edit_staff(settings: Settings, email: str, edit: StaffEdit) -> int:
    await migrate(settings.database_url)
    store = await SqlStore.open(settings.database_url)
    try:
        found = await store.staff_credentials(email)
        if found is None:
            print(f"porchlight: no staff member with email {email}", file=sys.stderr)
            return 1
        values = edit.model_dump(exclude_none=True)
        try:
            profile = await store.update_staff(found[0].id, **values)
        except LastAdmin:
            print(
                f"porchlight: {email} is the only admin who can sign in; "
                "make someone else admin first",
                file=sys.stderr,
            )
            return 1
        assert profile is not None
        if profile.role != found[0].role:
            await Audit(store, settings.secret_key).record(
                CLI,
                AuditAction.STAFF_ROLE_CHANGED,
                f"staff:{profile.id}",
                {"from": found[0].role, "to": profile.role},
            )
    finally:
        await store.close()
    print(f"Staff member {profile.email} updated: {describe_staff(profile)}")
    return 0


async def list_staff(settings: Settings) -> int:
    await migrate(settings.database_url)
    store = await SqlStore.open(settings.database_url)
    try:
        profiles = await store.staff_profiles()
    finally:
        await store.close()
    for profile in profiles:
        print(f"{profile.email}\t{profile.name}\t{describe_staff(profile)}")
    return 0


def describe_staff(profile: StaffProfile) -> str:
    languages = ",".join(profile.languages) or "any language"
    calls = "calls too" if profile.max_calls else "chats only"
    invited = ", invited (no password yet)" if profile.invited else ""
    return f"{profile.role}, {languages}, {profile.max_chats} chats, {calls}{invited}"


async def manage_tokens(settings: Settings, args: argparse.Namespace) -> int:
    """``token create|list|revoke``: the same tokens as ``/api/v1/tokens``."""
    await migrate(settings.database_url)
    store = await SqlStore.open(settings.database_url)
    try:
        if args.action == "create":
            found = await store.staff_credentials(args.by.lower())
            if found is None or found[0].role != "admin":
                print(f"porchlight: {args.by} is not an active admin", file=sys.stderr)
                return 1
            token, secret = await api_tokens.create(store, args.name, args.scope, found[0].id)
            print(f"API token {token.id} ({token.scope}) created. It is shown only now:\n")
            print(secret)
        elif args.action == "list":
            for token in await store.list_tokens():
                used = _when(token.last_used_at) if token.last_used_at else "never used"
                state = f"revoked {_when(token.revoked_at)}" if token.revoked_at else "active"
                print(f"{token.id}\t{token.prefix}…\t{token.scope}\t{token.name}\t{used}\t{state}")
        else:
            revoked = await store.revoke_token(args.id, time.time())
            if revoked is None:
                print(f"porchlight: no API token {args.id}", file=sys.stderr)
                return 1
            print(f"API token {revoked.id} revoked.")
    finally:
        await store.close()
    return 0


def _when(epoch: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(epoch or 0))


async def prepare_demo(settings: Settings, shop_origins: tuple[str, ...]) -> None:
    """The demo site and staff account, created once."""
    await migrate(settings.database_url)
    store = await SqlStore.open(settings.database_url)
    try:
        if await store.get_site(DEMO_SITE_KEY) is None:
            await store.create_site(
                key=DEMO_SITE_KEY,
                name="Lamp & Co.",
                allowed_origins=shop_origins,
                greeting="Hi! Questions about a lamp? A real person will answer.",
                secret=secrets.token_urlsafe(32),
            )
        else:
            await store.update_site(DEMO_SITE_KEY, allowed_origins=shop_origins)
        try:
            await store.create_staff(
                email=DEMO_EMAIL,
                name="Sam",
                role="admin",
                password_hash=hash_password(DEMO_PASSWORD),
            )
        except DuplicateError:
            pass
    finally:
        await store.close()


async def demo(settings: Settings, shop_port: int) -> None:
    from demo_site.app import create_app as create_shop

    shop_origins = (f"http://localhost:{shop_port}", f"http://127.0.0.1:{shop_port}")
    await prepare_demo(settings, shop_origins)
    server = await start(create_app(settings), settings.host, settings.port)
    shop = await start(create_shop(settings.public_url, DEMO_SITE_KEY), "127.0.0.1", shop_port)
    print(
        "\n  Porchlight demo is running.\n"
        f"  Demo shop (customer):  http://localhost:{shop_port}\n"
        f"  Staff console:         {settings.public_url}/console\n"
        f"  Staff login:           {DEMO_EMAIL} / {DEMO_PASSWORD}\n"
        f"  Emails (caught here):  {settings.public_url}/console/mail\n"
        "  Press Ctrl-C to stop.\n",
        flush=True,
    )
    try:
        await until_stopped()
    finally:
        await shop.cleanup()
        await server.cleanup()
        print("Stopped.", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
