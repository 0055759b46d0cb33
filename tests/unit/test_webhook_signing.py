"""Signatures per Standard Webhooks: the specification's published test vector (from the
reference libraries' tests), and the reference library's own verifier."""

import base64
import hashlib
import hmac
import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from server.webhook_signing import PREFIX, SECRET_BYTES, headers, new_secret, sign

# The vector of standard-webhooks/libraries/python/tests/test_webhooks.py (test_sign_function).
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_BODY = '{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_published_test_vector() -> None:
    assert sign(VECTOR_SECRET, VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY) == VECTOR_SIGNATURE
    # The prefix is optional for the key, as the reference libraries read it.
    assert sign(VECTOR_SECRET.removeprefix(PREFIX), VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY) == (
        VECTOR_SIGNATURE
    )


def test_the_vector_by_the_algorithm_itself() -> None:
    key = base64.b64decode(VECTOR_SECRET.removeprefix(PREFIX))
    signed = f"{VECTOR_ID}.{VECTOR_TIMESTAMP}.{VECTOR_BODY}".encode()
    digest = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert f"v1,{digest}" == VECTOR_SIGNATURE


def test_the_reference_library_verifies_a_delivery_signed_with_both_secrets() -> None:
    current, previous = new_secret(), new_secret()
    body = '{"type":"conversation.queued","data":{"conversation_id":"c1"}}'
    sent = headers([current, previous], "msg_abc", int(time.time()), body)
    assert len(sent["webhook-signature"].split(" ")) == 2
    for secret in (current, previous):
        assert Webhook(secret).verify(body, sent)["data"]["conversation_id"] == "c1"
    # A receiver with another secret refuses it.
    with pytest.raises(WebhookVerificationError, match=r"(?i)signature"):
        Webhook(new_secret()).verify(body, sent)


def test_secrets_are_prefixed_base64_of_fresh_random_bytes() -> None:
    made = {new_secret() for _ in range(50)}
    assert len(made) == 50
    for secret in made:
        assert secret.startswith(PREFIX)
        assert len(base64.b64decode(secret.removeprefix(PREFIX))) == SECRET_BYTES
