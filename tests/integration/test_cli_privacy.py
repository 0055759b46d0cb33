"""``porchlight privacy`` as an operator runs it (``server.cli.main`` in this process, so the
test does not pay a process start per command; SQLite): export a visitor, erase them,
export again to find only the tombstone; retention set and purged twice, the second purge
changing nothing."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from server.cli import main
from server.migrate import migrate
from server.store import SqlStore
from signaling.ports import Changes, NewConversation, NewMessage


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


def test_privacy_from_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    made_id = asyncio.run(prepare(database))

    root = logging.getLogger()
    saved = (list(root.handlers), root.level)

    def run(*args: str) -> Ran:
        try:
            code = main(list(args))
        finally:
            # main() sets up the process's logging; give pytest's back.
            for handler in list(root.handlers):
                root.removeHandler(handler)
            for handler in saved[0]:
                root.addHandler(handler)
            root.setLevel(saved[1])
        captured = capsys.readouterr()
        return Ran(code, captured.out, captured.err)

    body_of(run, database, made_id, tmp_path)


async def prepare(database: str) -> str:
    await migrate(database)
    store = await SqlStore.open(database)
    try:
        site = await store.create_site("shop", "Shop", ("https://shop.test",), "Hi", "s" * 32)
        now = time.time()
        made = await store.create_conversation(
            NewConversation(site, "visitor-7", "chat", visitor_name="Ada"), now - 90 * 86400
        )
        await store.append_message(
            NewMessage(made.id, "customer", "text", "my card ends 4242", "m-1"), now - 90 * 86400
        )
        await store.update_conversation(
            made.id, Changes(status="ended", ended_at=now - 89 * 86400, ended_by="customer")
        )
        other = await store.create_conversation(
            NewConversation(site, "visitor-8"), now - 90 * 86400
        )
        await store.update_conversation(
            other.id, Changes(status="ended", ended_at=now - 89 * 86400, ended_by="customer")
        )
    finally:
        await store.close()
    return made.id


def body_of(run: Any, database: str, made_id: str, tmp_path: Path) -> None:
    base = ("--database-url", database, "privacy")
    out = tmp_path / "export.json"
    exported = run(*base, "export", "--conversation", made_id, "--output", str(out))
    assert exported.returncode == 0, exported.stderr
    document = json.loads(out.read_text())
    assert document["conversations"][0]["messages"][0]["body"] == "my card ends 4242"

    erased = run(*base, "erase", "--site", "shop", "--visitor", "visitor-7")
    assert erased.returncode == 0, erased.stderr
    assert json.loads(erased.stdout) == {"erased": {"conversations": 1, "messages": 1}}
    again = run(*base, "export", "--site", "shop", "--visitor", "visitor-7")
    after = json.loads(again.stdout)
    assert after["conversations"] == [] and len(after["erasures"]) == 1
    assert "4242" not in again.stdout and "Ada" not in again.stdout

    assert run(*base, "retention", "shop", "0").returncode == 2
    assert run(*base, "retention", "shop", "30").returncode == 0
    first = run(*base, "purge")
    assert json.loads(first.stdout) == {"purged": {"shop": 2}}, first.stderr
    second = run(*base, "purge")
    assert json.loads(second.stdout) == {"purged": {}}
    assert run(*base, "erase", "--site", "shop").returncode == 2
