"""Acknowledged means durable: a store call returns only once what it committed is on disk,
so an acknowledged message survives an OS crash or a power cut. On SQLite that is the group
commit of ``server.wal_sync``: after the commit, an fsync of the ``-wal`` file that started
after it, off the event loop, shared by every commit made while the previous one ran."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from server.migrate import migrate
from server.store import SqlStore
from server.wal_sync import WalSync
from tests.integration.test_store import make_conversation, text
from tests.support import WAIT, until


def committed_ids(database: Path) -> set[str]:
    """The ``client_msg_id`` of every message committed, as another connection sees them."""
    db = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT client_msg_id FROM messages WHERE client_msg_id IS NOT NULL")
        return {row[0] for row in rows}
    finally:
        db.close()


class WatchedDisk:
    """``os.fdatasync``, watched for syncs of one ``-wal`` file: what each saw committed
    (``seen()``) when it started, which completed, on which inode, how many ran at once.
    ``hold()`` makes syncs wait until ``release()``. Other descriptors go straight through."""

    def __init__(
        self, wal: Path, real: Callable[[int], None], seen: Callable[[], set[str]]
    ) -> None:
        self.wal = wal
        self.real = real
        self.seen = seen
        self.inodes: list[int] = []
        self.started: list[set[str]] = []
        self.completed: list[set[str]] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.lock = threading.Lock()
        self.gate = threading.Event()
        self.gate.set()

    def hold(self) -> None:
        self.gate.clear()

    def release(self) -> None:
        self.gate.set()

    def syncs_wal(self, fd: int) -> bool:
        held = os.fstat(fd)
        try:
            wal = self.wal.stat()
        except FileNotFoundError:
            return False
        return (held.st_dev, held.st_ino) == (wal.st_dev, wal.st_ino)

    def __call__(self, fd: int) -> None:
        if not self.syncs_wal(fd):
            self.real(fd)
            return
        seen = self.seen()
        with self.lock:
            self.inodes.append(os.fstat(fd).st_ino)
            self.started.append(seen)
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if not self.gate.wait(WAIT):
                raise AssertionError("the test never released the sync")
            self.real(fd)
        finally:
            with self.lock:
                self.in_flight -= 1
        self.completed.append(seen)


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[tuple[SqlStore, Path]]:
    """A migrated store on a SQLite file, and that file."""
    database = tmp_path / "porchlight.db"
    url = f"sqlite+aiosqlite:///{database}"
    await migrate(url)
    opened = await SqlStore.open(url)
    try:
        yield opened, database
    finally:
        await opened.close()


def watch(monkeypatch: pytest.MonkeyPatch, database: Path) -> WatchedDisk:
    """Watch the syncs of ``database``'s WAL, each seeing the messages committed."""
    disk = WatchedDisk(Path(f"{database}-wal"), os.fdatasync, lambda: committed_ids(database))
    monkeypatch.setattr(os, "fdatasync", disk)
    return disk


async def test_acknowledged_messages_are_durable(store: SqlStore) -> None:
    conversation = await make_conversation(store)
    appended = await store.append_message(text(conversation.id, "kept", "durable-01"), 1.0)
    assert appended.created
    # Read back on the connection the append just committed on.
    expected = "FULL" if store.dialect == "sqlite" else "on"
    assert await store.durability() == expected


async def test_acknowledged_message_waits_for_a_wal_sync_started_after_its_commit(
    sqlite_store: tuple[SqlStore, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, database = sqlite_store
    conversation = await make_conversation(store)
    disk = watch(monkeypatch, database)
    appended = await store.append_message(text(conversation.id, "kept", "durable-02"), 1.0)
    covered = list(disk.completed)  # the syncs that had completed when the append returned
    assert appended.created
    assert any("durable-02" in seen for seen in covered), disk.started


async def test_commits_during_a_sync_share_the_next_one(
    sqlite_store: tuple[SqlStore, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, database = sqlite_store
    conversation = await make_conversation(store)
    disk = watch(monkeypatch, database)
    disk.hold()
    first = asyncio.create_task(store.append_message(text(conversation.id, "a", "first"), 1.0))
    await until(lambda: disk.started, what="the first sync")
    later = [f"later-{n}" for n in range(5)]
    others = [
        asyncio.create_task(store.append_message(text(conversation.id, "b", key), 1.0))
        for key in later
    ]
    # The loop never waited for the held sync: every later message committed meanwhile.
    await until(lambda: committed_ids(database) >= {"first", *later}, what="later commits")
    assert not any(task.done() for task in (first, *others))
    disk.release()
    await asyncio.wait_for(asyncio.gather(first, *others), WAIT)
    # The first sync started before the later commits, so one more covers them all.
    assert len(disk.completed) == 2
    assert set(later) <= disk.completed[1]
    assert disk.most_in_flight == 1


async def test_a_read_never_returns_a_message_not_yet_on_disk(
    sqlite_store: tuple[SqlStore, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Were a replay to show a message whose sync is still running, a crash could give its seq
    # to another message after someone saw it.
    store, database = sqlite_store
    conversation = await make_conversation(store)
    disk = watch(monkeypatch, database)
    disk.hold()
    append = asyncio.create_task(store.append_message(text(conversation.id, "a", "unsynced"), 1))
    await until(lambda: disk.started, what="the append's sync")
    # Released only once this task waits: a replay that does not wait returns without it.
    asyncio.get_running_loop().call_soon(disk.release)
    replayed = await store.messages_after(conversation.id, 0)
    synced_by_then = len(disk.completed)
    assert [message.client_msg_id for message in replayed] == ["unsynced"]
    assert synced_by_then == 1
    await asyncio.wait_for(append, WAIT)


@pytest.fixture
def plain_database(tmp_path: Path) -> Path:
    """A path whose ``-wal`` file exists (not a database: ``WalSync`` only syncs the WAL)."""
    database = tmp_path / "plain"
    Path(f"{database}-wal").write_bytes(b"frames")
    return database


def replace_file(path: Path) -> int:
    """Put a new file at ``path``, made before the old one goes (so its inode differs)."""
    replacement = path.with_name("replacement")
    replacement.write_bytes(b"new frames")
    os.replace(replacement, path)
    return path.stat().st_ino


async def test_the_wal_sync_follows_a_new_wal_file(
    plain_database: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wal = Path(f"{plain_database}-wal")
    disk = WatchedDisk(wal, os.fdatasync, set)
    monkeypatch.setattr(os, "fdatasync", disk)
    syncer = WalSync(str(plain_database))
    try:
        syncer.committed()
        await syncer.durable()
        new_inode = replace_file(wal)
        syncer.committed()
        await syncer.durable()
        assert disk.inodes[1] == new_inode != disk.inodes[0]
        # No file: everything was checkpointed before SQLite deleted it; nothing to sync.
        os.unlink(wal)
        syncer.committed()
        await syncer.durable()
        assert len(disk.inodes) == 2 and syncer.syncs == 3
    finally:
        await syncer.close()


async def test_a_failed_wal_sync_fails_every_later_commit(
    plain_database: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []

    def failing(fd: int) -> None:
        calls.append(fd)
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fdatasync", failing)
    syncer = WalSync(str(plain_database))
    try:
        for _ in range(2):
            syncer.committed()
            with pytest.raises(OSError):
                await syncer.durable()
        # The kernel may have dropped the pages it could not write: no later sync vouches.
        assert len(calls) == 1
    finally:
        await syncer.close()
