"""Settings: environment variables (``PORCHLIGHT_<NAME>``) over a TOML file over defaults,
validated at start. A bad value stops the server with one line naming the setting."""

from __future__ import annotations

import os
import re
import tomllib
from email.utils import parseaddr
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from limits import parse_many
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from server.net import Network, parse_networks

DEFAULT_SECRET = "dev-only-secret-change-me-0000000000000000"  # noqa: S105 - the known default
DEFAULT_TURN_SECRET = "dev-only-turn-secret-change-me-00000000"  # noqa: S105 - the known default
# The placeholder in the shipped defaults and templates (deploy/coturn/turnserver.conf has
# ``static-auth-secret=CHANGE-ME``): a secret containing it was copied, not chosen.
PLACEHOLDER = "change-me"
ENV_PREFIX = "PORCHLIGHT_"
# An email address as staff forms and the sender setting accept it: one @, a dot after it.
EMAIL = re.compile(r"[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;.]+")

Rates = tuple[str, str, str]
"""Rate limits per visitor, per client address and per site, in the ``limits`` notation
(``60/minute``); from the environment, one comma-separated string."""


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
    # Set on every node of a fleet (N nodes, one PostgreSQL, one Redis); unset for one process.
    redis_url: str | None = None
    # The pub/sub channel of socket.io's cross-node emits: one per fleet sharing a Redis.
    redis_channel: Annotated[str, Field(min_length=1, max_length=200)] = "porchlight"
    secret_key: Annotated[str, Field(min_length=32)] = DEFAULT_SECRET
    ring_timeout: Annotated[float, Field(gt=0, le=600)] = 20.0
    grace_period: Annotated[float, Field(ge=0, le=3600)] = 30.0
    # A waiting customer with no widget frame open for this long has left: their
    # conversation is abandoned (nobody is rung for it meanwhile).
    customer_grace: Annotated[float, Field(ge=1, le=3600)] = 60.0
    # A node whose heartbeat (every second) is older than this is dead to the others: its
    # consoles count as gone and their grace periods start.
    node_timeout: Annotated[float, Field(ge=2, le=600)] = 10.0
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
    # "json": one JSON object per line, personal data only in redactable fields (server.logs).
    log_format: Literal["text", "json"] = "text"
    # How often the retention purge runs (on one node of a fleet), in seconds.
    retention_every: Annotated[float, Field(ge=60, le=7 * 86400)] = 3600.0
    # The bearer token that GET /metrics requires; unset, /metrics is off (404).
    metrics_token: Annotated[str | None, Field(min_length=16)] = None
    # Reverse proxies whose X-Forwarded-For is believed (CIDR blocks or addresses).
    trusted_proxies: tuple[str, ...] = ()
    # Rate limits (per visitor or staff member, per address, per site). Per address they are
    # higher than per visitor (a busy office behind one NAT), per site higher still.
    connection_limits: Rates = ("30/minute", "300/minute", "20000/minute")
    conversation_limits: Rates = ("10/minute", "30/minute", "600/minute")
    message_limits: Rates = ("60/minute", "600/minute", "20000/minute")
    typing_limits: Rates = ("120/minute", "1200/minute", "40000/minute")
    precheck_limits: Rates = ("30/minute", "120/minute", "1200/minute")
    # Open sockets per client address at once; past it a connection is refused (rate.limited).
    sockets_per_address: Annotated[int, Field(ge=1, le=1_000_000)] = 200
    # Pre-call checks running at once, in all and per client address (per visitor: one, a
    # visitor's new check replaces their running one).
    prechecks_running: Annotated[int, Field(ge=1, le=1000)] = 8
    prechecks_per_address: Annotated[int, Field(ge=1, le=1000)] = 2
    # Webhook receivers on these networks may be called although they are private (an
    # on-premises system); every other private, loopback or link-local address is refused.
    # Plain http receivers are allowed in development mode only.
    webhook_allowed_networks: tuple[str, ...] = ()
    static_dir: Path = Path(__file__).parent / "static"
    # Email (server.mail). No smtp_host: emails wait in the outbox until one is set.
    smtp_host: str | None = None
    smtp_port: Annotated[int, Field(ge=1, le=65535)] = 587
    # starttls: upgrade a plain connection (port 587); tls: TLS from the start (port 465);
    # none: plain, for a relay on this machine or the demo's catcher only.
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_timeout: Annotated[float, Field(gt=0, le=300)] = 15.0
    # CA certificates (PEM) that the mail server's certificate must chain to, for a relay with
    # a private certificate; unset: the system's CAs. Certificates are always verified.
    smtp_ca_file: Path | None = None
    mail_from: str = "Porchlight <porchlight@localhost>"
    # Development only: catch every email in this process (on smtp_host:smtp_port) and list
    # them in the console, so the demo needs no mail server.
    mail_catcher: bool = False

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

    @field_validator("redis_url")
    @classmethod
    def _redis(cls, value: str | None, info: ValidationInfo) -> str | None:
        if not value:  # PORCHLIGHT_REDIS_URL= (empty) is unset
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        # Several nodes share one database; SQLite is one process's file.
        if str(info.data.get("database_url", "")).startswith("sqlite"):
            raise ValueError(
                "needs a PostgreSQL database_url (postgresql+asyncpg://...): the nodes of a "
                "fleet share one database, and SQLite serves one process only"
            )
        return value

    @field_validator("smtp_host", "smtp_username", "smtp_password")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("mail_from")
    @classmethod
    def _sender(cls, value: str) -> str:
        _name, address = parseaddr(value)
        if "\n" in value or "\r" in value or not EMAIL.fullmatch(address):
            raise ValueError("must be an address such as Porchlight <support@example.com>")
        return value

    @field_validator("smtp_ca_file", mode="before")
    @classmethod
    def _ca_file(cls, value: Any) -> Any:
        if not value:
            return None
        if not Path(value).is_file():
            raise ValueError(f"{value} is not a file (a PEM bundle of CA certificates)")
        return value

    @model_validator(mode="after")
    def _smtp(self) -> Settings:
        if (self.smtp_username is None) != (self.smtp_password is None):
            raise SettingsError(
                "settings smtp_username and smtp_password (PORCHLIGHT_SMTP_USERNAME, "
                "PORCHLIGHT_SMTP_PASSWORD): set both to authenticate, or neither"
            )
        if self.smtp_password is not None and self.smtp_security == "none":
            raise SettingsError(
                "setting smtp_security (PORCHLIGHT_SMTP_SECURITY): a password is never sent "
                "over a plain connection; use starttls or tls"
            )
        if self.mail_catcher and self.mode == "production":
            raise SettingsError(
                "setting mail_catcher (PORCHLIGHT_MAIL_CATCHER): the catcher keeps emails "
                "instead of sending them and is for development only"
            )
        if self.mail_catcher and self.smtp_host is None:
            raise SettingsError(
                "setting smtp_host (PORCHLIGHT_SMTP_HOST): the mail catcher listens there; "
                "set it (e.g. 127.0.0.1) with smtp_port and smtp_security = none"
            )
        return self

    @field_validator("trusted_proxies", "webhook_allowed_networks", mode="before")
    @classmethod
    def _proxies(cls, value: Any) -> Any:
        # From the environment: one comma-separated string.
        if isinstance(value, str):
            value = [part for part in value.split(",") if part.strip()]
        parse_networks(value)
        return tuple(part.strip() for part in value)

    @field_validator(
        "connection_limits",
        "conversation_limits",
        "message_limits",
        "typing_limits",
        "precheck_limits",
        mode="before",
    )
    @classmethod
    def _rates(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.split(",")
        if not isinstance(value, list | tuple) or len(value) != 3:
            raise ValueError("expected three rates: per visitor, per address, per site")
        rates = tuple(str(rate).strip() for rate in value)
        for rate in rates:
            try:
                single = len(parse_many(rate)) == 1
            except ValueError:
                single = False
            if not single:
                raise ValueError(f"{rate!r} is not a rate such as 60/minute")
        return rates

    @property
    def silent_drop_bound(self) -> float:
        """Seconds within which a socket that stopped answering is dropped."""
        return self.ping_interval + self.ping_timeout

    @property
    def proxy_networks(self) -> tuple[Network, ...]:
        return parse_networks(self.trusted_proxies)

    @property
    def webhook_networks(self) -> tuple[Network, ...]:
        return parse_networks(self.webhook_allowed_networks)

    @property
    def public_origin(self) -> str:
        parts = urlsplit(self.public_url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def secure_cookies(self) -> bool:
        return self.public_url.startswith("https://")

    def check_production(self) -> None:
        """Production refuses the known development secrets and anything still containing
        the templates' ``CHANGE-ME`` placeholder."""
        if self.mode != "production":
            return
        if self.secret_key == DEFAULT_SECRET or PLACEHOLDER in self.secret_key.lower():
            raise SettingsError(
                "setting secret_key (PORCHLIGHT_SECRET_KEY): the default or placeholder secret "
                "cannot be used in production; set a random value of at least 32 characters"
            )
        if self.metrics_token is not None and PLACEHOLDER in self.metrics_token.lower():
            raise SettingsError(
                "setting metrics_token (PORCHLIGHT_METRICS_TOKEN): the placeholder cannot be "
                "used in production; set a random value of at least 16 characters"
            )
        if self.turn_host is not None and (
            self.turn_secret == DEFAULT_TURN_SECRET or PLACEHOLDER in self.turn_secret.lower()
        ):
            raise SettingsError(
                "setting turn_secret (PORCHLIGHT_TURN_SECRET): the default or placeholder TURN "
                "secret cannot be used in production; set a random value of at least 32 "
                "characters, the same as coturn's static-auth-secret"
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
    except SettingsError:
        raise
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        name = ".".join(str(part) for part in first["loc"])
        raise SettingsError(
            f"setting {name} ({ENV_PREFIX}{name.upper()}): {first['msg']}"
        ) from None
    settings.check_production()
    return settings
