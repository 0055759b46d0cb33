"""Group commit for SQLite in WAL mode: durable commits without the event loop waiting for
the disk.

The store's connection commits with ``synchronous=NORMAL``: a commit ``write()``s its frames
to the ``-wal`` file and returns, with no fsync. ``WalSync`` then makes the commit durable
off the loop: an ``fdatasync`` of the ``-wal`` file on a thread of its own. Why that is
enough:

- The WAL is append-only between restarts, and a commit is the run of frames ending in one
  that carries the commit mark. After a crash SQLite replays the WAL from its start up to the
  last commit whose frames all have valid checksums (they chain from the header's salt), and
  ignores everything after. So once every frame up to a commit's last one is on disk, the
  commit survives an OS crash or a power cut.
- ``fdatasync`` writes out every dirty page of the file, whichever descriptor wrote it. A sync
  that *starts after* a commit returned therefore covers that commit and all earlier ones. A
  sync already running when the commit returned may not: it covers only the next one.
- A WAL restart (the first commit after a checkpoint that copied every frame back) rewrites
  the header with new salts and overwrites old frames from the start. It happens only after
  the checkpoint synced the database file (the checkpointer's connection is never
  ``synchronous=OFF``), and SQLite syncs the new header itself even under NORMAL, so frames
  being overwritten are already in the database file. (That header sync runs on the loop, at
  most once per checkpoint: the one wait for the disk left there, as before this module.)
- SQLite deletes the ``-wal`` only when its last connection closes, after checkpointing
  everything into the synced database file. So a missing file means nothing to sync, and a
  file whose inode changed is a new WAL: the descriptor is reopened on it.
- SQLite holds no POSIX locks on the ``-wal`` file (they are on the database and ``-shm``
  files), so opening and closing our own descriptor on it cannot drop them.

Commits that return while a sync runs share the next one: at most one sync is in flight and
one is queued, whatever the number of writers, so a busy disk makes batches larger instead
of queues longer.
"""

from __future__ import annotations

import asyncio
import logging
import os
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger(__name__)


class WalSync:
    """The durability barrier for one SQLite database file in WAL mode.

    On the event loop's thread: call ``committed()`` right after each commit returns, then
    ``await durable()``, which returns once an fsync of the ``-wal`` file that started after
    every commit recorded so far has completed (at once when one has). ``syncs`` counts the
    completed fsyncs. A failed fsync is final: the kernel may have dropped the pages it could
    not write, so no later sync can vouch for them; every ``durable()`` then raises it.
    """

    def __init__(self, database_path: str) -> None:
        self.wal_path = f"{database_path}-wal"
        self.syncs = 0
        self._recorded = 0  # commits recorded by committed()
        self._covered = 0  # commits covered by the last completed sync
        self._running: asyncio.Future[None] | None = None  # the sync in flight
        self._running_covers = 0  # commits it covers
        self._next: asyncio.Future[None] | None = None  # the sync queued after it
        self._drain: asyncio.Task[None] | None = None
        self._failure: OSError | None = None
        self._fd: int | None = None  # only touched on the sync thread, and in close()
        # Its own thread, so that nothing else waiting for a worker can delay a sync.
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="porchlight-wal-sync")

    def committed(self) -> None:
        """Record that a commit has just returned (on the loop's thread)."""
        self._recorded += 1

    async def durable(self) -> None:
        """Return once every commit recorded so far is on disk."""
        if self._failure is not None:
            raise self._failure
        wanted = self._recorded
        if self._covered >= wanted:
            return
        if self._running is not None and self._running_covers >= wanted:
            batch = self._running
        else:
            if self._next is None:
                self._next = asyncio.get_running_loop().create_future()
            batch = self._next
            if self._drain is None:
                self._drain = asyncio.create_task(self._sync_batches())
        # One waiter giving up (a cancelled request) must not cancel the batch's sync.
        await asyncio.shield(batch)

    async def _sync_batches(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._next is not None:
                batch, self._next = self._next, None
                # Taken on the loop before the sync is handed to its thread: every commit
                # counted here returned before the fsync starts.
                covers = self._recorded
                self._running, self._running_covers = batch, covers
                try:
                    await loop.run_in_executor(self._thread, self._sync)
                except OSError as error:
                    log.error("fsync of the SQLite WAL failed; commits are no longer durable")
                    self._failure = error
                    batch.set_exception(error)
                    # Later batches fail too; retrieving the error spares asyncio's warning
                    # when every waiter has gone.
                    batch.add_done_callback(lambda done: done.exception())
                    if self._next is not None:
                        self._next.set_exception(error)
                        self._next.add_done_callback(lambda done: done.exception())
                        self._next = None
                    return
                except BaseException:
                    # Cancelled (the loop is closing): nobody must wait for a sync that
                    # will never be reported.
                    for waiting in (batch, self._next):
                        if waiting is not None:
                            waiting.cancel()
                    self._next = None
                    raise
                self.syncs += 1
                self._covered = covers
                batch.set_result(None)
        finally:
            self._running = None
            self._drain = None

    def _sync(self) -> None:
        """fdatasync the current ``-wal`` file (on the sync thread)."""
        fd = self._current_wal()
        if fd is not None:
            # fdatasync where there is one (not on macOS, where fsync is what SQLite uses too).
            getattr(os, "fdatasync", os.fsync)(fd)

    def _current_wal(self) -> int | None:
        """A descriptor on the file now at ``wal_path``, reopened if that is a new file;
        None if there is none (everything was checkpointed before it was deleted)."""
        try:
            now = os.stat(self.wal_path)
        except FileNotFoundError:
            self._close_fd()
            return None
        if self._fd is not None:
            held = os.fstat(self._fd)
            if (held.st_dev, held.st_ino) == (now.st_dev, now.st_ino):
                return self._fd
            self._close_fd()
        try:
            # Whatever file is there when it opens is the WAL from a moment after the
            # commits this sync covers, which is all that matters.
            self._fd = os.open(self.wal_path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            return None
        return self._fd

    def _close_fd(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    async def close(self) -> None:
        """Finish the syncs under way, then release the thread and the descriptor."""
        if self._drain is not None:
            await asyncio.shield(self._drain)
        await asyncio.get_running_loop().run_in_executor(self._thread, self._close_fd)
        self._thread.shutdown(wait=True)
