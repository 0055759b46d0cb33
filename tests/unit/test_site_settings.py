"""A site's settings as the console, the REST API and the command line validate them."""

import pytest
from pydantic import ValidationError

from server.site_settings import SiteChanges, SiteFields, contrast, ink_for, origin


@pytest.mark.parametrize(
    ("given", "cleaned"),
    [
        ("https://Shop.Example.com/", "https://shop.example.com"),
        ("http://localhost:8090", "http://localhost:8090"),
        ("https://[::1]:8443", "https://[::1]:8443"),
        ("https://xn--bcher-kva.example", "https://xn--bcher-kva.example"),
    ],
)
def test_an_origin_is_kept_as_scheme_host_and_port(given: str, cleaned: str) -> None:
    assert origin(given) == cleaned


@pytest.mark.parametrize(
    ("given", "why"),
    [
        ("shop.example", "must start with https://"),
        ("ftp://shop.example", "must start with https://"),
        ("https://shop.example/path", "only a scheme and host"),
        ("https://shop.example?q=1", "only a scheme and host"),
        ("https://user:pw@shop.example", "only a scheme and host"),
        ("https://*.shop.example", "wildcards are not allowed"),
        ("https://shop..example", "no valid host name"),
        ("https://shop.example:99999", "is not an origin"),
        ("https://[zz::1]", "is not an origin"),
    ],
)
def test_a_bad_origin_is_refused_with_the_reason(given: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        origin(given)


def test_a_new_site_gets_defaults_and_keeps_channels_in_order() -> None:
    site = SiteFields.model_validate(
        {
            "name": "Lamps",
            "allowed_origins": ["https://a.example", "https://A.example/"],
            "channels": ["video", "chat"],
            "brand_color": "#FFD400",
        }
    )
    assert site.allowed_origins == ["https://a.example"]
    assert site.channels == ["chat", "video"]
    assert site.brand_color == "#ffd400"
    assert site.launcher_position == "right"


@pytest.mark.parametrize(
    "bad",
    [
        {"channels": []},
        {"brand_color": "red"},
        {"launcher_position": "top"},
        {"launcher_text": ""},
        {"launcher_text": "x" * 41},
        {"allowed_origins": []},
        {"unknown": 1},
    ],
)
def test_a_bad_change_is_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        SiteChanges.model_validate(bad)


@pytest.mark.parametrize(
    ("color", "ink"),
    [
        ("#1f3a5f", "#ffffff"),
        ("#ffd400", "#1d2430"),
        ("#000000", "#ffffff"),
        ("#f4f6f9", "#1d2430"),
    ],
)
def test_the_text_colour_is_the_one_with_more_contrast(color: str, ink: str) -> None:
    assert ink_for(color) == ink
    other = "#1d2430" if ink == "#ffffff" else "#ffffff"
    assert contrast(color, ink) > contrast(color, other)
    assert contrast(color, ink) >= 4.5
