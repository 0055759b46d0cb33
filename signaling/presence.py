"""Who is on duty: staff presence, connected sockets, capacity, and who to ring next."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from signaling.ports import StaffMember, TimerHandle

Status = Literal["available", "away", "offline"]


@dataclass(slots=True)
class Agent:
    """A staff member as routing sees them.

    ``status`` is what they chose; ``sids`` are their open console sockets. An agent whose
    last socket dropped keeps ``active`` conversations until ``grace`` fires.
    """

    member: StaffMember
    status: Status = "away"
    sids: set[str] = field(default_factory=set)
    active: set[str] = field(default_factory=set)
    ringing: str | None = None
    idle_since: float = 0.0
    grace: TimerHandle | None = None
    media: frozenset[str] = frozenset()

    @property
    def connected(self) -> bool:
        return bool(self.sids)

    @property
    def has_capacity(self) -> bool:
        return len(self.active) < self.member.max_chats

    def speaks(self, language: str | None) -> bool:
        """Matches on the primary subtag (``pt-BR`` matches ``pt``); no languages means any."""
        if not language or not self.member.languages:
            return True
        wanted = language.split("-")[0].lower()
        return any(own.split("-")[0].lower() == wanted for own in self.member.languages)

    @property
    def presence(self) -> Status:
        """What others see: offline while no console is connected."""
        return self.status if self.connected else "offline"


class Roster:
    """All known agents, keyed by staff id."""

    def __init__(self) -> None:
        self._agents: dict[int, Agent] = {}
        self._by_sid: dict[str, int] = {}

    def get(self, staff_id: int) -> Agent | None:
        return self._agents.get(staff_id)

    def ensure(self, member: StaffMember, now: float) -> Agent:
        """The agent for ``member``, created (away, idle since now) on first sight."""
        agent = self._agents.get(member.id)
        if agent is None:
            agent = Agent(member=member, idle_since=now)
            self._agents[member.id] = agent
        else:
            agent.member = member
        return agent

    def attach(self, member: StaffMember, sid: str, now: float) -> Agent:
        """Record a console socket; returns the agent."""
        agent = self.ensure(member, now)
        agent.sids.add(sid)
        self._by_sid[sid] = member.id
        return agent

    def detach(self, sid: str) -> Agent | None:
        """Forget a socket; returns its agent (which may still have other sockets)."""
        staff_id = self._by_sid.pop(sid, None)
        if staff_id is None:
            return None
        agent = self._agents[staff_id]
        agent.sids.discard(sid)
        return agent

    def staff_id_of(self, sid: str) -> int | None:
        return self._by_sid.get(sid)

    def all(self) -> Iterable[Agent]:
        return self._agents.values()

    def pick(
        self, language: str | None, exclude: set[int], needs: frozenset[str] = frozenset()
    ) -> Agent | None:
        """The longest-idle agent who is connected, available, not being rung, has capacity,
        speaks ``language`` and has the devices a call ``needs`` ready; None if nobody fits."""
        fits = [
            agent
            for agent in self._agents.values()
            if agent.connected
            and agent.status == "available"
            and agent.ringing is None
            and agent.has_capacity
            and agent.speaks(language)
            and needs <= agent.media
            and agent.member.id not in exclude
        ]
        return min(fits, key=lambda agent: (agent.idle_since, agent.member.id), default=None)

    def open_slots(self) -> int:
        """Free chat slots among connected, available agents (for wait estimates)."""
        return sum(
            max(0, agent.member.max_chats - len(agent.active))
            for agent in self._agents.values()
            if agent.connected and agent.status == "available"
        )

    def serving(self) -> int:
        """Connected, available agents."""
        return sum(1 for a in self._agents.values() if a.connected and a.status == "available")
