"""What a durable commit costs: ``SqlStore.append_message`` on SQLite in three modes.

- ``NORMAL``: ``synchronous=NORMAL`` and no barrier (the store before durable commits; not
  durable across an OS crash; measured for comparison only).
- ``FULL``: ``synchronous=FULL``, each commit's fdatasync of the WAL on the event loop (the
  store for a while; durable, but the whole process waits for each sync).
- ``group``: what the server runs: ``NORMAL`` on the loop, then ``server.wal_sync``'s
  fdatasync of the WAL on its own thread, shared by every commit made while the previous one
  ran (durable, like ``FULL``).

Two scenarios, each with the modes alternating in small blocks on one database in
``--workdir`` (put it on the disk the server's database would use), so that every mode sees
the same disk and the same machine noise:

- ``alone``: one append at a time; the time of each.
- ``concurrent``: bursts of ``--writers`` appends, one per conversation, all arriving at
  once (as when that many customers send together); the time from the burst's start until
  each append returned (so waiting for the loop counts), appends per second, the store's own
  fsyncs per append (only ``group`` runs any), and the loop's stalls: the gaps seen by a task
  that does nothing but yield to the loop, i.e. how long any other event had to wait.

    .venv/bin/python bench/commit_cost.py [--appends 3000] [--writers 16] [--workdir DIR]

``bench/chat_latency.py`` runs this first and quotes it in its report.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

from server.migrate import migrate
from server.store import SqlStore
from server.wal_sync import WalSync
from signaling.ports import Conversation, NewConversation, NewMessage

MODES = ("NORMAL", "FULL", "group")
BLOCK = 48  # appends in one mode before switching to the next


class _Modes:
    """Switches the store between the modes. Bench only: it reaches into the store's
    connection and takes its barrier away, which the server never does."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store
        database = store._database
        syncer = getattr(database, "syncer", None)
        assert isinstance(syncer, WalSync), "commit_cost needs a SQLite file"
        self.syncer = syncer

    async def set(self, mode: str) -> None:
        synchronous = "FULL" if mode == "FULL" else "NORMAL"
        statement = f"PRAGMA synchronous={synchronous}"
        # The pragma goes to the store's one connection, the one the appends commit on.
        await self.store._run(lambda conn: conn.connection.dbapi_connection.execute(statement))
        self.store._database.syncer = self.syncer if mode == "group" else None  # type: ignore[union-attr]


def _summary_us(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(value * 1e6 for value in seconds)

    def at(fraction: float) -> float:
        return round(ordered[max(1, math.ceil(fraction * len(ordered))) - 1], 1)

    return {"p50": at(0.50), "p90": at(0.90), "p99": at(0.99), "max": round(ordered[-1], 1)}


class _Append:
    """Appends numbered messages to one conversation, timing each."""

    def __init__(self, store: SqlStore, conversation: Conversation) -> None:
        self.store = store
        self.conversation = conversation
        self.count = 0

    async def __call__(self, timings: list[float], since: float | None = None) -> None:
        """Append one; its time from ``since`` (default: from now) goes into ``timings``."""
        self.count += 1
        key = f"m{self.count}"
        message = NewMessage(self.conversation.id, "customer", "text", "cost", key)
        started = time.perf_counter() if since is None else since
        await self.store.append_message(message, time.time())
        timings.append(time.perf_counter() - started)


async def _alone(modes: _Modes, append: _Append, appends: int) -> dict[str, Any]:
    timings: dict[str, list[float]] = {mode: [] for mode in MODES}
    for _ in range(max(1, appends // (BLOCK * len(MODES)))):
        for mode in MODES:
            await modes.set(mode)
            for _ in range(BLOCK):
                await append(timings[mode])
    return {mode: {"append_us": _summary_us(values)} for mode, values in timings.items()}


async def _probe(stalls: list[float], stop: asyncio.Event) -> None:
    """Yield to the loop until ``stop``; each gap is how long the loop served nobody else."""
    while not stop.is_set():
        started = time.perf_counter()
        await asyncio.sleep(0)
        stalls.append(time.perf_counter() - started)


async def _concurrent(
    modes: _Modes, writers: list[_Append], appends: int
) -> dict[str, dict[str, Any]]:
    bursts = max(1, BLOCK // len(writers))
    timings: dict[str, list[float]] = {mode: [] for mode in MODES}
    stalls: dict[str, list[float]] = {mode: [] for mode in MODES}
    elapsed = dict.fromkeys(MODES, 0.0)
    syncs = dict.fromkeys(MODES, 0)
    for _ in range(max(1, appends // (bursts * len(writers) * len(MODES)))):
        for mode in MODES:
            await modes.set(mode)
            stop = asyncio.Event()
            probe = asyncio.create_task(_probe(stalls[mode], stop))
            synced = modes.syncer.syncs
            for _ in range(bursts):
                started = time.perf_counter()
                await asyncio.gather(*(append(timings[mode], started) for append in writers))
                elapsed[mode] += time.perf_counter() - started
            syncs[mode] += modes.syncer.syncs - synced
            stop.set()
            await probe
    return {
        mode: {
            "append_us": _summary_us(timings[mode]),
            "appends_per_s": round(len(timings[mode]) / elapsed[mode]),
            "fsyncs_per_append": round(syncs[mode] / len(timings[mode]), 3),
            "loop_stall_us": _summary_us(stalls[mode]),
        }
        for mode in MODES
    }


async def commit_cost(workdir: Path, appends: int = 3000, writers: int = 16) -> dict[str, Any]:
    """Time about ``appends`` appends per scenario, spread over the modes; microseconds."""
    url = f"sqlite+aiosqlite:///{workdir / 'commit-cost.db'}"
    await migrate(url)
    store = await SqlStore.open(url)
    try:
        site = await store.create_site(
            key="cost-site",
            name="Cost",
            allowed_origins=("http://bench.test",),
            greeting="Hi",
            secret=secrets.token_urlsafe(32),
        )
        conversations = [
            await store.create_conversation(
                NewConversation(site=site, visitor_id=f"cost-visitor-{n}"), time.time()
            )
            for n in range(writers)
        ]
        server_mode = await store.durability()
        modes = _Modes(store)
        alone = await _alone(modes, _Append(store, conversations[0]), appends)
        concurrent = await _concurrent(modes, [_Append(store, c) for c in conversations], appends)
        await modes.set("group")
    finally:
        await store.close()
    return {
        "server": f"group commit (durability() says {server_mode})",
        "appends_per_scenario": appends,
        "alone": alone,
        "concurrent": {"writers": writers, **concurrent},
    }


def describe(cost: dict[str, Any]) -> str:
    """A few lines for a report."""
    alone, concurrent = cost["alone"], cost["concurrent"]
    lines = [f"append on SQLite; the server runs {cost['server']}"]
    for mode in MODES:
        one, many = alone[mode]["append_us"], concurrent[mode]
        lines.append(
            f"  {mode:<6} alone p50 {one['p50']:>6.0f} µs p99 {one['p99']:>7.0f} µs | "
            f"{concurrent['writers']} writers p50 {many['append_us']['p50']:>6.0f} µs "
            f"p99 {many['append_us']['p99']:>7.0f} µs, {many['appends_per_s']:>5} /s, "
            f"{many['fsyncs_per_append']:.2f} own fsyncs/append, "
            f"loop stall p99 {many['loop_stall_us']['p99']:>6.0f} µs "
            f"max {many['loop_stall_us']['max']:>7.0f} µs"
        )
    return "\n".join(lines)


def main() -> int:
    cli = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cli.add_argument("--appends", type=int, default=3000, help="appends per scenario")
    cli.add_argument("--writers", type=int, default=16, help="writers in the concurrent one")
    cli.add_argument("--workdir", type=Path, help="where the database goes (default: a temp dir)")
    args = cli.parse_args()
    with tempfile.TemporaryDirectory(prefix="porchlight-cost-", dir=args.workdir) as workdir:
        cost = asyncio.run(commit_cost(Path(workdir), args.appends, args.writers))
    print(describe(cost))
    print(json.dumps(cost, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
