"""Email settings, templates and back-off, without a network."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest

from server.mail import MailTemplates, Outbox, Sender, language_of
from server.mail_sender import RetryPolicy
from server.settings import SettingsError, load_settings

CONTEXT: dict[str, Any] = {
    "name": 'Ana <img src=x onerror="alert(1)">',
    "inviter": "Sam",
    "team": "Lamp & Co.\nBcc: evil@example.com",
    "role": "agent",
    "url": "https://chat.example.com/account/password?token=a&b",
    "hours": 72,
    "product": "Porchlight",
}


def test_mail_settings_are_read_from_the_environment() -> None:
    settings = load_settings(
        environ={
            "PORCHLIGHT_SMTP_HOST": "smtp.example.com",
            "PORCHLIGHT_SMTP_PORT": "465",
            "PORCHLIGHT_SMTP_SECURITY": "tls",
            "PORCHLIGHT_SMTP_USERNAME": "porchlight",
            "PORCHLIGHT_SMTP_PASSWORD": "secret",
            "PORCHLIGHT_MAIL_FROM": "Lamp & Co. <help@lamp.example>",
        }
    )
    assert (settings.smtp_host, settings.smtp_port, settings.smtp_security) == (
        "smtp.example.com",
        465,
        "tls",
    )


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"PORCHLIGHT_SMTP_SECURITY": "ssl"}, "smtp_security (PORCHLIGHT_SMTP_SECURITY)"),
        ({"PORCHLIGHT_SMTP_PORT": "0"}, "smtp_port (PORCHLIGHT_SMTP_PORT)"),
        ({"PORCHLIGHT_MAIL_FROM": "not an address"}, "mail_from (PORCHLIGHT_MAIL_FROM)"),
        ({"PORCHLIGHT_SMTP_USERNAME": "me"}, "smtp_username and smtp_password"),
        ({"PORCHLIGHT_SMTP_CA_FILE": "/no/such/ca.pem"}, "smtp_ca_file (PORCHLIGHT_SMTP_CA_FILE)"),
        (
            {
                "PORCHLIGHT_SMTP_USERNAME": "me",
                "PORCHLIGHT_SMTP_PASSWORD": "pw",
                "PORCHLIGHT_SMTP_SECURITY": "none",
            },
            "never sent over a plain connection",
        ),
        ({"PORCHLIGHT_MAIL_CATCHER": "true"}, "smtp_host (PORCHLIGHT_SMTP_HOST)"),
        (
            {
                "PORCHLIGHT_MAIL_CATCHER": "true",
                "PORCHLIGHT_SMTP_HOST": "127.0.0.1",
                "PORCHLIGHT_MODE": "production",
                "PORCHLIGHT_SECRET_KEY": "k" * 40,
            },
            "development only",
        ),
    ],
)
def test_a_bad_mail_setting_stops_the_start_naming_it(environ: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(environ=environ)
    assert named in str(raised.value)


def test_html_is_escaped_and_the_subject_is_one_line() -> None:
    subject, text, html = MailTemplates().render("staff_invite", CONTEXT, "en")
    assert "\n" not in subject and subject.startswith("Sam invited you to Lamp & Co.")
    assert "<img" not in html and "&lt;img" in html
    assert 'href="https://chat.example.com/account/password?token=a&amp;b"' in html
    assert '<html lang="en" dir="ltr">' in html
    # Plain text is not HTML: it reads as typed.
    assert text.startswith("Hello Ana <img")
    assert CONTEXT["url"] in text


def test_a_language_without_a_catalogue_is_sent_in_english_and_says_so(
    tmp_path: Path,
) -> None:
    outbox = Outbox(None, MailTemplates(), Sender("team@example.com"))  # type: ignore[arg-type]
    email = outbox.render("ana@example.com", "staff_invite", CONTEXT, "ar-EG")
    assert email.language == "en"
    assert '<html lang="en" dir="ltr">' in email.html_body
    # With a catalogue, the words and the direction are the language's own.
    catalogue = tmp_path / "ar" / "LC_MESSAGES"
    catalogue.mkdir(parents=True)
    write_mo(
        catalogue / "porchlight.mo",
        {"": "Content-Type: text/plain; charset=UTF-8\n", "Hello %(name)s,": "مرحبا %(name)s،"},
    )
    arabic = Outbox(None, MailTemplates(locales=tmp_path), Sender("t@example.com"))  # type: ignore[arg-type]
    email = arabic.render("ana@example.com", "staff_invite", CONTEXT, "ar-EG")
    assert email.language == "ar"
    assert '<html lang="ar" dir="rtl">' in email.html_body
    assert email.text_body.startswith("مرحبا Ana")
    assert language_of("pt-BR") == "pt"
    assert language_of("../../etc") == "en"


def test_a_missing_template_or_bad_address_is_refused_before_anything_is_stored() -> None:
    outbox = Outbox(None, MailTemplates(), Sender("team@example.com"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="template"):
        outbox.render("ana@example.com", "no_such_email", CONTEXT)
    with pytest.raises(ValueError, match="address"):
        outbox.render("ana@example.com\r\nBcc: x@y.z", "staff_invite", CONTEXT)
    email = outbox.render(" Ana@Example.com ", "staff_invite", CONTEXT)
    assert email.recipient == "Ana@Example.com"
    assert email.message_id.endswith("@example.com>")


def test_back_off_doubles_up_to_its_ceiling() -> None:
    policy = RetryPolicy(base=5.0, ceiling=60.0)
    assert [policy.delay(n) for n in range(1, 7)] == [5, 10, 20, 40, 60, 60]


def write_mo(path: Path, messages: dict[str, str]) -> None:
    """A GNU gettext catalogue (the .mo format), as msgfmt writes it."""
    keys = sorted(messages)
    ids = b"".join(k.encode() + b"\0" for k in keys)
    strs = b"".join(messages[k].encode() + b"\0" for k in keys)
    count = len(keys)
    start = 7 * 4 + count * 16
    offsets: list[int] = []
    position = 0
    for k in keys:
        offsets += [len(k.encode()), start + position]
        position += len(k.encode()) + 1
    position = 0
    for k in keys:
        offsets += [len(messages[k].encode()), start + len(ids) + position]
        position += len(messages[k].encode()) + 1
    header = struct.pack("Iiiiiii", 0x950412DE, 0, count, 28, 28 + count * 8, 0, 0)
    path.write_bytes(header + struct.pack(f"{len(offsets)}i", *offsets) + ids + strs)
