from pathlib import Path

import pytest

from server.settings import DEFAULT_SECRET, DEFAULT_TURN_SECRET, SettingsError, load_settings


def test_defaults_are_valid_for_development() -> None:
    settings = load_settings(environ={})
    assert settings.port == 8080
    assert settings.secret_key == DEFAULT_SECRET


def test_environment_overrides_file(tmp_path: Path) -> None:
    file = tmp_path / "porchlight.toml"
    file.write_text("port = 9000\nring_timeout = 5\n")
    settings = load_settings(file, environ={"PORCHLIGHT_PORT": "9100"})
    assert settings.port == 9100
    assert settings.ring_timeout == 5


@pytest.mark.parametrize(
    ("environ", "names"),
    [
        ({"PORCHLIGHT_PORT": "eighty"}, "port (PORCHLIGHT_PORT)"),
        ({"PORCHLIGHT_RING_TIMEOUT": "-1"}, "ring_timeout (PORCHLIGHT_RING_TIMEOUT)"),
        ({"PORCHLIGHT_PUBLIC_URL": "ftp://x"}, "public_url (PORCHLIGHT_PUBLIC_URL)"),
        ({"PORCHLIGHT_DATABASE_URL": "mysql://x"}, "database_url (PORCHLIGHT_DATABASE_URL)"),
        ({"PORCHLIGHT_SECRET_KEY": "short"}, "secret_key (PORCHLIGHT_SECRET_KEY)"),
    ],
)
def test_a_bad_value_names_the_setting(environ: dict[str, str], names: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(environ=environ)
    message = str(caught.value)
    assert names in message
    assert "\n" not in message


def test_production_refuses_the_default_secret() -> None:
    with pytest.raises(SettingsError, match="secret_key"):
        load_settings(environ={"PORCHLIGHT_MODE": "production"})
    ok = load_settings(environ={"PORCHLIGHT_MODE": "production", "PORCHLIGHT_SECRET_KEY": "x" * 40})
    assert ok.mode == "production"


def test_unknown_keys_in_the_file_are_refused(tmp_path: Path) -> None:
    file = tmp_path / "porchlight.toml"
    file.write_text("prot = 9000\n")
    with pytest.raises(SettingsError, match="prot"):
        load_settings(file, environ={})


def test_redis_url_with_a_sqlite_database_is_refused() -> None:
    """Several nodes share one database: SQLite cannot be it."""
    with pytest.raises(SettingsError) as caught:
        load_settings(environ={"PORCHLIGHT_REDIS_URL": "redis://127.0.0.1:6379/0"})
    message = str(caught.value)
    assert "redis_url (PORCHLIGHT_REDIS_URL)" in message
    assert "PostgreSQL" in message
    assert "\n" not in message


def test_redis_url_with_postgresql_makes_a_fleet_node() -> None:
    settings = load_settings(
        environ={
            "PORCHLIGHT_DATABASE_URL": "postgresql+asyncpg://postgres@db/porchlight",
            "PORCHLIGHT_REDIS_URL": "redis://redis:6379/0",
            "PORCHLIGHT_REDIS_CHANNEL": "shop-fleet",
        }
    )
    assert settings.redis_url == "redis://redis:6379/0"
    assert settings.redis_channel == "shop-fleet"
    assert load_settings(environ={}).redis_url is None
    with pytest.raises(SettingsError, match="redis_url"):
        load_settings(
            environ={
                "PORCHLIGHT_DATABASE_URL": "postgresql+asyncpg://postgres@db/porchlight",
                "PORCHLIGHT_REDIS_URL": "http://redis:6379",
            }
        )


@pytest.mark.parametrize(
    "turn_secret",
    ["CHANGE-ME-to-a-random-secret", "change-me-0123456789abcdef", DEFAULT_TURN_SECRET],
)
def test_production_refuses_the_coturn_placeholder_turn_secret(turn_secret: str) -> None:
    environ = {
        "PORCHLIGHT_MODE": "production",
        "PORCHLIGHT_SECRET_KEY": "x" * 40,
        "PORCHLIGHT_TURN_HOST": "turn.example.com",
        "PORCHLIGHT_TURN_SECRET": turn_secret,
    }
    with pytest.raises(SettingsError, match="turn_secret"):
        load_settings(environ=environ)
    chosen = load_settings(environ={**environ, "PORCHLIGHT_TURN_SECRET": "Zq8" * 12})
    assert chosen.turn_secret == "Zq8" * 12


def test_production_refuses_a_placeholder_secret_key() -> None:
    with pytest.raises(SettingsError, match="secret_key"):
        load_settings(
            environ={"PORCHLIGHT_MODE": "production", "PORCHLIGHT_SECRET_KEY": "CHANGE-ME" * 4}
        )


def test_production_refuses_the_placeholder_metrics_token() -> None:
    environ = {"PORCHLIGHT_MODE": "production", "PORCHLIGHT_SECRET_KEY": "Zq8" * 12}
    with pytest.raises(SettingsError, match="metrics_token"):
        load_settings(
            environ={**environ, "PORCHLIGHT_METRICS_TOKEN": "CHANGE-ME-random-at-least-16"}
        )
    with pytest.raises(SettingsError, match="metrics_token"):
        load_settings(environ={**environ, "PORCHLIGHT_METRICS_TOKEN": "short"})
    chosen = load_settings(environ={**environ, "PORCHLIGHT_METRICS_TOKEN": "m" * 20})
    assert chosen.metrics_token == "m" * 20
