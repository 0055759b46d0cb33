"""A burst of new conversations: N customers, already connected, all send
``conversation.start`` at once while staff consoles accept every ring, against the design
budget "a burst of 1,000 new conversations admitted within twice a bare relay's time".

Admitted: the customer's ``conversation.start`` is acknowledged (the conversation is stored
and in the queue). Also measured: until every conversation is accepted, and the bytes that
one away console (never rung) receives meanwhile: one small ``queue.changed`` per change, where
the whole queue used to be re-sent on each. The floor is ``bench/echo_server.py`` with the same
clients (it rings round-robin and stores nothing; it has no away console to observe).

    .venv/bin/python bench/queue_burst.py [--conversations 200 1000] [--json out.json]

Only 127.0.0.1 is used (the real server runs as ``porchlight serve`` on SQLite, as in
``bench/chat_latency.py``, whose helpers this reuses).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from chat_latency import (
    CALL_TIMEOUT,
    CUSTOMER_NS,
    CUSTOMER_PAGE,
    SITE_KEY,
    STAFF_NS,
    Assignments,
    Clients,
    Console,
    Customer,
    Deliveries,
    Parameters,
    ServerProcess,
    batches,
    client,
    echo_server,
    porchlight,
    refusal_code,
    sign_in,
    staff_email,
)

from server.auth import SESSION_COOKIE


@dataclass
class Result:
    conversations: int
    system: str
    admitted_s: float
    accepted_s: float
    observer_events: int
    observer_bytes: int
    observer_largest_event: int


class Observer:
    """An away console: never rung, counts what every staff console receives."""

    def __init__(self, url: str, cookie: str | None) -> None:
        self.url = url
        self.cookie = cookie
        self.sio = client()
        self.events = 0
        self.bytes = 0
        self.largest = 0
        self.sio.on("*", self._count, namespace=STAFF_NS)

    async def _count(self, _event: str, data: Any = None) -> None:
        size = len(json.dumps(data, separators=(",", ":")))
        self.events += 1
        self.bytes += size
        self.largest = max(self.largest, size)

    async def connect(self) -> None:
        headers = {"Origin": self.url}
        if self.cookie is not None:
            headers["Cookie"] = f"{SESSION_COOKIE}={self.cookie}"
        await self.sio.connect(
            self.url,
            namespaces=[STAFF_NS],
            transports=["websocket"],
            headers=lambda: dict(headers),
            wait_timeout=CALL_TIMEOUT,
        )


async def connect(customer: Customer) -> None:
    await customer.sio.connect(
        customer.url,
        namespaces=[CUSTOMER_NS],
        transports=["websocket"],
        auth={"site": SITE_KEY, "host": CUSTOMER_PAGE},
        headers=lambda: {"Origin": customer.url},
        wait_timeout=CALL_TIMEOUT,
    )


async def start(customer: Customer) -> str:
    response = await customer.sio.call(
        "conversation.start", {}, namespace=CUSTOMER_NS, timeout=CALL_TIMEOUT * 4
    )
    if refusal_code(response) is not None:
        raise RuntimeError(f"conversation.start refused: {response}")
    customer.conversation_id = str(response["conversation"]["id"])
    return customer.conversation_id


async def measure(
    system: str, server: ServerProcess, cookies: list[str | None], n: int, params: Parameters
) -> Result:
    assignments = Assignments()
    consoles = [Console(server.url, cookie, Deliveries(1, assignments)) for cookie in cookies[1:]]
    observer = Observer(server.url, cookies[0])
    customers = [Customer(server.url) for _ in range(n)]
    clients = Clients(consoles, customers, Deliveries(1, assignments))
    try:
        if system == "porchlight":  # the floor would ring it like any console
            await observer.connect()
        await asyncio.gather(*(console.connect() for console in consoles))
        for batch in batches(customers, params.batch):
            await asyncio.gather(*(connect(customer) for customer in batch))
        began = time.perf_counter()
        ids = await asyncio.gather(*(start(customer) for customer in customers))
        admitted = time.perf_counter() - began
        await assignments.wait_accepted(list(ids))
        accepted = time.perf_counter() - began
    finally:
        await clients.close()
        if observer.sio.connected:
            await observer.sio.disconnect()
    return Result(
        conversations=n,
        system=system,
        admitted_s=round(admitted, 3),
        accepted_s=round(accepted, 3),
        observer_events=observer.events,
        observer_bytes=observer.bytes,
        observer_largest_event=observer.largest,
    )


async def measure_porchlight(n: int, params: Parameters) -> Result:
    with tempfile.TemporaryDirectory(prefix="porchlight-bench-") as workdir:
        # Capacity for n among the consoles that answer (the first one is away).
        capacity = n * params.staff // (params.staff - 1) + params.staff
        async with porchlight(Path(workdir), capacity, params) as server:
            emails = [staff_email(index) for index in range(params.staff)]
            cookies: list[str | None] = list(
                await asyncio.gather(*(sign_in(server.url, email) for email in emails))
            )
            return await measure("porchlight", server, cookies, n, params)


async def measure_floor(n: int, params: Parameters) -> Result:
    with tempfile.TemporaryDirectory(prefix="porchlight-bench-") as workdir:
        async with echo_server(Path(workdir)) as server:
            return await measure("floor", server, [None] * params.staff, n, params)


def table(results: list[Result]) -> str:
    lines = [
        f"{'N':>6}  {'system':<11}{'admitted s':>11}{'accepted s':>11}"
        f"{'observer events':>17}{'bytes':>10}{'largest':>9}"
    ]
    for r in results:
        lines.append(
            f"{r.conversations:>6}  {r.system:<11}{r.admitted_s:>11.3f}{r.accepted_s:>11.3f}"
            f"{r.observer_events:>17}{r.observer_bytes:>10}{r.observer_largest_event:>9}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cli.add_argument("--conversations", type=int, nargs="+", default=[200, 1000])
    cli.add_argument("--staff", type=int, default=11, help="consoles; the first one is away")
    cli.add_argument("--batch", type=int, default=50, help="customers connecting at once")
    cli.add_argument("--json", type=Path, help="also write the JSON report here")
    args = cli.parse_args(argv)
    params = Parameters(
        conversations=tuple(args.conversations),
        messages=0,
        warmup=0,
        rate=0.0,
        max_in_flight=1,
        staff=args.staff,
        batch=args.batch,
    )

    async def run_all() -> list[Result]:
        results = []
        for n in params.conversations:
            systems = (("porchlight", measure_porchlight), ("floor", measure_floor))
            for name, measure_system in systems:
                print(f"N={n}: {name} ...", file=sys.stderr, flush=True)
                results.append(await measure_system(n, params))
        return results

    results = asyncio.run(run_all())
    document = {
        "benchmark": "queue_burst",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "nproc": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "parameters": {"staff": params.staff, "batch": params.batch},
        "results": [asdict(r) for r in results],
    }
    if args.json is not None:
        args.json.write_text(json.dumps(document, indent=2) + "\n")
    print(table(results))
    print(json.dumps(document, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
