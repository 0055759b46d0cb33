"""Email: templates in the recipient's language, the outbox that every email goes through,
and the port others call (``Outbox.enqueue``). Sending is in ``server.mail_sender``.

Templates are ``server/templates/email/<name>.txt`` (plain text, whose ``subject`` block is
the subject) and ``<name>.html`` (autoescaped). Their words go through gettext
(``{{ _("...") }}``): a language's catalogue is ``server/locale/<lang>/LC_MESSAGES/
porchlight.mo``; without one, English is used.
"""

from __future__ import annotations

import gettext
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parseaddr
from pathlib import Path
from typing import Any

import jinja2

from server.settings import EMAIL
from server.store_mail import Email, MailStore

log = logging.getLogger(__name__)

TEMPLATE_DIR = Path(__file__).parent / "templates" / "email"
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "porchlight"
RTL_LANGUAGES = frozenset({"ar", "he", "fa", "ur"})
SUBJECT_LENGTH = 300


def language_of(tag: str | None) -> str:
    """``pt-BR`` → ``pt``; nothing or nonsense → ``en``."""
    base = (tag or "").split("-")[0].split("_")[0].strip().lower()
    return base if base.isalpha() and len(base) <= 8 else "en"


class MailTemplates:
    """Renders an email's subject, text and HTML in one language. One jinja2 environment
    per language (gettext is installed on an environment), made on first use."""

    def __init__(self, directory: Path = TEMPLATE_DIR, locales: Path = LOCALE_DIR) -> None:
        self.directory = directory
        self.locales = locales
        self._environments: dict[str, jinja2.Environment] = {}

    def available(self, language: str) -> str:
        """``language`` if it has a catalogue, else English: ``lang`` and ``dir`` always say
        what is shown."""
        if language == "en" or gettext.find(DOMAIN, self.locales, [language]) is not None:
            return language
        return "en"

    def environment(self, language: str) -> jinja2.Environment:
        env = self._environments.get(language)
        if env is None:
            env = jinja2.Environment(
                loader=jinja2.FileSystemLoader(self.directory),
                autoescape=jinja2.select_autoescape(["html"]),
                extensions=["jinja2.ext.i18n"],
                undefined=jinja2.StrictUndefined,
                keep_trailing_newline=True,
            )
            translations = gettext.translation(
                DOMAIN, self.locales, languages=[language], fallback=True
            )
            env.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
            self._environments[language] = env
        return env

    def render(
        self, template: str, context: Mapping[str, Any], language: str
    ) -> tuple[str, str, str]:
        """(subject, text, html) in ``language``, which must be ``available``. Raises
        ``ValueError`` for an unknown template."""
        env = self.environment(language)
        values = {
            **context,
            "lang": language,
            "dir": "rtl" if language in RTL_LANGUAGES else "ltr",
        }
        try:
            text_template = env.get_template(f"{template}.txt")
            html_template = env.get_template(f"{template}.html")
        except jinja2.TemplateNotFound:
            raise ValueError(f"no email template {template!r}") from None
        subject = "".join(text_template.blocks["subject"](text_template.new_context(values)))
        # One line: a subject is a header, and a newline in it would start another.
        subject = " ".join(subject.split())[:SUBJECT_LENGTH]
        return subject, text_template.render(values), html_template.render(values)


@dataclass(frozen=True, slots=True)
class Sender:
    """The From address and the domain of our Message-IDs."""

    address: str

    @property
    def domain(self) -> str:
        return parseaddr(self.address)[1].rpartition("@")[2] or "localhost"


class Outbox:
    """The ``Mail`` port: renders an email and stores it in the outbox; ``wake`` (the local
    sender's nudge) is called after each, so it leaves at once rather than at the next poll.

    :param now: the clock (epoch seconds); tests pass their own.
    """

    def __init__(
        self,
        store: MailStore,
        templates: MailTemplates,
        sender: Sender,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.templates = templates
        self.sender = sender
        self.now = now
        self.wake: Callable[[], None] = lambda: None

    def render(
        self, to: str, template: str, context: Mapping[str, Any], language: str = "en"
    ) -> Email:
        """The email as it will be stored, with a new Message-ID (for ``insert_email`` in a
        caller's own transaction); ``enqueue`` does this and stores it."""
        address = to.strip()
        if not EMAIL.fullmatch(address):
            raise ValueError("not an email address")
        lang = self.templates.available(language_of(language))
        subject, text, html = self.templates.render(template, context, lang)
        return Email(
            message_id=f"<{secrets.token_hex(16)}@{self.sender.domain}>",
            recipient=address,
            template=template,
            language=lang,
            subject=subject,
            text_body=text,
            html_body=html,
        )

    async def enqueue(
        self, to: str, template: str, context: Mapping[str, Any], language: str = "en"
    ) -> str:
        email = self.render(to, template, context, language)
        await self.store.add_email(email, self.now())
        # The template says what this email is; the address is personal data.
        log.info("email queued", extra={"template": template, "to": email.recipient})
        self.wake()
        return email.message_id

    async def depth(self) -> int:
        """Emails waiting to be sent (pending, or being sent right now)."""
        return await self.store.outbox_depth()
