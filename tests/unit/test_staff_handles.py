"""Public staff handles: stable for one secret, different across people and secrets."""

import re

from signaling.views import StaffHandles


def test_staff_handles_are_stable_and_keyed() -> None:
    secret = "k" * 40
    handles = StaffHandles(secret)
    assert re.fullmatch(r"[0-9a-f]{16}", handles.of(1))
    assert handles.of(1) == StaffHandles(secret).of(1)  # the same on every node and restart
    assert handles.of(1) != handles.of(2)
    assert handles.of(1) != StaffHandles("o" * 40).of(1)
