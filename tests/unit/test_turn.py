"""TURN credentials (coturn's shared-secret REST scheme) and the iceServers shape."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass

import pytest

from server.turn import TurnCredentials, ice_servers, mint_turn_credentials

SECRET = "porch-secret"
NOW = 1_700_000_000.75


@dataclass(frozen=True)
class TurnConfig:
    turn_host: str | None = "turn.example.com"
    turn_port: int = 3478
    turn_secret: str = SECRET
    turn_ttl: int = 600


def test_username_is_expiry_then_user_id() -> None:
    minted = mint_turn_credentials(SECRET, 600, "conversation-42", now=NOW)
    assert minted.username == "1700000600:conversation-42"
    assert minted.expires_at == 1_700_000_600


def test_credential_matches_a_value_computed_by_hand() -> None:
    # printf '%s' '1700000600:conversation-42' \
    #   | openssl dgst -sha1 -hmac 'porch-secret' -binary | base64
    minted = mint_turn_credentials(SECRET, 600, "conversation-42", now=NOW)
    assert minted.credential == "LakhRpzHEusPyOa8tzxa1aDs6eE="


def test_credential_is_base64_hmac_sha1_of_the_username() -> None:
    minted = mint_turn_credentials("another secret", 60, "staff-7", now=NOW)
    expected = hmac.new(b"another secret", minted.username.encode(), hashlib.sha1).digest()
    assert base64.b64decode(minted.credential) == expected


def test_expiry_defaults_to_the_current_time_plus_ttl() -> None:
    before = int(time.time())
    minted = mint_turn_credentials(SECRET, 3600, "conversation-42")
    after = int(time.time())
    assert before + 3600 <= minted.expires_at <= after + 3600
    assert minted.username == f"{minted.expires_at}:conversation-42"


def test_repr_keeps_the_credential_out_of_logs() -> None:
    minted = mint_turn_credentials(SECRET, 600, "conversation-42", now=NOW)
    assert minted.credential not in repr(minted)
    assert isinstance(minted, TurnCredentials)


@pytest.mark.parametrize(
    ("secret", "ttl", "user_id"),
    [
        ("", 600, "u"),
        (SECRET, 0, "u"),
        (SECRET, -5, "u"),
        (SECRET, 600, ""),
        (SECRET, 600, "u" * 257),
    ],
)
def test_bad_inputs_are_refused(secret: str, ttl: int, user_id: str) -> None:
    with pytest.raises(ValueError):
        mint_turn_credentials(secret, ttl, user_id, now=NOW)


def test_ice_servers_shape() -> None:
    servers = ice_servers(TurnConfig(), "conversation-42", now=NOW)
    assert servers == [
        {"urls": ["stun:turn.example.com:3478"]},
        {
            "urls": [
                "turn:turn.example.com:3478?transport=udp",
                "turn:turn.example.com:3478?transport=tcp",
            ],
            "username": "1700000600:conversation-42",
            "credential": "LakhRpzHEusPyOa8tzxa1aDs6eE=",
        },
    ]


def test_ice_servers_mint_with_the_configured_ttl() -> None:
    servers = ice_servers(TurnConfig(turn_ttl=120, turn_port=5000), "u", now=NOW)
    assert servers[1]["username"] == "1700000120:u"
    assert servers[0]["urls"] == ["stun:turn.example.com:5000"]


def test_ice_servers_bracket_ipv6_literals() -> None:
    servers = ice_servers(TurnConfig(turn_host="2001:db8::1"), "u", now=NOW)
    assert servers[0]["urls"] == ["stun:[2001:db8::1]:3478"]
    assert servers[1]["urls"][0] == "turn:[2001:db8::1]:3478?transport=udp"


def test_no_turn_host_means_no_ice_servers() -> None:
    assert ice_servers(TurnConfig(turn_host=None), "u", now=NOW) == []
