"""Deliberately brittle: the public surface (event names, error codes) changes only on
purpose. If this fails, update the lists below in the same commit as the protocol change and
say so in CHANGELOG.md."""

from signaling.errors import ErrorCode
from signaling.events import CustomerEvent, ServerEvent, StaffEvent
from signaling.protocol import CUSTOMER_PAYLOADS, STAFF_PAYLOADS


def test_customer_events_are_frozen() -> None:
    assert sorted(e.value for e in CustomerEvent) == [
        "call.answer",
        "call.candidate",
        "call.end",
        "call.offer",
        "call.respond",
        "call.start",
        "conversation.end",
        "conversation.rate",
        "conversation.resume",
        "conversation.start",
        "message.send",
        "page.view",
        "read",
        "typing",
    ]


def test_staff_events_are_frozen() -> None:
    assert sorted(e.value for e in StaffEvent) == [
        "call.answer",
        "call.candidate",
        "call.end",
        "call.offer",
        "call.propose",
        "conversation.end",
        "conversation.resume",
        "conversation.tag",
        "message.send",
        "presence.set",
        "read",
        "ring.accept",
        "ring.decline",
        "sync",
        "typing",
        "wrapup.end",
        "wrapup.extend",
    ]


def test_server_events_are_frozen() -> None:
    assert sorted(e.value for e in ServerEvent) == [
        "call.answer",
        "call.candidate",
        "call.offer",
        "call.proposed",
        "call.response",
        "call.state",
        "conversation.state",
        "message.new",
        "presence",
        "queue.changed",
        "read",
        "ring",
        "ring.cancelled",
        "session",
        "team.away",
        "typing",
        "wrapup",
    ]


def test_error_codes_are_frozen() -> None:
    assert sorted(e.value for e in ErrorCode) == [
        "api_token.not_found",
        "auth.csrf",
        "auth.forbidden",
        "auth.invalid",
        "auth.required",
        "auth.throttled",
        "call.busy",
        "call.not_allowed",
        "call.not_found",
        "capacity.full",
        "channel.not_offered",
        "conversation.ended",
        "conversation.not_assigned",
        "conversation.not_ended",
        "conversation.not_found",
        "database.unavailable",
        "email.invalid",
        "event.unknown",
        "hours.invalid",
        "hours.timezone_unknown",
        "link.invalid",
        "mail.catcher_off",
        "method.not_allowed",
        "offline.disabled",
        "origin.not_allowed",
        "password.wrong",
        "payload.invalid",
        "payload.too_large",
        "precheck.busy",
        "precheck.not_found",
        "rate.limited",
        "redis.unavailable",
        "ring.expired",
        "route.not_found",
        "server.error",
        "site.unknown",
        "staff.exists",
        "staff.last_admin",
        "staff.not_found",
        "tag.unknown",
        "token.invalid",
        "webhook.not_found",
        "webhook.url_refused",
    ]


def test_every_client_event_has_a_payload_model() -> None:
    assert set(CUSTOMER_PAYLOADS) == set(CustomerEvent)
    assert set(STAFF_PAYLOADS) == set(StaffEvent)


def test_every_catalogue_entry_is_documented() -> None:
    import inspect

    for enum in (CustomerEvent, StaffEvent, ServerEvent, ErrorCode):
        source = inspect.getsource(enum)
        for member in enum:
            # each member is followed by a one-line docstring in its class body
            line = f'{member.name} = "{member.value}"'
            after = source.split(line, 1)[1].lstrip()
            if after.startswith("#"):  # a trailing lint comment on the same line
                after = after.split("\n", 1)[1].lstrip()
            assert after.startswith('"""'), f"{enum.__name__}.{member.name} has no doc"
