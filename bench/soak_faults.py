"""The soak's faults: the plan, the injector, and the recovery measured after each
(bench/soak.py)."""

from __future__ import annotations

import asyncio
import time
from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from soak_account import check
from soak_fleet import KINDS, LABELS, SHOP, SITE_KEY, Fleet, Parameters, log, summary_ms
from soak_link import Link
from soak_storm import Storm

DIRECTIONS = ("a->b", "b->a")
SETTLE = 10.0  # at least this long between one fault's recovery and the next fault

# -- faults ---------------------------------------------------------------------------------


@dataclass
class Fault:
    kind: str
    target: str  # a node's name, "redis" or "postgres"


def plan_faults(p: Parameters, restartable: bool) -> tuple[list[Fault], list[str]]:
    """Faults of every kind interleaved, node faults alternating between A and B; storms
    in the middle."""
    notes = []
    counts = {
        "kill": p.kills,
        "redis": p.redis_restarts,
        "pg_terminate": p.pg_terminates,
        "sigstop": p.sigstops,
        "pg_restart": p.pg_restarts,
    }
    if not restartable and counts["pg_restart"]:
        notes.append(
            f"shared PostgreSQL: {counts['pg_restart']} restarts run as connection terminations"
        )
        counts["pg_terminate"] += counts.pop("pg_restart")
    targets = {"redis": "redis", "pg_terminate": "postgres", "pg_restart": "postgres"}
    used: Counter[str] = Counter()
    faults: list[Fault] = []
    while any(used[kind] < n for kind, n in counts.items()):
        for kind, n in counts.items():
            if used[kind] < n:
                target = targets.get(kind) or ("a" if used[kind] % 2 == 0 else "b")
                faults.append(Fault(kind, target))
                used[kind] += 1
    middle = len(faults) // 2
    faults[middle:middle] = [Fault("storm", "b") for _ in range(p.storms)]
    return faults, notes


@dataclass
class FaultResult:
    index: int
    kind: str
    target: str
    at_s: float  # since the soak started
    out_s: float  # from the fault until the server was back
    affected: int
    back: int
    stuck: int
    reconnect_ms: dict[str, int]
    reconnect_s: list[float]
    errors_after_back: int
    # Redis: until cross-node hints were heard again both ways (the later of the two).
    hints_resumed_ms: int | None = None
    hints_by_direction_ms: dict[str, int] = field(default_factory=dict)
    storm: dict[str, Any] | None = None
    check: dict[str, int] = field(default_factory=dict)
    note: str = ""


class Injector:
    """Runs the faults and measures the recovery from each."""

    def __init__(self, fleet: Fleet, started: float) -> None:
        self.fleet = fleet
        self.p = fleet.params
        self.started = started
        self.results: list[FaultResult] = []
        self.done = False

    async def run(self, faults: list[Fault]) -> None:
        spacing = self.p.messages / self.p.rate / (len(faults) + 1)
        previous_end = time.monotonic()
        try:
            for index, fault in enumerate(faults, 1):
                due = max(self.started + index * spacing, previous_end + SETTLE)
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                result = await self.one(index, fault)
                self.results.append(result)
                previous_end = time.monotonic()
                log(self.describe(result))
        finally:
            self.done = True

    def describe(self, r: FaultResult) -> str:
        ms = r.reconnect_ms
        text = (
            f"#{r.index} {LABELS[r.kind]} {r.target}: out {r.out_s:.1f} s, "
            f"affected {r.affected}, back {r.back}, stuck {r.stuck}, "
            f"p50 {ms.get('p50', '-')} p95 {ms.get('p95', '-')} max {ms.get('max', '-')} ms, "
            f"errors after back {r.errors_after_back}"
        )
        if r.hints_resumed_ms is not None:
            text += f", cross-node hints back both ways after {r.hints_by_direction_ms} ms"
        if r.storm:
            text += f", storm {r.storm}"
        return f"{text}; {r.check}{'; ' + r.note if r.note else ''}"

    async def one(self, index: int, fault: Fault) -> FaultResult:
        fleet = self.fleet
        storm: Storm | None = None
        if fault.kind == "storm":
            node = fleet.nodes[fault.target]
            storm = Storm(
                node.url, self.p.storm_sockets, SITE_KEY, SHOP, fleet.workdir / "storm.log"
            )
            log(f"opening {self.p.storm_sockets} storm sockets on node {fault.target}")
            await storm.start()
            await storm.report()  # forget the first connects
        try:
            t0 = time.monotonic()
            note = await self.inject(fault)
            back = time.monotonic()
            in_flight = {
                id(link) for link in fleet.links if any(t < back for t in link.inflight.values())
            }
            result = await self.observe(index, fault, t0, back, in_flight, storm)
        finally:
            if storm is not None:
                await storm.stop()
        result.note = note
        result.check = (await check(fleet)).line()
        return result

    async def inject(self, fault: Fault) -> str:
        """Do the damage and return once the server is back; a note on what was done."""
        fleet, p = self.fleet, self.p
        if fault.kind in ("kill", "storm"):
            node = fleet.nodes[fault.target]
            await node.kill()
            await asyncio.sleep(p.down)
            node.spawn()
            await node.ready()
            return ""
        if fault.kind == "sigstop":
            node = fleet.nodes[fault.target]
            node.freeze()
            await asyncio.sleep(p.stop_seconds)
            node.thaw()
            return ""
        if fault.kind == "redis":
            fleet.redis.kill()
            await asyncio.sleep(p.down)
            await asyncio.to_thread(fleet.redis.start)
            return ""
        if fault.kind == "pg_terminate":
            ended = await fleet.postgres.terminate(fleet.database)
            return f"{ended} connections terminated"
        if fault.kind == "pg_restart":
            await asyncio.to_thread(fleet.postgres.stop, "immediate")
            await asyncio.sleep(p.down)
            await asyncio.to_thread(fleet.postgres.start)
            return ""
        raise ValueError(fault.kind)

    async def observe(
        self,
        index: int,
        fault: Fault,
        t0: float,
        back: float,
        in_flight: set[int],
        storm: Storm | None,
    ) -> FaultResult:
        fleet, p = self.fleet, self.p
        affected = [
            link
            for link in fleet.links
            if id(link) in in_flight or any(t0 <= t <= back for t in link.troubles)
        ]

        def recovered(link: Link) -> float | None:
            at = bisect_left(link.oks, back)
            return link.oks[at] - back if at < len(link.oks) else None

        hints_back: dict[str, float] = {}  # direction → first cross-node hint after back
        storm_backs: list[float] = []
        storm_open = 0
        deadline = back + p.recover_timeout
        while time.monotonic() < deadline:
            pending = [link for link in affected if recovered(link) is None]
            for direction in DIRECTIONS if fault.kind == "redis" else ():
                heard = fleet.journal.cross_hints.get(direction, [])
                at = bisect_left(heard, back)
                if direction not in hints_back and at < len(heard):
                    hints_back[direction] = heard[at] - back
            if storm is not None:
                report = await storm.report()
                storm_backs.extend(report["backs"])
                storm_open = report["open"]
            storm_done = storm is None or storm_open >= p.storm_sockets
            hints_done = fault.kind != "redis" or len(hints_back) == len(DIRECTIONS)
            if not pending and storm_done and hints_done:
                break
            await asyncio.sleep(0.25)
        observed_until = time.monotonic()
        times = [t for t in (recovered(link) for link in affected) if t is not None]
        errors = sum(1 for link in fleet.links for t in link.troubles if back < t <= observed_until)
        storm_figures = None
        if storm is not None:
            after = [t - back for t in storm_backs]
            storm_figures = {
                "sockets": p.storm_sockets,
                "back": len(after),
                "open": storm_open,
                **summary_ms(after),
            }
        return FaultResult(
            index=index,
            kind=fault.kind,
            target=fault.target,
            at_s=round(t0 - self.started, 1),
            out_s=round(back - t0, 2),
            affected=len(affected),
            back=len(times),
            stuck=len(affected) - len(times),
            reconnect_ms=summary_ms(times),
            reconnect_s=[round(t, 3) for t in times],
            errors_after_back=errors,
            hints_resumed_ms=(
                round(max(hints_back.values()) * 1000)
                if len(hints_back) == len(DIRECTIONS)
                else None
            ),
            hints_by_direction_ms={d: round(t * 1000) for d, t in hints_back.items()},
            storm=storm_figures,
        )


def kinds_summary(results: list[FaultResult]) -> list[dict[str, Any]]:
    """One row per kind of fault: the reconnect times of all its faults pooled, and the
    account after the last one."""
    rows = []
    for kind in KINDS:
        of_kind = [r for r in results if r.kind == kind]
        if not of_kind:
            continue
        times = [t for r in of_kind for t in r.reconnect_s]
        hints = [r.hints_resumed_ms for r in of_kind if r.hints_resumed_ms is not None]
        row: dict[str, Any] = {
            "kind": kind,
            "faults": len(of_kind),
            "affected": sum(r.affected for r in of_kind),
            "back": sum(r.back for r in of_kind),
            "stuck": sum(r.stuck for r in of_kind),
            "reconnect_ms": summary_ms(times),
            "errors_after_back": sum(r.errors_after_back for r in of_kind),
            "check": of_kind[-1].check,
        }
        if hints:
            row["hints_resumed_ms"] = {"max": max(hints), "values": hints}
        storms = [r.storm for r in of_kind if r.storm]
        if storms:
            row["storm"] = storms
        rows.append(row)
    return rows
