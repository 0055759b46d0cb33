"""Sign-in throttling on a fake clock: delays that grow per address, a gentle per-account
delay that a clean address never meets, and counting before the password is checked."""

from __future__ import annotations

import asyncio

from server.throttle import Backoff, MemoryThrottle


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def throttle(clock: FakeClock, free: int = 3) -> MemoryThrottle:
    return MemoryThrottle(free, address_cap=900, account_cap=60, clock=clock)


async def fail(limiter: MemoryThrottle, times: int, account: str, address: str) -> None:
    """``times`` admitted attempts that turn out wrong (wrong attempts stay counted)."""
    for _ in range(times):
        assert await limiter.admit(account, address) == 0


def test_the_delay_doubles_from_the_first_after_the_free_failures_up_to_its_cap() -> None:
    backoff = Backoff(free=3, first=5, cap=60)
    assert [backoff.delay(n) for n in range(8)] == [0, 0, 0, 5, 10, 20, 40, 60]
    assert backoff.delay(10_000) == 60


async def test_an_address_waits_longer_after_each_failure() -> None:
    clock = FakeClock()
    limiter = throttle(clock)
    await fail(limiter, 3, "a@x", "198.51.100.1")
    assert await limiter.admit("a@x", "198.51.100.1") == 5
    clock.now += 5
    await fail(limiter, 1, "a@x", "198.51.100.1")
    assert await limiter.admit("a@x", "198.51.100.1") == 10
    # Other accounts from the same address are slowed too: the address is what guesses.
    assert await limiter.admit("b@x", "198.51.100.1") == 10


async def test_concurrent_attempts_are_counted_before_any_password_is_checked() -> None:
    clock = FakeClock()
    limiter = throttle(clock)
    # All admitted "at once", before any verification finishes: only the free ones get in.
    waits = await asyncio.gather(*(limiter.admit("a@x", "198.51.100.1") for _ in range(40)))
    assert waits.count(0) == 3
    assert all(wait > 0 for wait in waits[3:])


async def test_a_refused_attempt_is_not_counted() -> None:
    clock = FakeClock()
    limiter = throttle(clock)
    await fail(limiter, 3, "a@x", "198.51.100.1")
    for _ in range(10):
        assert await limiter.admit("a@x", "198.51.100.1") == 5
    clock.now += 5
    assert await limiter.admit("a@x", "198.51.100.1") == 0


async def test_guesses_from_one_address_cannot_lock_the_account_for_a_clean_address() -> None:
    clock = FakeClock()
    limiter = throttle(clock)
    for _ in range(12):
        clock.now += limiter.wait("a@x", "203.0.113.66")
        await fail(limiter, 1, "a@x", "203.0.113.66")
    assert await limiter.admit("a@x", "203.0.113.66") == 900  # the guesser waits 15 min
    # The real user, from an address that has not failed, is let through at once.
    assert await limiter.admit("a@x", "198.51.100.1") == 0
    await limiter.succeeded("a@x", "198.51.100.1")


async def test_the_account_delay_is_gentle_and_only_for_addresses_that_failed() -> None:
    clock = FakeClock()
    limiter = throttle(clock)
    # Many addresses, one guess each: none is slow as an address, the account gets hot.
    for n in range(10):
        await fail(limiter, 1, "a@x", f"203.0.113.{n}")
    assert await limiter.admit("a@x", "203.0.113.0") == 60  # capped at the account's minute
    assert await limiter.admit("a@x", "198.51.100.1") == 0  # a fresh address still may


async def test_success_clears_the_account_and_takes_back_its_own_attempt() -> None:
    clock = FakeClock()
    limiter = throttle(clock)
    await fail(limiter, 2, "a@x", "198.51.100.1")
    await fail(limiter, 1, "b@x", "198.51.100.1")
    assert await limiter.admit("b@x", "198.51.100.1") == 5
    clock.now += 5
    assert await limiter.admit("a@x", "198.51.100.1") == 0
    await limiter.succeeded("a@x", "198.51.100.1")
    # The address keeps its three failures (on two accounts), timed from its latest
    # attempt; a@x's own count is gone.
    assert limiter.wait("b@x", "198.51.100.1") == 5
    clock.now += 5
    assert await limiter.admit("a@x", "198.51.100.1") == 0
    assert await limiter.admit("a@x", "198.51.100.1") == 10


async def test_failures_are_forgotten_an_hour_after_the_latest() -> None:
    clock = FakeClock()
    limiter = throttle(clock)
    await fail(limiter, 3, "a@x", "198.51.100.1")
    assert limiter.wait("a@x", "198.51.100.1") == 5
    clock.now += 3601
    assert await limiter.admit("a@x", "198.51.100.1") == 0
    assert limiter.wait("a@x", "198.51.100.1") == 0  # one failure, three are free
