"""What a site owner may set on a site, validated one way for the REST API, the console and
the command line: origins, greeting, channels and the widget's look."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

Channel = Literal["chat", "voice", "video", "oneway"]
CHANNELS: tuple[Channel, ...] = ("chat", "voice", "video", "oneway")
DEFAULT_COLOR = "#1f3a5f"
DEFAULT_LAUNCHER = "Talk to a person"
DARK_INK = "#1d2430"
LIGHT_INK = "#ffffff"
_HOST = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")


def origin(value: str) -> str:
    """``value`` as an origin (``https://shop.example.com``, lowercased, no trailing slash),
    or ``ValueError`` saying what is wrong with it in words a site owner understands."""
    text = value.strip().rstrip("/").lower()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise ValueError(f"{value!r} is not an origin") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"{value!r} must start with https:// (or http:// for local testing)")
    if parts.username or parts.password or parts.path or parts.query or parts.fragment:
        raise ValueError(
            f"{value!r} must be only a scheme and host, such as https://shop.example.com"
        )
    host = parts.hostname or ""
    if "*" in text:
        raise ValueError(f"{value!r}: wildcards are not allowed; list each origin")
    if ":" in host:
        try:
            host = f"[{ipaddress.IPv6Address(host)}]"
        except ValueError:
            raise ValueError(f"{value!r} has no valid host name") from None
    elif not _HOST.match(host):
        raise ValueError(f"{value!r} has no valid host name")
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")


def origins(values: list[str]) -> list[str]:
    cleaned = [origin(v) for v in values]
    return list(dict.fromkeys(cleaned))


def channels(values: list[Channel]) -> list[Channel]:
    if not values:
        raise ValueError("offer at least one channel")
    return [c for c in CHANNELS if c in values]


def luminance(color: str) -> float:
    """WCAG relative luminance of ``#rrggbb``."""

    def channel(hex_pair: str) -> float:
        c = int(hex_pair, 16) / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(color[i : i + 2]) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def ink_for(color: str) -> str:
    """The text colour that reads best on ``color``: white or near-black."""
    return LIGHT_INK if contrast(color, LIGHT_INK) >= contrast(color, DARK_INK) else DARK_INK


Origins = Annotated[list[str], Field(min_length=1, max_length=50), AfterValidator(origins)]
Channels = Annotated[list[Channel], Field(max_length=4), AfterValidator(channels)]
Color = Annotated[str, StringConstraints(pattern=r"^#[0-9a-fA-F]{6}$"), AfterValidator(str.lower)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=120)]
Greeting = Annotated[str, StringConstraints(max_length=300)]
LauncherText = Annotated[str, StringConstraints(min_length=1, max_length=40)]


class SiteFields(BaseModel):
    """A new site: everything but the name and origins has a default."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Name
    allowed_origins: Origins
    greeting: Greeting = "Hi! How can we help?"
    relay_only: bool = False
    channels: Channels = list(CHANNELS)
    brand_color: Color = DEFAULT_COLOR
    launcher_position: Literal["right", "left"] = "right"
    launcher_text: LauncherText = DEFAULT_LAUNCHER
    show_staff: bool = True


class SiteChanges(BaseModel):
    """A change to a site: only the fields sent are changed."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Name | None = None
    allowed_origins: Origins | None = None
    greeting: Greeting | None = None
    relay_only: bool | None = None
    channels: Channels | None = None
    brand_color: Color | None = None
    launcher_position: Literal["right", "left"] | None = None
    launcher_text: LauncherText | None = None
    show_staff: bool | None = None
