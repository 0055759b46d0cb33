"""The closed catalogue of webhook event kinds, derived from the domain events
(``signaling.domain_events``): what a site's endpoints may subscribe to, and what each
delivery's body carries. ``tests/unit/test_webhook_kinds.py`` freezes it.

Every body has the Standard Webhooks shape::

    {"type": "conversation.accepted", "timestamp": "2026-12-04T21:00:00.250Z",
     "data": {"conversation_id": "…", "site": "<site key>", "actor": "staff",
              "staff_id": 3, ...the kind's fields}}

``data`` holds the conversation id, the site key, who acted (``customer``, ``staff`` or
``system``), the staff member's id when one is concerned (never a name or an email), and only
the detail fields listed for the kind below: anything else a domain event carries stays home.
Message text, internal notes, visitor names, emails and page addresses are never sent.

Left out of the catalogue: ``message.stored`` and ``conversation.read`` (they are not in the
stored event log, which is what deliveries are made from, and would carry what people wrote),
``presence.changed`` and ``wrapup.ended`` (a staff member's own state and time, not the
site's). A rating's comment is never sent, only its score.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from signaling.domain_events import EventKind

# Kind → the detail fields a delivery carries; a field missing from the event is left out.
KINDS: Mapping[str, tuple[str, ...]] = {
    EventKind.CONVERSATION_QUEUED: ("channel",),
    EventKind.CONVERSATION_RUNG: (),
    EventKind.CONVERSATION_ACCEPTED: (),
    EventKind.CONVERSATION_DECLINED: (),
    EventKind.CONVERSATION_MISSED: ("reason",),
    EventKind.CONVERSATION_ABANDONED: (),
    EventKind.CONVERSATION_REQUEUED: (),
    EventKind.CONVERSATION_ENDED: (),
    EventKind.CONVERSATION_RATED: ("score",),
    EventKind.CONVERSATION_TAGGED: ("tag",),
    EventKind.CALL_STARTED: ("call_id", "channel"),
    EventKind.CALL_SWITCHED: ("call_id", "channel", "previous"),
    EventKind.CALL_ENDED: ("call_id", "reason", "duration_s"),
    EventKind.CALL_PROPOSED: ("proposal_id", "channel"),
    EventKind.CALL_PROPOSAL_ANSWERED: ("proposal_id", "accepted"),
}
DESCRIPTIONS: Mapping[str, str] = {
    EventKind.CONVERSATION_QUEUED: "A customer opened a conversation; it waits.",
    EventKind.CONVERSATION_RUNG: "A staff member (staff_id) is rung for it.",
    EventKind.CONVERSATION_ACCEPTED: "The rung staff member (staff_id) took it.",
    EventKind.CONVERSATION_DECLINED: "The rung staff member (staff_id) passed; it waits again.",
    EventKind.CONVERSATION_MISSED: "A ring went unanswered (reason: timeout, offline, away).",
    EventKind.CONVERSATION_ABANDONED: "The customer left before anyone answered.",
    EventKind.CONVERSATION_REQUEUED: "Its staff member did not come back in time; it waits again.",
    EventKind.CONVERSATION_ENDED: "An active conversation ended; actor says who ended it.",
    EventKind.CONVERSATION_RATED: "The customer rated it (score: 1 to 5; a later one replaces it).",
    EventKind.CONVERSATION_TAGGED: "Its staff member picked an outcome (tag).",
    EventKind.CALL_STARTED: "A call started (channel: voice, video or oneway).",
    EventKind.CALL_SWITCHED: "The running call moved to channel from previous.",
    EventKind.CALL_ENDED: "A call ended (reason, duration_s).",
    EventKind.CALL_PROPOSED: "The staff member proposed a channel.",
    EventKind.CALL_PROPOSAL_ANSWERED: "The customer answered a proposal (accepted: true or false).",
}
"""What each kind means, for the documentation and the console."""


def timestamp(at: float) -> str:
    """Epoch seconds as an RFC 3339 UTC time with milliseconds."""
    moment = datetime.fromtimestamp(at, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def payload(
    kind: str,
    at: float,
    actor: str,
    conversation_id: str | None,
    staff_id: int | None,
    detail: Mapping[str, Any],
    site_key: str,
) -> str:
    """The delivery body for one stored event, as the exact JSON text that is signed."""
    data: dict[str, Any] = {"conversation_id": conversation_id, "site": site_key, "actor": actor}
    if staff_id is not None:
        data["staff_id"] = staff_id
    for name in KINDS[kind]:
        if name in detail:
            data[name] = detail[name]
    body = {"type": kind, "timestamp": timestamp(at), "data": data}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)
