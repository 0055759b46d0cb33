"""Deliberately brittle, like test_catalogues.py: the webhook kinds receivers subscribe to,
and the fields their payloads carry, change only on purpose."""

import json

from server.webhook_kinds import DESCRIPTIONS, KINDS, payload, timestamp
from signaling.domain_events import EventKind


def test_webhook_kinds_are_frozen() -> None:
    assert {str(kind): fields for kind, fields in KINDS.items()} == {
        "conversation.queued": ("channel",),
        "conversation.rung": (),
        "conversation.accepted": (),
        "conversation.declined": (),
        "conversation.missed": ("reason",),
        "conversation.abandoned": (),
        "conversation.requeued": (),
        "conversation.ended": (),
        "conversation.rated": ("score",),
        "conversation.tagged": ("tag",),
        "call.started": ("call_id", "channel"),
        "call.switched": ("call_id", "channel", "previous"),
        "call.ended": ("call_id", "reason", "duration_s"),
        "call.proposed": ("proposal_id", "channel"),
        "call.proposal_answered": ("proposal_id", "accepted"),
    }


def test_kinds_come_from_the_domain_catalogue_and_are_documented() -> None:
    assert set(KINDS) <= set(EventKind)
    assert set(DESCRIPTIONS) == set(KINDS)
    assert all(DESCRIPTIONS[kind].strip() for kind in KINDS)
    # What is not in the stored log, or belongs to no site, is not offered.
    left_out = {
        EventKind.MESSAGE_STORED,
        EventKind.CONVERSATION_READ,
        EventKind.PRESENCE_CHANGED,
        EventKind.WRAPUP_ENDED,
    }
    assert left_out == set(EventKind) - set(KINDS)


def test_a_payload_carries_only_the_kinds_fields() -> None:
    detail = {
        "call_id": "k1",
        "reason": "hangup",
        "duration_s": 61,
        "note": "internal: customer was rude",
        "visitor_name": "Ada",
        "email": "ada@example.com",
    }
    body = json.loads(payload("call.ended", 1614265330.25, "staff", "c1", 7, detail, "site-1"))
    assert body == {
        "type": "call.ended",
        "timestamp": "2021-02-25T15:02:10.250Z",
        "data": {
            "conversation_id": "c1",
            "site": "site-1",
            "actor": "staff",
            "staff_id": 7,
            "call_id": "k1",
            "reason": "hangup",
            "duration_s": 61,
        },
    }


def test_timestamps_are_utc_with_milliseconds() -> None:
    assert timestamp(0) == "1970-01-01T00:00:00.000Z"
