from signaling.ports import StaffMember
from signaling.presence import Roster


def member(staff_id: int, languages: tuple[str, ...] = (), max_chats: int = 3) -> StaffMember:
    return StaffMember(
        staff_id, f"s{staff_id}@x.test", f"S{staff_id}", "agent", languages, max_chats
    )


def online(roster: Roster, m: StaffMember, idle_since: float) -> None:
    agent = roster.attach(m, f"sid{m.id}", idle_since)
    agent.status = "available"
    agent.idle_since = idle_since


def test_longest_idle_is_picked_first() -> None:
    roster = Roster()
    online(roster, member(1), idle_since=50)
    online(roster, member(2), idle_since=10)
    picked = roster.pick(None, exclude=set())
    assert picked is not None and picked.member.id == 2


def test_capacity_ringing_away_and_disconnected_are_skipped() -> None:
    roster = Roster()
    for i in range(1, 5):
        online(roster, member(i, max_chats=1), idle_since=i)
    roster.get(1).active.add("c")  # type: ignore[union-attr]
    roster.get(2).ringing = "d"  # type: ignore[union-attr]
    roster.get(3).status = "away"  # type: ignore[union-attr]
    picked = roster.pick(None, exclude=set())
    assert picked is not None and picked.member.id == 4
    roster.detach("sid4")
    assert roster.pick(None, exclude=set()) is None


def test_language_matches_on_primary_subtag() -> None:
    roster = Roster()
    online(roster, member(1, languages=("de",)), idle_since=1)
    online(roster, member(2, languages=("pt",)), idle_since=2)
    picked = roster.pick("pt-BR", exclude=set())
    assert picked is not None and picked.member.id == 2
    assert roster.pick("fr", exclude=set()) is None
    any_language = roster.pick(None, exclude=set())
    assert any_language is not None and any_language.member.id == 1


def test_excluded_agents_are_not_picked() -> None:
    roster = Roster()
    online(roster, member(1), idle_since=1)
    assert roster.pick(None, exclude={1}) is None
