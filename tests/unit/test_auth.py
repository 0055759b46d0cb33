import pytest

from server.auth import CustomerTokens, Throttle, cookie_value
from signaling.errors import ProtocolError


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


def test_throttle_blocks_after_the_limit_and_clears_on_success() -> None:
    throttle = Throttle(limit=3, window=60)
    for _ in range(3):
        assert throttle.retry_after("email:a") == 0
        throttle.fail("email:a")
    assert throttle.retry_after("email:a") > 0
    assert throttle.retry_after("email:b") == 0
    throttle.clear("email:a")
    assert throttle.retry_after("email:a") == 0


def test_cookie_value() -> None:
    assert cookie_value("a=1; porchlight_session=xyz", "porchlight_session") == "xyz"
    assert cookie_value(None, "porchlight_session") is None
    assert cookie_value("a=1", "porchlight_session") is None
