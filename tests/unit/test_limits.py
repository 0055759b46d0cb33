"""``RateLimits``, the ``Limits`` port on the ``limits`` library, and its settings."""

from __future__ import annotations

import asyncio

import pytest
from limits import parse
from limits.aio.storage import MemoryStorage

from server.limits import SWEEP_EVERY, PacedMemoryStorage, RateLimits, rates_from
from server.settings import Settings, SettingsError, load_settings
from signaling.ports import Counted

RATES = rates_from(Settings())


def limits_with(visitor: str, address: str, site: str) -> RateLimits:
    return RateLimits({**RATES, "message": (visitor, address, site)})


async def test_a_scope_is_refused_past_its_rate_with_the_time_to_wait() -> None:
    limits = limits_with("3/minute", "100/minute", "100/minute")
    alice = Counted(visitor="alice", address="192.0.2.1", site="shop")
    assert [await limits.hit("message", alice) for _ in range(3)] == [None] * 3
    retry_after = await limits.hit("message", alice)
    assert retry_after is not None and 0 < retry_after <= 60
    # another visitor on the same address and site is not held up
    assert await limits.hit("message", Counted("bob", "192.0.2.1", "shop")) is None


async def test_a_refused_event_is_not_counted_against_the_wider_scopes() -> None:
    limits = limits_with("1/minute", "2/minute", "100/minute")
    assert await limits.hit("message", Counted("alice", "192.0.2.1")) is None
    for _ in range(5):
        assert await limits.hit("message", Counted("alice", "192.0.2.1")) is not None
    # the address has spent one of its two, not six
    assert await limits.hit("message", Counted("bob", "192.0.2.1")) is None
    assert await limits.hit("message", Counted("carol", "192.0.2.1")) is not None


async def test_kinds_and_absent_scopes_are_counted_apart() -> None:
    limits = RateLimits({**RATES, "typing": ("1/minute", "1/minute", "1/minute")})
    assert await limits.hit("typing", Counted(visitor="alice")) is None
    assert await limits.hit("typing", Counted(visitor="alice")) is not None
    assert await limits.hit("message", Counted(visitor="alice")) is None
    assert await limits.hit("typing", Counted()) is None


def test_the_storage_hook_that_paces_the_sweep_exists() -> None:
    # PacedMemoryStorage overrides this private method of limits' MemoryStorage; if a new
    # limits renames it, the override would do nothing and every hit would sweep again.
    assert "_MemoryStorage__schedule_expiry" in vars(MemoryStorage)
    assert "_MemoryStorage__expire_events" in vars(MemoryStorage)


async def test_expired_keys_are_swept_at_most_once_a_second_and_still_expire() -> None:
    storage = PacedMemoryStorage()
    limits = RateLimits({**RATES, "message": ("1/second", "1000/second", "1000/second")}, storage)
    sweeps = 0
    sweep = storage._MemoryStorage__expire_events

    async def counted() -> None:
        nonlocal sweeps
        sweeps += 1
        await sweep()

    storage._MemoryStorage__expire_events = counted  # type: ignore[method-assign]
    for n in range(200):
        assert await limits.hit("message", Counted(visitor=f"v{n}")) is None
        await asyncio.sleep(0)
    assert sweeps == 1  # MemoryStorage itself swept after nearly every one of them
    alice = Counted(visitor="alice")
    assert await limits.hit("message", alice) is None
    assert await limits.hit("message", alice) is not None
    # Expiry does not wait for a sweep: a read drops an expired key itself.
    await asyncio.sleep(2.1)  # a 1 s window's keys live twice the window
    assert await limits.hit("message", alice) is None
    await asyncio.sleep(0.05)  # the sweep that hit started (over a second later) has run
    assert SWEEP_EVERY < 2.1 and sweeps == 2
    assert not any(key.endswith(f"/v{n}") for n in range(200) for key in storage.storage)
    assert len(storage.expirations) < 10


def test_default_limits_are_wider_per_address_than_per_visitor_and_widest_per_site() -> None:
    for kind, (visitor, address, site) in RATES.items():
        per_second = [
            parse(rate).amount / parse(rate).get_expiry() for rate in (visitor, address, site)
        ]
        assert per_second == sorted(per_second) and per_second[0] < per_second[2], kind
    defaults = Settings()
    assert defaults.sockets_per_address >= 100
    assert defaults.prechecks_per_address < defaults.prechecks_running


@pytest.mark.parametrize(
    "value", ["60/minute,600/minute", "60/minute,lots,6000/minute", "1/second;9/hour,1/s,1/s"]
)
def test_a_bad_rate_setting_names_itself(value: str) -> None:
    with pytest.raises(SettingsError, match="message_limits"):
        load_settings(environ={"PORCHLIGHT_MESSAGE_LIMITS": value})


def test_rates_come_from_the_environment_as_one_string() -> None:
    settings = load_settings(environ={"PORCHLIGHT_TYPING_LIMITS": "5/second, 50/second,500/second"})
    assert settings.typing_limits == ("5/second", "50/second", "500/second")
