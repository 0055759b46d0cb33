"""The ``porchlight`` command: serve, migrate, site add, staff add, demo."""

from __future__ import annotations

import argparse
import asyncio
import errno
import getpass
import logging
import secrets
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from server.api_sites import create, snippet
from server.app import create_app
from server.auth import hash_password
from server.migrate import migrate
from server.settings import Settings, SettingsError, load_settings
from server.site_settings import SiteFields
from server.store import DuplicateError, SqlStore
from signaling.protocol import describe

DEMO_EMAIL = "demo@porchlight.local"
DEMO_PASSWORD = "porchlight-demo"  # noqa: S105 - printed to the person running the demo
DEMO_SITE_KEY = "demo-shop"
DEMO_SHOP_PORT = 8090


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(prog="porchlight", description=__doc__)
    cli.add_argument("--settings", type=Path, help="TOML settings file")
    cli.add_argument("--database-url", help="e.g. sqlite+aiosqlite:///porchlight.db")
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

    demo = commands.add_parser("demo", help="run the server and the demo shop")
    demo.add_argument("--port", type=int, default=8080)
    demo.add_argument("--shop-port", type=int, default=DEMO_SHOP_PORT)
    return cli


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    overrides: dict[str, Any] = {"database_url": args.database_url}
    if args.command == "serve":
        overrides.update(host=args.host, port=args.port)
    if args.command == "demo":
        overrides.update(port=args.port, public_url=f"http://127.0.0.1:{args.port}")
    try:
        settings = load_settings(args.settings, None, **overrides)
    except SettingsError as exc:
        print(f"porchlight: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.command == "serve":
        return run(serve(settings))
    if args.command == "migrate":
        asyncio.run(migrate(settings.database_url))
        print("database is up to date")
        return 0
    if args.command == "site":
        return asyncio.run(add_site(settings, args))
    if args.command == "staff":
        password = getpass.getpass("Password (at least 10 characters): ")
        if len(password) < 10:
            print("porchlight: the password must have at least 10 characters", file=sys.stderr)
            return 2
        return asyncio.run(add_staff(settings, args.email, args.name, args.role, password, args))
    return run(demo(settings, args.shop_port))


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
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
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
    finally:
        await store.close()
    if site.relay_only:
        print("Calls on this site go through your TURN server only.")
    print(f"Site {site.name!r} created. Paste this before </body> on your pages:\n")
    print(snippet(settings.public_url, site.key))
    return 0


async def add_staff(
    settings: Settings, email: str, name: str, role: str, password: str, args: argparse.Namespace
) -> int:
    await migrate(settings.database_url)
    store = await SqlStore.open(settings.database_url)
    try:
        await store.create_staff(
            email=email.lower(),
            name=name,
            role="admin" if role == "admin" else "supervisor" if role == "supervisor" else "agent",
            password_hash=hash_password(password),
            languages=tuple(args.language),
            max_chats=args.max_chats,
        )
    except DuplicateError:
        print(f"porchlight: a staff member with email {email} exists", file=sys.stderr)
        return 1
    finally:
        await store.close()
    print(f"Staff member {email} ({role}) created.")
    return 0


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
