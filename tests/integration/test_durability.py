"""Acknowledged means durable: the connection that commits messages waits until each commit
is on disk, so an acknowledged message survives an OS crash or a power cut."""

from server.store import SqlStore
from tests.integration.test_store import make_conversation, text


async def test_acknowledged_messages_are_durable(store: SqlStore) -> None:
    conversation = await make_conversation(store)
    appended = await store.append_message(text(conversation.id, "kept", "durable-01"), 1.0)
    assert appended.created
    # Read back on the connection the append just committed on.
    expected = "FULL" if store.dialect == "sqlite" else "on"
    assert await store.durability() == expected
