import asyncio
import threading

import pytest
from argon2 import PasswordHasher

from server.auth import CustomerTokens, PasswordVerifier, cookie_value, hash_password, secrets_match
from signaling.errors import ProtocolError
from tests.support import until


def test_a_token_names_one_visitor_on_one_site() -> None:
    tokens = CustomerTokens("s" * 40)
    token = tokens.mint("site-a", "visitor1", now=1_000_000)
    assert tokens.verify(token, "site-a", now=1_000_100) == "visitor1"
    with pytest.raises(ProtocolError, match=r"token\.invalid"):
        tokens.verify(token, "site-b", now=1_000_100)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),
        lambda t: t.replace("visitor1", "visitor2"),
        lambda t: "garbage",
        lambda t: t + ".extra",
    ],
)
def test_forged_tokens_are_refused(mangle: object) -> None:
    tokens = CustomerTokens("s" * 40)
    token = tokens.mint("site-a", "visitor1")
    with pytest.raises(ProtocolError, match=r"token\.invalid"):
        tokens.verify(mangle(token), "site-a")  # type: ignore[operator]


def test_tokens_from_another_secret_are_refused() -> None:
    token = CustomerTokens("a" * 40).mint("site-a", "v")
    with pytest.raises(ProtocolError):
        CustomerTokens("b" * 40).verify(token, "site-a")


def test_expired_tokens_are_refused() -> None:
    tokens = CustomerTokens("s" * 40)
    token = tokens.mint("site-a", "v", now=0)
    with pytest.raises(ProtocolError, match="expired"):
        tokens.verify(token, "site-a", now=100 * 24 * 3600)


def test_non_ascii_tokens_are_refused_with_a_code() -> None:
    tokens = CustomerTokens("s" * 40)
    token = tokens.mint("site-a", "visitor1")
    for bad in (token[:-1] + "é", token.replace("visitor1", "visitör1"), "v1.é.é.é.é"):
        with pytest.raises(ProtocolError, match=r"token\.invalid"):
            tokens.verify(bad, "site-a")


def test_non_ascii_secrets_do_not_match() -> None:
    assert secrets_match("abc", "abc")
    assert not secrets_match("abd", "abc")
    assert not secrets_match("éééééééé", "abcdefgh")
    assert not secrets_match("\udcff", "abc")  # how undecodable header bytes arrive


class HeldHasher(PasswordHasher):
    """Argon2 that holds every verification until released, counting how many run at once."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.active = 0
        self.most = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        with self.lock:
            self.active += 1
            self.most = max(self.most, self.active)
        try:
            assert self.release.wait(10), "never released"
            return super().verify(hash, password)
        finally:
            with self.lock:
                self.active -= 1


async def test_password_verifications_run_at_most_concurrency_at_once() -> None:
    hasher = HeldHasher()
    verifier = PasswordVerifier(concurrency=2, hasher=hasher)
    right = hash_password("right password")
    checks = [
        asyncio.ensure_future(verifier.verify(right, "right password" if n == 3 else "wrong"))
        for n in range(6)
    ]
    await until(lambda: hasher.active == 2 and verifier.waiting == 4, what="two running")
    hasher.release.set()
    assert await asyncio.gather(*checks) == [False, False, False, True, False, False]
    assert hasher.most == 2
    assert verifier.waiting == 0


async def test_an_unknown_account_never_verifies() -> None:
    assert await PasswordVerifier().verify(None, "anything") is False


def test_cookie_value() -> None:
    assert cookie_value("a=1; porchlight_session=xyz", "porchlight_session") == "xyz"
    assert cookie_value(None, "porchlight_session") is None
    assert cookie_value("a=1", "porchlight_session") is None
