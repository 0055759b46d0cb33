"""The records that cross the domain's ports: sites, staff, conversations and messages,
and the changes a conversation takes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["queued", "ringing", "active", "ended"]
Sender = Literal["customer", "staff", "system"]
Side = Literal["customer", "staff"]
EndedBy = Literal["customer", "staff", "system"]
Role = Literal["admin", "supervisor", "agent"]
# Roles that may read (never act in) any conversation and see the team's figures.
OVERSEERS: frozenset[str] = frozenset({"admin", "supervisor"})
Answer = Literal["accepted", "declined", "superseded", "withdrawn"]


@dataclass(frozen=True, slots=True)
class ShiftPolicy:
    """A site's rules for its staff's shift: seconds of wrap-up (not rung) after a chat and
    after a conversation that had a call, the outcome tags staff pick from, and an optional
    pause of ``pause_s`` after ``call_cap`` calls in a row (0: no cap)."""

    wrapup_chat_s: float = 0.0
    wrapup_call_s: float = 30.0
    outcome_tags: tuple[str, ...] = ()
    call_cap: int = 0
    pause_s: float = 120.0


@dataclass(frozen=True, slots=True)
class WrapUp:
    """A staff member's wrap-up after ``conversation_id`` ended at ``began``: not rung until
    ``until``. ``pause`` when it includes the pause after the site's cap of calls in a
    row."""

    staff_id: int
    conversation_id: str
    began: float
    until: float
    pause: bool = False


@dataclass(frozen=True, slots=True)
class Site:
    """A website that embeds the widget."""

    id: int
    key: str
    name: str
    allowed_origins: tuple[str, ...]
    greeting: str = "Hi! How can we help?"
    relay_only: bool = False
    # Ended conversations older than this many days are deleted; None keeps them.
    retention_days: int | None = None
    channels: tuple[str, ...] = ("chat", "voice", "video", "oneway")
    brand_color: str = "#1f3a5f"
    launcher_position: str = "right"
    launcher_text: str = "Talk to a person"
    show_staff: bool = True
    seen_origin: str | None = None
    seen_at: float | None = None
    shift: ShiftPolicy = field(default_factory=ShiftPolicy)


@dataclass(frozen=True, slots=True)
class StaffMember:
    """A person who answers. ``languages`` empty means they take any language."""

    id: int
    email: str
    name: str
    role: Role
    languages: tuple[str, ...] = ()
    max_chats: int = 3


@dataclass(frozen=True, slots=True)
class Conversation:
    """One conversation as stored. Times are epoch seconds (float).

    States: ``queued → ringing → active → ended`` (``ringing → queued`` on timeout or decline,
    ``active → queued`` when the assignee's grace period runs out). ``version`` starts at 1 and
    grows with every ``Store.update_conversation`` that changes the row, so of two copies the
    one with the higher version is the newer.
    """

    id: str
    site_id: int
    site_key: str
    visitor_id: str
    status: Status
    channel: str
    language: str | None
    assignee_id: int | None
    ringing_staff_id: int | None
    last_seq: int
    customer_read_seq: int
    staff_read_seq: int
    visitor_name: str | None
    page_url: str | None
    page_title: str | None
    created_at: float
    queued_at: float
    accepted_at: float | None
    ended_at: float | None
    ended_by: EndedBy | None
    version: int
    ring_deadline: float | None = None
    tried: tuple[int, ...] = ()
    rating: int | None = None
    rating_comment: str | None = None
    # The outcome tag its staff member picked from the site's catalogue (wrap-up).
    outcome: str | None = None


@dataclass(frozen=True, slots=True)
class Message:
    """One committed message; ``seq`` is gapless per conversation, starting at 1."""

    conversation_id: str
    seq: int
    client_msg_id: str | None
    sender: Sender
    author_id: int | None
    author_name: str | None
    kind: Literal["text", "system"]
    body: str
    created_at: float
    detail: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class NewConversation:
    """What a customer's ``conversation.start`` creates."""

    site: Site
    visitor_id: str
    channel: str = "chat"
    language: str | None = None
    visitor_name: str | None = None
    page_url: str | None = None
    page_title: str | None = None


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message to store; ``client_msg_id`` makes the write idempotent (None for system)."""

    conversation_id: str
    sender: Sender
    kind: Literal["text", "system"]
    body: str
    client_msg_id: str | None = None
    author_id: int | None = None
    author_name: str | None = None
    detail: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Owners:
    """Whose a conversation is and whether it is open, as read inside a message's own
    transaction (so the check and the write see the same row)."""

    status: Status
    site_id: int
    visitor_id: str
    assignee_id: int | None


@dataclass(frozen=True, slots=True)
class Appended:
    """What ``Store.append_message`` did: the stored message, whether this call created it
    (``False`` for a resend of a stored ``client_msg_id``) and the conversation's owners."""

    message: Message
    created: bool
    owners: Owners


@dataclass(slots=True)
class Changes:
    """Fields to change on a conversation; ``None`` leaves a field as it is, except for the
    two ``clear_*`` flags."""

    status: Status | None = None
    assignee_id: int | None = None
    clear_assignee: bool = False
    ringing_staff_id: int | None = None
    clear_ringing: bool = False
    queued_at: float | None = None
    accepted_at: float | None = None
    ended_at: float | None = None
    ended_by: EndedBy | None = None
    page_url: str | None = None
    page_title: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
