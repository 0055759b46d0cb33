"""What a durable commit costs: ``SqlStore.append_message`` timed alone on SQLite, with the
store's ``synchronous=FULL`` (each commit waits for an fdatasync of the WAL, as the server
runs) against ``synchronous=NORMAL`` (no sync until a checkpoint; not durable across an OS
crash, measured for comparison only). The modes alternate in small blocks on one database in
``--workdir`` (put it on the disk the server's database would use), so both see the same
disk and the same machine noise.

    .venv/bin/python bench/commit_cost.py [--appends 4000] [--workdir DIR]

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
from signaling.ports import NewConversation, NewMessage

MODES = ("FULL", "NORMAL")
BLOCK = 50  # appends in one mode before switching to the other


async def _set_synchronous(store: SqlStore, mode: str) -> None:
    # Bench only: the server never runs NORMAL. The pragma goes to the store's one
    # connection, the one the append commits on.
    statement = f"PRAGMA synchronous={mode}"
    await store._run(lambda conn: conn.connection.dbapi_connection.execute(statement))


def _summary_us(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(value * 1e6 for value in seconds)

    def at(fraction: float) -> float:
        return round(ordered[max(1, math.ceil(fraction * len(ordered))) - 1], 1)

    return {"p50": at(0.50), "p90": at(0.90), "p99": at(0.99), "max": round(ordered[-1], 1)}


async def commit_cost(workdir: Path, appends: int = 4000) -> dict[str, Any]:
    """Time ``appends`` appends (half in each mode); microseconds per append."""
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
        conversation = await store.create_conversation(
            NewConversation(site=site, visitor_id="cost-visitor"), time.time()
        )
        server_mode = await store.durability()
        timings: dict[str, list[float]] = {mode: [] for mode in MODES}
        for block in range(max(1, appends // (BLOCK * len(MODES)))):
            for mode in MODES:
                await _set_synchronous(store, mode)
                for index in range(BLOCK):
                    message = NewMessage(
                        conversation.id, "customer", "text", "cost", f"c{block}-{mode}-{index}"
                    )
                    started = time.perf_counter()
                    await store.append_message(message, time.time())
                    timings[mode].append(time.perf_counter() - started)
        await _set_synchronous(store, server_mode)
    finally:
        await store.close()
    summaries = {mode: _summary_us(values) for mode, values in timings.items()}
    return {
        "server_synchronous": server_mode,
        "appends_per_mode": len(timings["FULL"]),
        "append_us": summaries,
        "durable_commit_extra_us_p50": round(
            summaries["FULL"]["p50"] - summaries["NORMAL"]["p50"], 1
        ),
    }


def describe(cost: dict[str, Any]) -> str:
    """One line for a report."""
    full, normal = cost["append_us"]["FULL"], cost["append_us"]["NORMAL"]
    return (
        f"append on SQLite, server runs synchronous={cost['server_synchronous']}: "
        f"FULL p50 {full['p50']:.0f} µs p99 {full['p99']:.0f} µs; "
        f"NORMAL p50 {normal['p50']:.0f} µs p99 {normal['p99']:.0f} µs; "
        f"durable commit costs {cost['durable_commit_extra_us_p50']:.0f} µs a message at p50"
    )


def main() -> int:
    cli = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cli.add_argument("--appends", type=int, default=4000, help="appends, half in each mode")
    cli.add_argument("--workdir", type=Path, help="where the database goes (default: a temp dir)")
    args = cli.parse_args()
    with tempfile.TemporaryDirectory(prefix="porchlight-cost-", dir=args.workdir) as workdir:
        cost = asyncio.run(commit_cost(Path(workdir), args.appends))
    print(describe(cost))
    print(json.dumps(cost, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
