"""Deliberately brittle, like test_catalogues.py: the domain event kinds change only on
purpose (analytics, webhooks and audit read them from the log)."""

from signaling.domain_events import NOT_LOGGED, EventKind


def test_domain_event_kinds_are_frozen() -> None:
    assert sorted(kind.value for kind in EventKind) == [
        "call.ended",
        "call.proposal_answered",
        "call.proposed",
        "call.started",
        "call.switched",
        "conversation.abandoned",
        "conversation.accepted",
        "conversation.declined",
        "conversation.ended",
        "conversation.missed",
        "conversation.queued",
        "conversation.rated",
        "conversation.read",
        "conversation.requeued",
        "conversation.rung",
        "conversation.tagged",
        "message.stored",
        "presence.changed",
        "wrapup.ended",
    ]


def test_every_kind_is_documented() -> None:
    import inspect

    source = inspect.getsource(EventKind)
    for kind in EventKind:
        assert f'{kind.name} = "{kind.value}"\n    """' in source, kind


def test_only_messages_and_read_markers_stay_out_of_the_log() -> None:
    assert {EventKind.MESSAGE_STORED, EventKind.CONVERSATION_READ} == NOT_LOGGED
