"""The bodies REST answers with, as pydantic models: handlers build their answers from these
(``server.rest.reply``), the OpenAPI document describes them, and ``server.rest_codegen``
turns them into the console's TypeScript types."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from server.site_settings import ink_for
from signaling.ports import Role, Site, StaffMember
from signaling.protocol import ConversationView, IceServer, MessageView


class Reply(BaseModel):
    """Base of every REST response body."""

    # Every field is always sent, defaults included: the schema says so (required).
    model_config = ConfigDict(frozen=True, json_schema_serialization_defaults_required=True)


class StaffView(Reply):
    """A staff member as admins and the member themselves see them."""

    id: int
    email: str
    name: str
    role: Role
    languages: list[str]
    max_chats: int

    @classmethod
    def of(cls, member: StaffMember) -> StaffView:
        return cls(
            id=member.id,
            email=member.email,
            name=member.name,
            role=member.role,
            languages=list(member.languages),
            max_chats=member.max_chats,
        )


class SiteView(Reply):
    """A site, with the snippet its owner pastes before ``</body>``. Its secret is never
    shown."""

    id: int
    key: str
    name: str
    allowed_origins: list[str]
    greeting: str
    relay_only: bool
    channels: list[str] = Field(description="chat, voice, video, oneway: the ways offered")
    brand_color: str = Field(description="#rrggbb")
    brand_ink: str = Field(description="The text colour that reads on the brand colour")
    launcher_position: Literal["left", "right"]
    launcher_text: str
    show_staff: bool = Field(description="Customers see the staff member's initials")
    seen_origin: str | None = Field(description="Where the snippet last ran (install check)")
    seen_at: float | None = Field(description="When it last ran there, epoch seconds")
    retention_days: int | None = Field(description="Ended conversations are deleted after")
    snippet: str

    @classmethod
    def of(cls, site: Site, snippet: str) -> SiteView:
        return cls(
            id=site.id,
            key=site.key,
            name=site.name,
            allowed_origins=list(site.allowed_origins),
            greeting=site.greeting,
            relay_only=site.relay_only,
            channels=list(site.channels),
            brand_color=site.brand_color,
            brand_ink=ink_for(site.brand_color),
            launcher_position="left" if site.launcher_position == "left" else "right",
            launcher_text=site.launcher_text,
            show_staff=site.show_staff,
            seen_origin=site.seen_origin,
            seen_at=site.seen_at,
            retention_days=site.retention_days,
            snippet=snippet,
        )


NEXT_PAGE = Field(description="Pass as `cursor` for the next page; null on the last page.")


class SessionView(Reply):
    """The signed-in staff member and the CSRF token their state-changing requests send as
    ``X-CSRF-Token``."""

    staff: StaffView
    csrf_token: str


class Ok(Reply):
    """Done."""

    ok: Literal[True] = True


class SignedOutEverywhere(Reply):
    """Every session of the caller ended."""

    ok: Literal[True] = True
    sessions_ended: int


class Look(Reply):
    """How the launcher looks on the site's pages."""

    color: str
    ink: str
    position: Literal["left", "right"]
    text: str


class Availability(Reply):
    """Whether someone can answer now (within the site's hours and someone serving), the
    hours' next opening or closing as UTC instants, what the site offers when nobody can
    answer, and how the launcher looks."""

    available: bool
    open: bool = Field(description="Within the site's business hours (always, without hours).")
    staffed: bool = Field(description="At least one staff member is available.")
    next_open: str | None = Field(description="When the hours next open (ISO 8601, UTC).")
    closes_at: str | None = Field(description="When the current opening ends (ISO 8601, UTC).")
    timezone: str | None = Field(description="The hours' IANA time zone; null: no hours.")
    offline: Literal["message", "hide"] = Field(
        description="When nobody can answer: take a message, or hide the launcher."
    )
    queue_timeout_s: int | None = Field(
        description="Seconds in the queue after which the offline path is offered."
    )
    look: Look


class HoursView(Reply):
    """A site's business hours (null: always open), its offline choice and queue timeout."""

    hours: dict[str, Any] | None
    offline: Literal["message", "hide"]
    queue_timeout_s: int | None


class OfflineLeft(Reply):
    """The conversation a message left for later is stored as (ended, ``offline``)."""

    conversation: ConversationView


class OfflineMessageView(Reply):
    """A message a customer left while nobody could answer, with the address to reply to."""

    conversation_id: str
    site_id: int
    site_name: str
    email: str | None
    message: str
    page_url: str | None
    left_at: int | None = Field(description="Epoch milliseconds.")


class OfflineMessageList(Reply):
    """Messages left for later, newest first (the latest 200)."""

    messages: list[OfflineMessageView]


class SiteList(Reply):
    """One page of sites, oldest first."""

    sites: list[SiteView]
    next_cursor: str | None = NEXT_PAGE


class SiteCreated(Reply):
    """The new site."""

    site: SiteView


class StaffCreated(Reply):
    """The new staff member."""

    staff: StaffView


class Transcript(Reply):
    """One page of a conversation's messages, by ``seq``."""

    messages: list[MessageView]
    next_cursor: str | None = NEXT_PAGE


class PrecheckIce(Reply):
    """The ICE configuration of a pre-call check. ``relay_only``: the site or server forces
    relayed calls, so the check runs relayed whatever policy was asked for."""

    ice_servers: list[IceServer]
    ice_transport_policy: Literal["all", "relay"]
    relay_only: bool


class PrecheckStarted(Reply):
    """The server peer's answer to the browser's offer."""

    check_id: str
    answer_sdp: str


class PrecheckResult(Reply):
    """What the server peer measured so far."""

    state: Literal["connecting", "connected", "failed", "closed"]
    video_frames: int
    video_size: list[int] | None
    audio_frames: int
    audio_level: float
    selected_candidate_type: Literal["host", "srflx", "relay"] | None
    rtt_ms: float | None
