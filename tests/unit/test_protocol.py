import pytest

from signaling.errors import ErrorCode, ProtocolError
from signaling.protocol import (
    MAX_BODY_CHARS,
    CustomerAuth,
    SendMessage,
    StartConversation,
    Sync,
    decode,
    is_safe_link,
)

CID = "0123456789abcdef0123456789abcdef"


def code_of(model: type, payload: object) -> str:
    with pytest.raises(ProtocolError) as caught:
        decode(model, payload)
    return str(caught.value.code)


def test_valid_message_is_decoded_and_trimmed() -> None:
    message = decode(
        SendMessage, {"conversation_id": CID, "client_msg_id": "abcdefgh", "body": " hi "}
    )
    assert message.body == "hi"


@pytest.mark.parametrize(
    "payload",
    [
        "not an object",
        [1, 2],
        {"conversation_id": CID, "client_msg_id": "abcdefgh"},
        {"conversation_id": CID, "client_msg_id": "abcdefgh", "body": "   "},
        {"conversation_id": CID, "client_msg_id": "short", "body": "x"},
        {"conversation_id": CID, "client_msg_id": "has space!", "body": "x"},
        {"conversation_id": "nope", "client_msg_id": "abcdefgh", "body": "x"},
        {"conversation_id": CID, "client_msg_id": "abcdefgh", "body": 5},
        {"conversation_id": CID, "client_msg_id": "abcdefgh", "body": "x", "extra": 1},
        {"conversation_id": CID, "client_msg_id": "abcdefgh", "body": "x" * (MAX_BODY_CHARS + 1)},
    ],
)
def test_bad_messages_are_refused_with_payload_invalid(payload: object) -> None:
    assert code_of(SendMessage, payload) == ErrorCode.PAYLOAD_INVALID


def test_oversized_payload_is_refused_before_parsing() -> None:
    payload = {"conversation_id": CID, "client_msg_id": "abcdefgh", "body": "x" * 20_000}
    assert code_of(SendMessage, payload) == ErrorCode.PAYLOAD_TOO_LARGE


def test_start_refuses_non_http_page_urls_and_bad_languages() -> None:
    assert code_of(StartConversation, {"page_url": "javascript:alert(1)"}) == "payload.invalid"
    assert code_of(StartConversation, {"language": "english please"}) == "payload.invalid"
    assert decode(StartConversation, {"language": "pt-BR"}).language == "pt-BR"
    assert decode(StartConversation, None).channel == "chat"


def test_sync_limits_and_types() -> None:
    assert decode(Sync, {"last_seqs": {CID: 4}}).last_seqs == {CID: 4}
    assert code_of(Sync, {"last_seqs": {CID: "4"}}) == "payload.invalid"
    assert code_of(Sync, {"last_seqs": {"x": 4}}) == "payload.invalid"


def test_customer_auth_needs_an_origin_not_a_url() -> None:
    assert (
        decode(CustomerAuth, {"site": "demo-shop", "host": "http://localhost:8090"}).token is None
    )
    assert code_of(CustomerAuth, {"site": "demo-shop", "host": "http://x/y"}) == "payload.invalid"


def test_only_http_links_are_safe() -> None:
    assert is_safe_link("https://example.com/a")
    assert not is_safe_link("javascript:alert(1)")
    assert not is_safe_link("data:text/html,hi")
