"""An eight-hour shift, simulated on the real routing code with a virtual clock: the
``Router`` (with its ``Shift`` and ``Calls``) over the in-memory fakes of
``tests/unit/test_routing.py``, time moved by ``FakeClock``, so a day runs in seconds.

    .venv/bin/python bench/shift.py [--seed 7] [--agents 12] [--json out.json]

The day (09:00-17:00): arrivals follow a curve with a lunchtime peak; 70 % chats, 20 %
voice, 10 % video, in four languages. Twelve agents in four profiles (languages, capacity,
devices). Each takes two 15-minute breaks and a 30-minute lunch, staggered across the team.
Agents take 2-8 s to answer, decline 5 % of rings and let 5 % time out; they end chats after
2-15 minutes (calls 2-10), pick an outcome during wrap-up, and sometimes press "Ready now"
or "+30 s". Customers give up after 1-6 minutes of waiting.

It prints the conversations each agent handled, with the max/min ratio among agents of the
same profile (goal <= 1.3); rings sent to agents at capacity, in a call (for a call) or in
wrap-up (goal 0); abandoned conversations; the service level (accepted within 30 s of
arriving, of all arrivals) and the longest wait; as a table, then as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from signaling.calls import Calls
from signaling.domain_events import EventKind
from signaling.errors import ProtocolError
from signaling.event_log import EventLog
from signaling.events import ServerEvent
from signaling.ports import (
    AwayReason,
    Conversation,
    NewConversation,
    ShiftPolicy,
    StaffMember,
)
from signaling.routing import Router, RoutingPolicy
from signaling.views import StaffHandles
from tests.fakes import FakeClock, FakeIce, MemoryStore, RecordingDelivery

HOUR = 3600.0
DAY = 8 * HOUR  # 09:00 to 17:00
RULES = ShiftPolicy(
    wrapup_chat_s=0.0,
    wrapup_call_s=30.0,
    outcome_tags=("resolved", "follow-up", "escalated"),
    call_cap=4,
    pause_s=120.0,
)
ROUTING = RoutingPolicy(ring_timeout=20.0, grace_period=30.0)
MIC = frozenset({"microphone"})
AV = frozenset({"microphone", "camera"})
# name, count, languages, chats at once, devices
PROFILES: list[tuple[str, int, tuple[str, ...], int, frozenset[str]]] = [
    ("en, 3 chats, video", 5, ("en",), 3, AV),
    ("en+es, 2 chats, voice", 3, ("en", "es"), 2, MIC),
    ("en+de, 3 chats, chat only", 2, ("en", "de"), 3, frozenset()),
    ("en+fr, 1 chat, video", 2, ("en", "fr"), 1, AV),
]
CHANNELS = [("chat", 0.7), ("voice", 0.2), ("video", 0.1)]
LANGUAGES = [("en", 0.72), ("es", 0.14), ("de", 0.09), ("fr", 0.05)]


def arrivals_per_hour(t: float) -> float:
    """The arrival curve: a morning ramp, a lunchtime peak around 12:30, a calmer
    afternoon (``t`` is seconds since 09:00)."""
    hour = 9 + t / HOUR
    base = 50 + 20 * min(1.0, (hour - 9) / 1.5)
    peak = 60 * math.exp(-(((hour - 12.5) / 0.8) ** 2))
    return base + peak - (15 if hour > 15.5 else 0)


def pick(rng: random.Random, weighted: list[tuple[str, float]]) -> str:
    return rng.choices([v for v, _ in weighted], [w for _, w in weighted])[0]


@dataclass
class Agent:
    member: StaffMember
    profile: str
    media: frozenset[str]
    handled: int = 0
    rung: int = 0
    declined: int = 0
    timed_out: int = 0
    away: bool = False
    wrapping: str | None = None  # the conversation whose wrap-up they are in


@dataclass
class Day:
    arrived: dict[str, float] = field(default_factory=dict)
    accepted: dict[str, float] = field(default_factory=dict)
    gave_up: dict[str, float] = field(default_factory=dict)
    bad_rings: Counter[str] = field(default_factory=Counter)


class Simulation:
    def __init__(self, seed: int, agents: int) -> None:
        self.rng = random.Random(seed)
        self.store = MemoryStore()
        self.clock = FakeClock()
        self.start = self.clock.now()
        self.delivery = Reactions(self)
        self.router = Router(
            self.store,
            self.store,
            self.clock,
            self.delivery,
            ROUTING,
            StaffHandles("b" * 40),
            "node-a",
            EventLog(self.store),
        )
        self.calls = Calls(self.store, self.clock, self.router, self.delivery, FakeIce())
        self.site = self.store.add_site("shift", RULES)
        self.day = Day()
        self.agents: dict[int, Agent] = {}
        made = 0
        for profile, count, languages, chats, media in PROFILES:
            for _ in range(count):
                if made == agents:
                    break
                member = self.store.add_staff(
                    f"Agent{made + 1:02}", languages=languages, max_chats=chats
                )
                self.agents[member.id] = Agent(member, profile, media)
                made += 1

    def later(self, delay: float, action: Any) -> None:
        self.clock.call_later(delay, action)

    # -- the team ---------------------------------------------------------------------------

    async def clock_in(self) -> None:
        await self.router.start(alone=True)
        team = list(self.agents.values())
        for n, agent in enumerate(team):
            await self.router.staff_connected(agent.member, f"sid-{agent.member.id}")
            await self.router.set_presence(agent.member, "available", agent.media)
            # Breaks and lunches staggered across the team, the same length for everyone.
            spread = n / max(1, len(team) - 1)
            self.away_at(agent, 1.0 * HOUR + spread * 0.9 * HOUR, 15 * 60, "break")
            self.away_at(agent, 2.5 * HOUR + spread * 2.0 * HOUR, 30 * 60, "lunch")
            self.away_at(agent, 5.75 * HOUR + spread * 1.2 * HOUR, 15 * 60, "break")

    def away_at(self, agent: Agent, at: float, length: float, reason: AwayReason) -> None:
        async def leave() -> None:
            agent.away = True
            await self.router.set_presence(agent.member, "away", reason=reason)

        async def back() -> None:
            agent.away = False
            await self.router.set_presence(agent.member, "available", agent.media)

        self.later(at, leave)
        self.later(at + length, back)

    async def rung(self, agent: Agent, conversation_id: str) -> None:
        """A ring reached ``agent``: check it was fair to send, then answer like a person."""
        agent.rung += 1
        now = self.clock.now()
        staff_id = agent.member.id
        held = await self.store.assigned_to(staff_id)
        if len(held) >= agent.member.max_chats:
            self.day.bad_rings["at capacity"] += 1
        if await self.store.wrapup_of(staff_id, now) is not None:
            self.day.bad_rings["in wrap-up"] += 1
        conversation = self.store.conversations[conversation_id]
        if conversation.channel != "chat" and await self.store.running_call_of_staff(staff_id):
            self.day.bad_rings["in a call"] += 1
        if agent.away:
            self.day.bad_rings["away"] += 1
        roll = self.rng.random()
        if roll < 0.05:
            agent.timed_out += 1  # lets it ring out
            return
        if roll < 0.10:
            self.later(self.rng.uniform(1, 4), lambda: self.decline(agent, conversation_id))
            return
        self.later(self.rng.uniform(2, 8), lambda: self.accept(agent, conversation_id))

    async def decline(self, agent: Agent, conversation_id: str) -> None:
        try:
            await self.router.decline(agent.member, conversation_id)
            agent.declined += 1
        except ProtocolError:
            pass  # the customer left, or the ring timed out first

    async def accept(self, agent: Agent, conversation_id: str) -> None:
        try:
            active = await self.router.accept(agent.member, conversation_id)
        except ProtocolError:
            return
        agent.handled += 1
        self.day.accepted[conversation_id] = self.clock.now()
        if active.channel != "chat":
            await self.calls.start(active, "customer", active.channel)  # type: ignore[arg-type]
            length = self.rng.uniform(2, 10) * 60
        else:
            length = self.rng.uniform(2, 15) * 60
        self.later(length, lambda: self.finish(conversation_id))

    async def finish(self, conversation_id: str) -> None:
        current = self.store.conversations[conversation_id]
        if current.status == "active":
            by = "staff" if self.rng.random() < 0.6 else "customer"
            await self.router.end(current, by)  # type: ignore[arg-type]

    async def wrapping_up(self, agent: Agent, view: dict[str, Any]) -> None:
        """During a wrap-up: pick the outcome, and now and then Ready now or +30 s (once per
        wrap-up: "+30 s" announces it again)."""
        if agent.wrapping == view["conversation_id"]:
            return
        agent.wrapping = view["conversation_id"]
        tag = self.rng.choice(view["tags"])
        self.later(self.rng.uniform(3, 15), lambda: self.tag(agent, view["conversation_id"], tag))
        if view["pause"]:
            return
        roll = self.rng.random()
        if roll < 0.3:
            self.later(self.rng.uniform(8, 20), lambda: self.router.shift.ready(agent.member))
        elif roll < 0.4:
            self.later(self.rng.uniform(15, 25), lambda: self.router.shift.extend(agent.member, 30))

    async def tag(self, agent: Agent, conversation_id: str, tag: str) -> None:
        await self.router.shift.tag(agent.member, conversation_id, tag)

    # -- customers --------------------------------------------------------------------------

    def next_arrival(self) -> None:
        t = self.clock.now() - self.start
        gap = self.rng.expovariate(arrivals_per_hour(t) / HOUR)
        if t + gap < DAY:
            self.later(gap, self.arrive)

    async def arrive(self) -> None:
        self.next_arrival()
        new = NewConversation(
            site=self.site,
            visitor_id=f"visitor-{len(self.day.arrived)}",
            channel=pick(self.rng, CHANNELS),
            language=pick(self.rng, LANGUAGES),
        )
        conversation = await self.store.create_conversation(new, self.clock.now())
        self.day.arrived[conversation.id] = self.clock.now()
        await self.router.enqueue(conversation)
        patience = self.rng.uniform(1, 6) * 60
        self.later(patience, lambda: self.give_up(conversation.id))

    async def give_up(self, conversation_id: str) -> None:
        current: Conversation = self.store.conversations[conversation_id]
        if current.status in ("queued", "ringing"):
            self.day.gave_up[conversation_id] = self.clock.now()
            await self.router.end(current, "customer")

    # -- the day ----------------------------------------------------------------------------

    async def run(self) -> None:
        await self.clock_in()
        self.next_arrival()

        async def sweep() -> None:
            await self.router.sweep()
            self.later(1.0, sweep)

        self.later(1.0, sweep)
        # Until 17:00, then until the last customer is served or gives up.
        await self.clock.advance(DAY + HOUR)

    def report(self, wall: float) -> dict[str, Any]:
        waits = [
            self.day.accepted[c] - at
            for c, at in self.day.arrived.items()
            if c in self.day.accepted
        ]
        within = sum(1 for w in waits if w <= 30)
        arrived = len(self.day.arrived)
        groups: dict[str, list[int]] = defaultdict(list)
        for agent in self.agents.values():
            groups[agent.profile].append(agent.handled)
        ratios = {
            profile: round(max(counts) / max(1, min(counts)), 2)
            for profile, counts in groups.items()
            if len(counts) > 1
        }
        unanswered = [at - self.day.arrived[c] for c, at in self.day.gave_up.items()]
        hourly = Counter(9 + int((at - self.start) // HOUR) for at in self.day.arrived.values())
        # What analytics reads from the event log.
        log = self.store.events
        wrapups = [e.detail for e in log if e.kind == EventKind.WRAPUP_ENDED]
        away: Counter[str] = Counter()
        for e in log:
            if e.kind == EventKind.PRESENCE_CHANGED and "away_s" in e.detail:
                away[e.detail["away_reason"]] += e.detail["away_s"]
        tags = Counter(e.detail["tag"] for e in log if e.kind == EventKind.CONVERSATION_TAGGED)
        return {
            "agents": [
                {
                    "name": a.member.name,
                    "profile": a.profile,
                    "handled": a.handled,
                    "rung": a.rung,
                    "declined": a.declined,
                    "timed_out": a.timed_out,
                }
                for a in self.agents.values()
            ],
            "max_min_ratio_by_profile": ratios,
            "worst_ratio": max(ratios.values(), default=1.0),
            "rings_unfit": dict(self.day.bad_rings),
            "rings_unfit_total": sum(self.day.bad_rings.values()),
            "arrived": arrived,
            "accepted": len(waits),
            "abandoned": len(self.day.gave_up),
            "service_level_30s": round(within / max(1, arrived), 3),
            "longest_wait_s": round(max(waits, default=0.0), 1),
            "longest_unanswered_s": round(max(unanswered, default=0.0), 1),
            "arrivals_by_hour": {f"{h:02}:00": hourly[h] for h in sorted(hourly)},
            "wrapups": len(wrapups),
            "wrapups_ended_early": sum(1 for d in wrapups if d["how"] == "ready"),
            "pauses_after_calls_in_a_row": sum(1 for d in wrapups if d["pause"]),
            "wrapup_minutes": round(sum(d["duration_s"] for d in wrapups) / 60, 1),
            "away_minutes_by_reason": {r: round(s / 60, 1) for r, s in sorted(away.items())},
            "outcome_tags": dict(tags),
            "wall_s": round(wall, 2),
        }


class Reactions(RecordingDelivery):
    """The ``Delivery`` port: what reaches agents' consoles makes them act (a ring, a
    wrap-up); everything else is dropped, not kept, so a day does not fill memory."""

    def __init__(self, sim: Simulation) -> None:
        super().__init__()
        self.sim = sim

    async def to_staff(
        self, staff_id: int, event: ServerEvent, data: dict[str, Any], skip_sid: str | None = None
    ) -> None:
        agent = self.sim.agents.get(staff_id)
        if agent is None:
            return
        if event == ServerEvent.RING:
            await self.sim.rung(agent, data["conversation"]["id"])
        elif event == ServerEvent.WRAPUP and data["wrapup"] is not None:
            await self.sim.wrapping_up(agent, data["wrapup"])

    async def to_customer(
        self,
        conversation_id: str,
        event: ServerEvent,
        data: dict[str, Any],
        skip_sid: str | None = None,
    ) -> None:
        return

    async def to_all_staff(self, event: ServerEvent, data: dict[str, Any]) -> None:
        return


def table(result: dict[str, Any]) -> str:
    lines = [
        f"{'agent':<9} {'profile':<27} {'handled':>7} {'rung':>5} {'declined':>8} {'timeout':>7}"
    ]
    for a in result["agents"]:
        lines.append(
            f"{a['name']:<9} {a['profile']:<27} {a['handled']:>7} {a['rung']:>5}"
            f" {a['declined']:>8} {a['timed_out']:>7}"
        )
    lines.append("")
    for profile, ratio in result["max_min_ratio_by_profile"].items():
        verdict = "ok" if ratio <= 1.3 else "over goal"
        lines.append(f"max/min handled, {profile:<27} {ratio:>5.2f}  (goal <= 1.3: {verdict})")
    unfit = result["rings_unfit_total"]
    lines += [
        f"rings to agents at capacity, in a call or in wrap-up: {unfit} (goal 0)"
        + (f" {result['rings_unfit']}" if unfit else ""),
        f"arrived {result['arrived']}, accepted {result['accepted']}, "
        f"abandoned {result['abandoned']}",
        f"service level (accepted within 30 s of arrival): {result['service_level_30s']:.1%}",
        f"longest wait to accept: {result['longest_wait_s']:.0f} s; "
        f"longest wait of one who gave up: {result['longest_unanswered_s']:.0f} s",
        "arrivals by hour: " + ", ".join(f"{h} {n}" for h, n in result["arrivals_by_hour"].items()),
        f"wrap-ups {result['wrapups']} ({result['wrapup_minutes']} min), ended early "
        f"{result['wrapups_ended_early']}, pauses after calls in a row "
        f"{result['pauses_after_calls_in_a_row']}",
        f"away (minutes, from the event log): {result['away_minutes_by_reason']}",
        f"outcome tags: {result['outcome_tags']}",
        f"wall time: {result['wall_s']:.1f} s",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--agents", type=int, default=12)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.agents < 10:
        parser.error("at least 10 agents")
    sim = Simulation(args.seed, args.agents)
    began = time.perf_counter()
    asyncio.run(sim.run())
    result = sim.report(time.perf_counter() - began)
    document = {"bench": "shift", "seed": args.seed, "result": result}
    if args.json:
        args.json.write_text(json.dumps(document, indent=2) + "\n")
    print(table(result))
    print(json.dumps(document, indent=2))


if __name__ == "__main__":
    main()
