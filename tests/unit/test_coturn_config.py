"""The shipped coturn file's peer ranges, read as coturn 4.6 reads them (without running it;
tests/integration/test_coturn_config.py asks a running coturn).

coturn takes ``A-B`` (first-last) or one address; an all-zero address at either end means
"unbounded" for both families; IPv6 addresses are compared byte by byte, so an IPv6 range is
what it says only when each byte varies on its own (a prefix such as fe80::/10).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

SHIPPED_CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "coturn" / "turnserver.conf"

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def option_values(name: str) -> list[str]:
    lines = SHIPPED_CONFIG.read_text(encoding="utf-8").splitlines()
    return [line.split("=", 1)[1].strip() for line in lines if line.startswith(f"{name}=")]


def ends(value: str) -> tuple[Address, Address]:
    first, _, last = value.partition("-")
    return ipaddress.ip_address(first), ipaddress.ip_address(last or first)


def bytewise_exact(first: ipaddress.IPv6Address, last: ipaddress.IPv6Address) -> bool:
    """Whether "each byte between the two ends' bytes" is the same set as "between the two
    addresses": equal bytes, then one byte that ranges, then 00 up to ff."""
    low, high = first.packed, last.packed
    split = next((i for i in range(16) if low[i] != high[i]), 16)
    return all(low[i] == 0 and high[i] == 0xFF for i in range(split + 1, 16))


def test_shipped_coturn_denied_ranges_mean_what_they_say() -> None:
    denied = option_values("denied-peer-ip")
    assert len(denied) > 10, denied
    for value in denied:
        first, last = ends(value)
        assert first.version == last.version, value
        assert int(first) <= int(last), value
        # "::" anywhere (or 0.0.0.0 at the end) would turn the range into "everything".
        assert not (first.version == 6 and first.packed == bytes(16)), value
        assert last.packed != bytes(len(last.packed)), value
        if isinstance(first, ipaddress.IPv6Address) and isinstance(last, ipaddress.IPv6Address):
            assert bytewise_exact(first, last), value


def test_shipped_coturn_config_has_no_placeholder_secret() -> None:
    """coturn keeps every static-auth-secret it is given, so one set in the file stays valid
    beside the one the command line adds (tests, demo, containers)."""
    assert option_values("static-auth-secret") == []
