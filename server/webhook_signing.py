"""Standard Webhooks signatures (https://www.standardwebhooks.com): a secret is ``whsec_``
followed by the base64 of 24 random bytes; a delivery carries ``webhook-id`` (stable across
retries: the receiver's idempotency key), ``webhook-timestamp`` (epoch seconds of this
attempt) and ``webhook-signature``, ``v1,`` and the base64 HMAC-SHA256 of
``"{id}.{timestamp}.{body}"``. While a rotated secret is still honoured, the delivery is
signed with both, space-separated, so a receiver may switch over at its own pace."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable

PREFIX = "whsec_"
SECRET_BYTES = 24


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def _key(secret: str) -> bytes:
    encoded = secret.removeprefix(PREFIX)
    return base64.b64decode(encoded + "=" * (-len(encoded) % 4))


def sign(secret: str, message_id: str, timestamp: int, body: str) -> str:
    """One ``v1,<base64>`` signature of ``body`` for this id and timestamp."""
    signed = f"{message_id}.{timestamp}.{body}".encode()
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def headers(
    secrets_in_force: Iterable[str], message_id: str, timestamp: int, body: str
) -> dict[str, str]:
    """The three Standard Webhooks headers, signed with every secret in force."""
    signatures = " ".join(sign(s, message_id, timestamp, body) for s in secrets_in_force)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signatures,
        "Content-Type": "application/json",
    }
