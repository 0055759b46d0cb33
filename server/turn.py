"""TURN credentials for calls: coturn's shared-secret REST scheme, and the ICE server list
handed to a browser (``RTCPeerConnection({iceServers})``) or to an aiortc peer.

coturn (``use-auth-secret`` + ``static-auth-secret``) and Porchlight share one secret. For each
session Porchlight mints a username ``"<expiry unix time>:<user id>"`` and a password
``base64(HMAC-SHA1(secret, username))``; coturn recomputes the HMAC and refuses the allocation
once the expiry has passed. Nothing is stored: a credential is valid for anyone who holds it
until it expires, so keep the TTL short (it bounds how long a leaked credential is useful, not
how long a call may last: an allocation that is already running is refreshed by the client).

This module is pure stdlib, so it can be used by HTTP routes and socket namespaces alike.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Protocol

DEFAULT_TURN_PORT = 3478
# STUN limits USERNAME to 513 bytes (RFC 8489 section 14.3); keep well below it.
MAX_USER_ID_BYTES = 256


@dataclass(frozen=True, slots=True)
class TurnCredentials:
    """One minted TURN credential.

    ``username`` and ``credential`` go to the client as they are; ``expires_at`` is the unix
    time (seconds) after which coturn refuses them, also encoded in ``username``.
    """

    username: str
    credential: str
    expires_at: int

    def __repr__(self) -> str:
        # The credential is a bearer secret: keep it out of logs and tracebacks.
        return f"TurnCredentials(username={self.username!r}, expires_at={self.expires_at})"


class TurnSettings(Protocol):
    """What ``ice_servers`` needs to know; ``server.settings.Settings`` is meant to provide it.

    ``turn_host`` None means no TURN server is configured: peers connect directly or not at
    all. ``turn_port`` serves STUN and TURN over both UDP and TCP (coturn's listening port).
    """

    @property
    def turn_host(self) -> str | None: ...

    @property
    def turn_port(self) -> int: ...

    @property
    def turn_secret(self) -> str: ...

    @property
    def turn_ttl(self) -> int: ...


def mint_turn_credentials(
    secret: str, ttl_seconds: int, user_id: str, now: float | None = None
) -> TurnCredentials:
    """Mint a credential for coturn's shared-secret REST scheme.

    :param secret: coturn's ``static-auth-secret``.
    :param ttl_seconds: how long the credential is accepted, from ``now``.
    :param user_id: an opaque id for whoever uses the credential (coturn logs it and counts
        quotas per user), e.g. a conversation or staff id, never a name or an email.
    :param now: the current unix time; ``time.time()`` when omitted.
    :raises ValueError: on an empty secret or user id, a TTL below one second, or a user id
        too long for a STUN username.
    """
    if not secret:
        raise ValueError("the TURN secret must not be empty")
    if ttl_seconds < 1:
        raise ValueError("the TURN credential TTL must be at least one second")
    if not user_id:
        raise ValueError("the TURN user id must not be empty")
    if len(user_id.encode()) > MAX_USER_ID_BYTES:
        raise ValueError(f"the TURN user id must be at most {MAX_USER_ID_BYTES} bytes")
    expires_at = int(time.time() if now is None else now) + ttl_seconds
    username = f"{expires_at}:{user_id}"
    # SHA-1 is what coturn's REST scheme specifies; as an HMAC it is still sound.
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return TurnCredentials(
        username=username,
        credential=base64.b64encode(digest).decode("ascii"),
        expires_at=expires_at,
    )


def ice_servers(
    settings: TurnSettings, user_id: str, now: float | None = None
) -> list[dict[str, str | list[str]]]:
    """The ``iceServers`` list for one peer: coturn as STUN, then as TURN over UDP and TCP
    with a fresh credential. Empty when no TURN host is configured.

    The shape is the WebRTC ``RTCIceServer`` dictionary, which browsers take as it is and
    aiortc takes as ``RTCIceServer(**server)``. aiortc uses only the first TURN URL (UDP);
    browsers try both, and TCP gets through firewalls that drop UDP.

    :param settings: the TURN host, port, shared secret and credential TTL.
    :param user_id: see ``mint_turn_credentials``.
    :param now: the current unix time; ``time.time()`` when omitted.
    """
    if settings.turn_host is None:
        return []
    host = settings.turn_host
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 literal, as URIs write it
    address = f"{host}:{settings.turn_port}"
    credentials = mint_turn_credentials(settings.turn_secret, settings.turn_ttl, user_id, now)
    return [
        {"urls": [f"stun:{address}"]},
        {
            "urls": [f"turn:{address}?transport=udp", f"turn:{address}?transport=tcp"],
            "username": credentials.username,
            "credential": credentials.credential,
        },
    ]
