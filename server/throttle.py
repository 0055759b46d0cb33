"""Sign-in throttling: every failed attempt makes the next one wait longer.

Attempts are counted *before* the password is checked: an admitted attempt is recorded as a
failure at once and taken back only when it succeeds. Concurrent guesses therefore cannot all
pass the check while the first verification is still running.

Two counts, with different purposes:

- **Per real client address** (``server.net.request_address``, which reads ``X-Forwarded-For``
  only from ``trusted_proxies``): after ``free`` failures, each further attempt from that
  address waits 5 s, 10 s, 20 s … up to 15 min after its latest failure. This is what stops
  one address from guessing, and it slows no one else, including colleagues behind the same
  reverse proxy once that proxy is trusted.
- **Per account**: the same growth, but capped at one minute, and applied only to attempts
  from addresses that have failed recently themselves. A guesser therefore cannot lock the
  real user out: from an address without failures (their office, their phone) the right
  password always gets through at once. A guesser with many addresses gets one try per fresh
  address, then at most one a minute per account from any of them, on top of each address's
  own delay.

A success clears the account's count (its owner proved who they are) but not the address's:
signing in to one's own account must not wash away failures on other accounts. A key's count
is forgotten an hour after its latest failure.

``SignInThrottle`` is the interface the sign-in route uses; ``MemoryThrottle`` keeps the
counts in this process, ``RedisThrottle`` in Redis for every node of a fleet (each call one
Lua script, so atomic across nodes).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from redis.exceptions import RedisError

log = logging.getLogger(__name__)

FORGET_AFTER = 3600.0
SWEEP_EVERY = 60.0


@dataclass(frozen=True, slots=True)
class Backoff:
    """How long a key waits after ``failures`` recent failures: nothing for the first
    ``free``, then ``first`` seconds, doubling with each further failure, at most ``cap``."""

    free: int
    first: float = 5.0
    cap: float = 900.0

    def delay(self, failures: int) -> float:
        if failures < self.free:
            return 0.0
        # The exponent is clamped: the cap is reached long before, and 2**n must stay small.
        return min(self.first * 2.0 ** min(failures - self.free, 32), self.cap)


@dataclass(slots=True)
class Failures:
    """Recent failures of one key: how many, and when the latest was counted."""

    count: int = 0
    latest: float = 0.0


class SignInThrottle(Protocol):
    """Counts sign-in attempts per account and per client address. Each method is atomic:
    two concurrent attempts never both see the count from before the other."""

    async def admit(self, account: str, address: str) -> float:
        """0 when this attempt may check its password (it is then already counted as a
        failure); otherwise the seconds to wait, and the attempt is not counted."""
        ...

    async def succeeded(self, account: str, address: str) -> None:
        """The admitted attempt was right: take it back and clear the account's count."""
        ...


class MemoryThrottle:
    """``SignInThrottle`` in this process's memory (one node). ``clock`` is monotonic
    seconds; stale keys are dropped as attempts come in, so memory follows recent traffic."""

    def __init__(
        self,
        free: int,
        *,
        address_cap: float = 900.0,
        account_cap: float = 60.0,
        forget_after: float = FORGET_AFTER,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.address = Backoff(free, cap=address_cap)
        self.account = Backoff(free, cap=account_cap)
        self.forget_after = forget_after
        self._clock = clock
        self._failures: dict[str, Failures] = {}
        self._swept = clock()

    def _recent(self, key: str, now: float) -> Failures:
        found = self._failures.get(key)
        if found is None or now - found.latest > self.forget_after:
            return Failures()
        return found

    def _sweep(self, now: float) -> None:
        if now - self._swept < SWEEP_EVERY:
            return
        self._swept = now
        stale = [k for k, f in self._failures.items() if now - f.latest > self.forget_after]
        for key in stale:
            del self._failures[key]

    def wait(self, account: str, address: str) -> float:
        """Seconds until this account may be tried from this address (0: now)."""
        now = self._clock()
        by_address = self._recent(_address_key(address), now)
        wait = by_address.latest + self.address.delay(by_address.count) - now
        if by_address.count > 0:
            by_account = self._recent(_account_key(account), now)
            wait = max(wait, by_account.latest + self.account.delay(by_account.count) - now)
        return max(wait, 0.0)

    async def admit(self, account: str, address: str) -> float:
        # No await between the check and the count: this is what makes it atomic here.
        wait = self.wait(account, address)
        if wait > 0:
            return wait
        now = self._clock()
        self._sweep(now)
        for key in (_address_key(address), _account_key(account)):
            failures = self._recent(key, now)
            self._failures[key] = Failures(failures.count + 1, now)
        return 0.0

    async def succeeded(self, account: str, address: str) -> None:
        self._failures.pop(_account_key(account), None)
        found = self._failures.get(_address_key(address))
        if found is not None and found.count > 0:
            found.count -= 1


def _address_key(address: str) -> str:
    return f"address:{address}"


def _account_key(account: str) -> str:
    return f"account:{account}"


# admit(): one atomic step in Redis. KEYS: the address's and the account's counts (hashes of
# count and latest). ARGV: free, first, address cap, account cap, forget_after. Time is Redis's
# own, so every node counts on one clock. Returns the wait as a string ("0": admitted, and
# counted as a failure).
_ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local free, first = tonumber(ARGV[1]), tonumber(ARGV[2])
local caps = {tonumber(ARGV[3]), tonumber(ARGV[4])}
local forget = tonumber(ARGV[5])
local function recent(key)
  local found = redis.call('HMGET', key, 'count', 'latest')
  local count, latest = tonumber(found[1]) or 0, tonumber(found[2]) or 0
  if count > 0 and now - latest > forget then return 0, 0 end
  return count, latest
end
local function delay(count, cap)
  if count < free then return 0 end
  return math.min(first * 2 ^ math.min(count - free, 32), cap)
end
local by_address, address_latest = recent(KEYS[1])
local wait = address_latest + delay(by_address, caps[1]) - now
if by_address > 0 then
  local by_account, account_latest = recent(KEYS[2])
  wait = math.max(wait, account_latest + delay(by_account, caps[2]) - now)
end
if wait > 0 then return tostring(wait) end
for i = 1, 2 do
  local count = recent(KEYS[i])
  redis.call('HSET', KEYS[i], 'count', count + 1, 'latest', string.format('%.6f', now))
  redis.call('EXPIRE', KEYS[i], math.ceil(forget))
end
return '0'
"""

# succeeded(): clear the account's count, take one failure back from the address.
_SUCCEEDED = """
redis.call('DEL', KEYS[2])
local count = tonumber(redis.call('HGET', KEYS[1], 'count') or '0')
if count > 0 then redis.call('HINCRBY', KEYS[1], 'count', -1) end
return 0
"""


class RedisThrottle:
    """``SignInThrottle`` shared by every node of a fleet, in Redis: the same rules as
    ``MemoryThrottle``, each call one Lua script (atomic across nodes). ``prefix`` keeps one
    fleet's keys apart from another's on the same Redis. While Redis cannot be reached, this
    node counts on its own (a ``MemoryThrottle``): sign-in neither stops for everyone nor
    opens to guessing."""

    def __init__(
        self,
        redis: Any,
        prefix: str,
        free: int,
        *,
        address_cap: float = 900.0,
        account_cap: float = 60.0,
        forget_after: float = FORGET_AFTER,
    ) -> None:
        self.prefix = prefix
        self.args = (free, Backoff(free).first, address_cap, account_cap, forget_after)
        self._admit = redis.register_script(_ADMIT)
        self._succeeded = redis.register_script(_SUCCEEDED)
        self.local = MemoryThrottle(
            free, address_cap=address_cap, account_cap=account_cap, forget_after=forget_after
        )

    def _keys(self, account: str, address: str) -> list[str]:
        return [self.prefix + _address_key(address), self.prefix + _account_key(account)]

    async def admit(self, account: str, address: str) -> float:
        try:
            wait = await self._admit(keys=self._keys(account, address), args=list(self.args))
        except RedisError:
            log.warning("sign-in counts unreachable in Redis; counting on this node")
            return await self.local.admit(account, address)
        return max(float(wait), 0.0)

    async def succeeded(self, account: str, address: str) -> None:
        try:
            await self._succeeded(keys=self._keys(account, address))
        except RedisError:
            await self.local.succeeded(account, address)
