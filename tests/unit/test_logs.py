"""The JSON formatter: personal ``extra`` fields become keyed digests, and emails and
addresses in a message string are masked."""

from __future__ import annotations

import json
import logging

from server.logs import JsonFormatter, mask


def record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    made = logging.LogRecord("server.test", logging.INFO, __file__, 1, message, args, None)
    made.__dict__.update(extra)
    return made


def test_personal_fields_are_digests_and_others_stay() -> None:
    formatter = JsonFormatter(b"k" * 32)
    entry = json.loads(
        formatter.format(record("sign-in refused", email="ann@example.com", staff_id=4))
    )
    assert entry["message"] == "sign-in refused"
    assert entry["staff_id"] == 4
    assert entry["email"].startswith("hmac:") and "ann" not in entry["email"]
    again = json.loads(formatter.format(record("x", email="ann@example.com")))
    assert again["email"] == entry["email"]  # the same person correlates
    other = JsonFormatter(b"j" * 32).format(record("x", email="ann@example.com"))
    assert json.loads(other)["email"] != entry["email"]  # keyed: no lookup table


def test_messages_are_masked() -> None:
    assert mask("from ann@example.com at 10.1.2.3 and fe80::1:2:3") == (
        "from [email] at [ip] and [ip]"
    )
    formatter = JsonFormatter(b"k" * 32)
    entry = json.loads(formatter.format(record("peer %s said hi", "192.168.0.7")))
    assert entry["message"] == "peer [ip] said hi"
