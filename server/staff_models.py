"""What may be said about a staff member, validated once for the REST API and the command
line alike (pydantic models), and the shape the API answers with."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints

from server.api_models import NEXT_PAGE, Reply
from server.rest import Body
from server.settings import EMAIL
from server.store_staff import StaffProfile

# Languages the console has a catalogue for; the widget issue adds more.
CONSOLE_LANGUAGES = {"en": "English"}
MIN_PASSWORD = 10


def _email(value: str) -> str:
    if not EMAIL.fullmatch(value):
        raise ValueError("must be an email address such as ana@example.com")
    return value.lower()


def _console_language(value: str) -> str:
    if value not in CONSOLE_LANGUAGES:
        raise ValueError(f"must be one of {', '.join(sorted(CONSOLE_LANGUAGES))}")
    return value


Email = Annotated[str, StringConstraints(max_length=254), AfterValidator(_email)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=80)]
Role = Literal["admin", "supervisor", "agent"]
# A language tag as routing matches it: "en", "pt-BR".
Language = Annotated[
    str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$", max_length=35)
]
Languages = Annotated[list[Language], Field(max_length=20)]
MaxChats = Annotated[int, Field(ge=1, le=50)]
# One call at a time at most (the database allows no more); 0 takes chats only.
MaxCalls = Annotated[int, Field(ge=0, le=1)]
ConsoleLanguage = Annotated[str, AfterValidator(_console_language)]
Password = Annotated[str, StringConstraints(min_length=MIN_PASSWORD, max_length=1024)]


class StaffInvite(Body):
    """An admin's invitation: the person gets an email with a link to choose a password."""

    email: Email
    name: Name
    role: Role = "agent"
    languages: Languages = []
    max_chats: MaxChats = 3
    max_calls: MaxCalls = 1


class StaffEdit(Body):
    """An admin's change to a staff member; fields left out stay as they are."""

    name: Name | None = None
    role: Role | None = None
    languages: Languages | None = None
    max_chats: MaxChats | None = None
    max_calls: MaxCalls | None = None


class ProfileEdit(Body):
    """A staff member's change to their own profile."""

    name: Name | None = None
    console_language: ConsoleLanguage | None = None


class PasswordChange(Body):
    """A staff member's new password, with their current one."""

    current_password: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    new_password: Password


class StaffOut(Reply):
    """A staff member as the API shows them; ``invited``: no password chosen yet."""

    id: int
    email: str
    name: str
    role: Role
    languages: list[str]
    max_chats: int
    max_calls: int
    console_language: str
    invited: bool
    photo_url: str | None = None

    @classmethod
    def of(cls, profile: StaffProfile, photo_url: str | None = None) -> StaffOut:
        return cls(
            photo_url=photo_url,
            id=profile.id,
            email=profile.email,
            name=profile.name,
            role=profile.role,
            languages=list(profile.languages),
            max_chats=profile.max_chats,
            max_calls=profile.max_calls,
            console_language=profile.console_language,
            invited=profile.invited,
        )


class StaffList(Reply):
    """One page of staff members, oldest first."""

    staff: list[StaffOut]
    next_cursor: str | None = NEXT_PAGE


class StaffOne(Reply):
    """One staff member."""

    staff: StaffOut


class LinkSent(Reply):
    """An invitation or reset link was emailed; ``url`` is the same link, shown to the admin
    once, for when email is slow or not set up."""

    staff: StaffOut
    url: str
    expires_at: float
    message_id: str


class ConsoleLanguageOut(Reply):
    """A language the console is offered in."""

    code: str
    name: str


class ProfileOut(Reply):
    """One's own profile, and the console languages one may choose."""

    staff: StaffOut
    console_languages: list[ConsoleLanguageOut]
