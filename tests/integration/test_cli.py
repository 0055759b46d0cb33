"""The `porchlight` command as a site owner runs it (real subprocesses)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import smtplib
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from server.cli import DEMO_EMAIL, DEMO_PASSWORD, main
from server.migrate import migrate
from server.store import SqlStore
from tests.support import free_port

PORCHLIGHT = str(Path(sys.executable).with_name("porchlight"))


def run(
    *args: str, env: dict[str, str] | None = None, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PORCHLIGHT, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_a_bad_setting_stops_with_one_line_naming_it(tmp_path: Path) -> None:
    result = run("serve", env={"PORCHLIGHT_RING_TIMEOUT": "soon"})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "ring_timeout (PORCHLIGHT_RING_TIMEOUT)" in lines[0]


def test_production_refuses_the_default_secret() -> None:
    result = run("serve", env={"PORCHLIGHT_MODE": "production"})
    assert result.returncode == 2
    assert "secret_key" in result.stderr


def test_site_add_prints_the_snippet_and_staff_add_creates_an_account(tmp_path: Path) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    site = run(
        "--database-url", database, "site", "add", "My shop", "--origin", "https://shop.example"
    )
    assert site.returncode == 0, site.stderr
    assert '<script async src="http://127.0.0.1:8080/widget.js" data-site="' in site.stdout
    private = run(
        "--database-url",
        database,
        "site",
        "add",
        "Clinic",
        "--origin",
        "https://clinic.example",
        "--relay-only",
    )
    assert private.returncode == 0, private.stderr
    assert "TURN server only" in private.stdout
    # The same validation as the console and the REST API, with the reason in one line.
    wrong = run("--database-url", database, "site", "add", "Lamps", "--origin", "lamps.example")
    assert wrong.returncode == 2
    assert "allowed_origins: 'lamps.example' must start with https://" in wrong.stderr
    colour = run(
        "--database-url",
        database,
        "site",
        "add",
        "Lamps",
        "--origin",
        "https://l.example",
        "--color",
        "red",
    )
    assert colour.returncode == 2
    assert "brand_color" in colour.stderr

    short = run(
        "--database-url", database, "staff", "add", "a@shop.example", "Alex", stdin="short\n"
    )
    assert short.returncode == 2
    made = run(
        "--database-url",
        database,
        "staff",
        "add",
        "a@shop.example",
        "Alex",
        "--role",
        "admin",
        stdin="a long enough password\n",
    )
    assert made.returncode == 0, made.stderr
    again = run(
        "--database-url",
        database,
        "staff",
        "add",
        "a@shop.example",
        "Alex",
        stdin="a long enough password\n",
    )
    assert again.returncode == 1
    assert "exists" in again.stderr


def wait_for_health(url: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    pytest.fail("the server did not answer /healthz")


def caught_by_the_demo(url: str) -> list[dict[str, object]]:
    """Sign in as the demo's admin and read what its mail catcher caught."""
    jar = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    sign_in = urllib.request.Request(
        f"{url}/api/v1/auth/login",
        data=json.dumps({"email": DEMO_EMAIL, "password": DEMO_PASSWORD}).encode(),
        headers={"Content-Type": "application/json", "Origin": url},
    )
    with jar.open(sign_in, timeout=10) as response:
        assert response.status == 200
    with jar.open(f"{url}/api/v1/caught-mail", timeout=10) as response:
        emails: list[dict[str, object]] = json.load(response)["emails"]
    return emails


def test_demo_runs_both_sites_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    port, shop_port, mail_port = free_port(), free_port(), free_port()
    process = subprocess.Popen(
        [
            PORCHLIGHT,
            "--database-url",
            f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}",
            "demo",
            "--port",
            str(port),
            "--shop-port",
            str(shop_port),
            "--mail-port",
            str(mail_port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PORCHLIGHT_LOG_LEVEL": "WARNING"},
    )
    try:
        wait_for_health(f"http://127.0.0.1:{port}", process)
        with urllib.request.urlopen(f"http://localhost:{shop_port}/", timeout=5) as shop:
            page = shop.read().decode()
        assert f'src="http://127.0.0.1:{port}/widget.js" data-site="demo-shop"' in page
        # The demo catches email: whatever reaches its SMTP port is listed in the console.
        with smtplib.SMTP("127.0.0.1", mail_port, timeout=10) as smtp:
            smtp.sendmail(
                "shop@example.com",
                ["sam@example.com"],
                "Subject: Hello from the test\r\n\r\nCaught?\r\n",
            )
        caught = caught_by_the_demo(f"http://127.0.0.1:{port}")
        assert [email["subject"] for email in caught] == ["Hello from the test"]
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    assert "demo@porchlight.local" in output
    assert f"http://localhost:{shop_port}" in output
    assert "Stopped." in output
    assert f"http://127.0.0.1:{port}/console/mail" in output


def test_a_port_in_use_is_one_clear_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run(
            "--database-url",
            f"sqlite+aiosqlite:///{tmp_path / 'p.db'}",
            "serve",
            "--port",
            str(port),
            env={"PORCHLIGHT_LOG_LEVEL": "WARNING"},
        )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"porchlight: 127.0.0.1:{port} is already in use (is Porchlight already running?); "
        "stop it or choose another port with --port"
    ]


def test_staff_edit_and_add_validate_like_the_api(tmp_path: Path) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path / 'staff.db'}"
    base = ("--database-url", database, "staff")
    bad_email = run(*base, "add", "not-an-email", "Alex", stdin="a long enough password\n")
    assert bad_email.returncode == 2
    assert "email" in bad_email.stderr
    made = run(*base, "add", "a@shop.example", "Alex", "--role", "admin", stdin="long password!\n")
    assert made.returncode == 0, made.stderr
    # The API's model: the same limits (tests/integration/test_staff_admin.py has them all).
    refused = run(*base, "edit", "a@shop.example", "--max-calls", "2")
    assert refused.returncode == 2
    assert refused.stderr.startswith("porchlight: max_calls: ")
    last_admin = run(*base, "edit", "a@shop.example", "--role", "agent")
    assert last_admin.returncode == 1
    assert "only admin" in last_admin.stderr
    edited = run(
        *base,
        "edit",
        "a@shop.example",
        "--name",
        "Alex Kim",
        "--language",
        "is",
        "--max-calls",
        "0",
    )
    assert edited.returncode == 0, edited.stderr
    listed = run(*base, "list")
    assert listed.stdout.splitlines() == [
        "a@shop.example\tAlex Kim\tadmin, is, 3 chats, chats only"
    ]


def test_token_create_list_and_revoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """In-process (``main``), as each subprocess start costs seconds."""
    database = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"

    async def add_admin() -> None:
        await migrate(database)
        store = await SqlStore.open(database)
        await store.create_staff("ada@example.com", "Ada", "admin", "unused-hash")
        await store.close()

    asyncio.run(add_admin())

    def token(*args: str) -> tuple[int, str, str]:
        code = main(["--database-url", database, "token", *args])
        out, err = capsys.readouterr()
        return code, out, err

    code, _, err = token("create", "CRM", "--scope", "read", "--by", "nobody@example.com")
    assert code == 1 and "not an active admin" in err
    code, out, err = token("create", "CRM sync", "--scope", "read", "--by", "ADA@example.com")
    assert code == 0, err
    secret = out.strip().splitlines()[-1]
    assert secret.startswith("pl_") and len(secret) > 40
    code, out, _ = token("list")
    assert "CRM sync" in out and "never used" in out and "active" in out
    assert secret[:10] in out and secret not in out
    assert token("revoke", "1")[0] == 0
    assert "revoked" in token("list")[1]
    assert token("revoke", "99")[0] == 1
