"""Settings: environment variables (``PORCHLIGHT_<NAME>``) over a TOML file over defaults,
validated at start. A bad value stops the server with one line naming the setting."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from server.net import Network, parse_networks

DEFAULT_SECRET = "dev-only-secret-change-me-0000000000000000"  # noqa: S105 - the known default
DEFAULT_TURN_SECRET = "dev-only-turn-secret-change-me-00000000"  # noqa: S105 - the known default
ENV_PREFIX = "PORCHLIGHT_"


class SettingsError(Exception):
    """One line that names the setting and what is wrong with it."""


class Settings(BaseModel):
    """Everything the server can be told. See README "Configuration"."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["development", "production"] = "development"
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8080
    public_url: str = "http://127.0.0.1:8080"
    database_url: str = "sqlite+aiosqlite:///porchlight.db"
    secret_key: Annotated[str, Field(min_length=32)] = DEFAULT_SECRET
    ring_timeout: Annotated[float, Field(gt=0, le=600)] = 20.0
    grace_period: Annotated[float, Field(ge=0, le=3600)] = 30.0
    # engine.io pings every socket each ping_interval s and drops one that has sent nothing
    # for ping_interval + ping_timeout s: a console that vanishes without closing (a laptop
    # lid, a dead network) is noticed within that sum, and only then does grace_period start.
    # Whole seconds: engine.io truncates the interval it tells clients to whole seconds.
    ping_interval: Annotated[int, Field(ge=1, le=300)] = 6
    ping_timeout: Annotated[float, Field(gt=0, le=300)] = 4.0
    session_hours: Annotated[float, Field(gt=0, le=24 * 30)] = 12.0
    login_attempts: Annotated[int, Field(ge=1, le=100)] = 5
    turn_host: str | None = None
    turn_port: Annotated[int, Field(ge=1, le=65535)] = 3478
    turn_secret: Annotated[str, Field(min_length=16)] = DEFAULT_TURN_SECRET
    turn_ttl: Annotated[int, Field(ge=60, le=24 * 3600)] = 600
    ice_transport_policy: Literal["all", "relay"] = "all"
    auto_migrate: bool = True
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # Reverse proxies whose X-Forwarded-For is believed (CIDR blocks or addresses).
    trusted_proxies: tuple[str, ...] = ()
    static_dir: Path = Path(__file__).parent / "static"

    @field_validator("public_url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http(s) URL such as https://chat.example.com")
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _database(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxies(cls, value: Any) -> Any:
        # From the environment: one comma-separated string.
        if isinstance(value, str):
            value = [part for part in value.split(",") if part.strip()]
        parse_networks(value)
        return tuple(part.strip() for part in value)

    @property
    def silent_drop_bound(self) -> float:
        """Seconds within which a socket that stopped answering is dropped."""
        return self.ping_interval + self.ping_timeout

    @property
    def proxy_networks(self) -> tuple[Network, ...]:
        return parse_networks(self.trusted_proxies)

    @property
    def public_origin(self) -> str:
        parts = urlsplit(self.public_url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def secure_cookies(self) -> bool:
        return self.public_url.startswith("https://")

    def check_production(self) -> None:
        """Production refuses the known development secrets."""
        if self.mode != "production":
            return
        if self.secret_key == DEFAULT_SECRET:
            raise SettingsError(
                "setting secret_key (PORCHLIGHT_SECRET_KEY): the default secret cannot be used "
                "in production; set a random value of at least 32 characters"
            )
        if self.turn_host is not None and self.turn_secret == DEFAULT_TURN_SECRET:
            raise SettingsError(
                "setting turn_secret (PORCHLIGHT_TURN_SECRET): the default TURN secret cannot "
                "be used in production; set coturn's static-auth-secret"
            )


def load_settings(
    file: Path | None = None,
    environ: dict[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Build settings from a TOML file, then environment, then explicit overrides."""
    values: dict[str, Any] = {}
    if file is not None:
        try:
            values.update(tomllib.loads(file.read_text(encoding="utf-8")))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(f"settings file {file}: {exc}") from None
    env = os.environ if environ is None else environ
    for name in Settings.model_fields:
        key = ENV_PREFIX + name.upper()
        if key in env:
            values[name] = env[key]
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        settings = Settings.model_validate(values)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        name = ".".join(str(part) for part in first["loc"])
        raise SettingsError(
            f"setting {name} ({ENV_PREFIX}{name.upper()}): {first['msg']}"
        ) from None
    settings.check_production()
    return settings
