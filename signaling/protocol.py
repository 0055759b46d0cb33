"""The wire protocol: payload models for every client→server event, and the views the server
sends back. Pure: it turns dicts into validated, typed objects (or raises ``ProtocolError``)
and objects back into dicts. It knows nothing of sockets.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from signaling.errors import ErrorCode, ProtocolError
from signaling.events import CustomerEvent, StaffEvent

MAX_PAYLOAD_BYTES = 16 * 1024
MAX_SDP_BYTES = 48 * 1024
MAX_BODY_CHARS = 4000
SDP_MEDIA = ("audio", "video", "application")

ConversationId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
ClientMsgId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{8,64}$")]
Body = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_BODY_CHARS)
]
Language = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,2}$")]
PageUrl = Annotated[str, StringConstraints(max_length=2048, pattern=r"^https?://")]
PageTitle = Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)]
Seq = Annotated[int, Field(ge=0, le=2**53)]

Channel = Literal["chat", "voice", "video", "oneway"]
CallChannel = Literal["voice", "video", "oneway"]
CallId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
Status = Literal["queued", "ringing", "active", "ended"]
Side = Literal["customer", "staff"]
Presence = Literal["available", "away", "offline"]
AwayReason = Literal["break", "lunch", "training", "other"]
# An outcome tag: a short label from the site's catalogue ("resolved", "follow-up").
OutcomeTag = Annotated[str, StringConstraints(min_length=1, max_length=40)]


class Payload(BaseModel):
    """Base of every client→server payload: unknown fields are refused, nothing coerced."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    max_bytes: ClassVar[int] = MAX_PAYLOAD_BYTES


class StartConversation(Payload):
    """``conversation.start``; a call channel rings only staff whose devices are ready and
    starts the call when they accept."""

    channel: Channel = "chat"
    language: Language | None = None
    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=80)] | None = None
    page_url: PageUrl | None = None
    page_title: PageTitle | None = None


class ResumeConversation(Payload):
    """``conversation.resume``: everything after ``last_seq`` plus current state."""

    conversation_id: ConversationId
    last_seq: Seq = 0


class ConversationRef(Payload):
    """``conversation.end``, ``ring.accept``, ``ring.decline``."""

    conversation_id: ConversationId


class SendMessage(Payload):
    """``message.send``."""

    conversation_id: ConversationId
    client_msg_id: ClientMsgId
    body: Body


class Typing(Payload):
    """``typing``."""

    conversation_id: ConversationId
    typing: bool


class Read(Payload):
    """``read``."""

    conversation_id: ConversationId
    seq: Seq


class PageView(Payload):
    """``page.view``."""

    conversation_id: ConversationId
    url: PageUrl
    title: PageTitle = ""


class RateConversation(Payload):
    """``conversation.rate``."""

    conversation_id: ConversationId
    score: Annotated[int, Field(ge=1, le=5)]
    comment: Annotated[str, StringConstraints(max_length=1000)] = ""


class MediaReadiness(Payload):
    """Which of the console's devices work (camera, microphone)."""

    camera: bool
    microphone: bool


class SetPresence(Payload):
    """``presence.set``; ``media`` says which calls this staff member can be rung for."""

    status: Literal["available", "away"]
    media: MediaReadiness | None = None
    # Why they are away (recorded with the duration); only with ``away``.
    reason: AwayReason | None = None

    @field_validator("reason")
    @classmethod
    def _only_when_away(cls, reason: str | None, info: ValidationInfo) -> str | None:
        if reason is not None and info.data.get("status") != "away":
            raise ValueError("a reason goes with away only")
        return reason


class ExtendWrapUp(Payload):
    """``wrapup.extend``: more time before the next ring."""

    seconds: Annotated[int, Field(ge=1, le=300)] = 30


class TagConversation(Payload):
    """``conversation.tag``: the outcome picked for a conversation."""

    conversation_id: ConversationId
    tag: OutcomeTag


class Sync(Payload):
    """``sync``: the last seq the console holds for each conversation it has open."""

    last_seqs: Annotated[dict[ConversationId, Seq], Field(max_length=200)] = Field(
        default_factory=dict
    )


class StartCall(Payload):
    """``call.start``."""

    conversation_id: ConversationId
    channel: CallChannel


class ProposeCall(Payload):
    """``call.propose`` (staff)."""

    conversation_id: ConversationId
    channel: Channel


class RespondCall(Payload):
    """``call.respond`` (customer)."""

    conversation_id: ConversationId
    proposal_id: CallId
    accept: bool


class CallSdp(Payload):
    """``call.offer`` and ``call.answer``: a session description for the running call."""

    max_bytes: ClassVar[int] = MAX_SDP_BYTES

    conversation_id: ConversationId
    call_id: CallId
    sdp: Annotated[str, StringConstraints(min_length=10, max_length=MAX_SDP_BYTES)]

    @field_validator("sdp")
    @classmethod
    def _sdp(cls, sdp: str) -> str:
        """Shape only (the browsers parse it): a session that starts with ``v=0``, has at
        least one media section of a known kind, and no control characters."""
        if not sdp.startswith("v=0"):
            raise ValueError("an SDP starts with v=0")
        if any(ord(c) < 32 and c not in "\r\n" for c in sdp):
            raise ValueError("an SDP holds no control characters")
        media = [line[2:].split(" ", 1)[0] for line in sdp.splitlines() if line.startswith("m=")]
        if not media or any(kind not in SDP_MEDIA for kind in media):
            raise ValueError("an SDP needs audio, video or application media sections")
        return sdp


class IceCandidate(Payload):
    """One trickled candidate, as ``RTCIceCandidateInit`` names it in snake case."""

    candidate: Annotated[str, StringConstraints(max_length=1024, pattern=r"^(candidate:.*)?$")]
    sdp_mid: Annotated[str, StringConstraints(max_length=32)] | None = None
    sdp_mline_index: Annotated[int, Field(ge=0, le=31)] | None = None


class CallCandidate(Payload):
    """``call.candidate``; ``candidate`` null means this side finished gathering."""

    conversation_id: ConversationId
    call_id: CallId
    candidate: IceCandidate | None


class EndCall(Payload):
    """``call.end``: ``hangup``, or the failure that ended it."""

    conversation_id: ConversationId
    call_id: CallId
    reason: Literal[
        "hangup", "switched", "media_failed", "permission_denied", "no_device", "ice_failed"
    ]


class CustomerAuth(Payload):
    """The ``auth`` object a customer frame connects with."""

    site: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{6,64}$")]
    host: Annotated[str, StringConstraints(max_length=300, pattern=r"^https?://[^/]+$")]
    token: Annotated[str, StringConstraints(max_length=400)] | None = None


CUSTOMER_PAYLOADS: dict[CustomerEvent, type[Payload]] = {
    CustomerEvent.CONVERSATION_START: StartConversation,
    CustomerEvent.CONVERSATION_RESUME: ResumeConversation,
    CustomerEvent.CONVERSATION_END: ConversationRef,
    CustomerEvent.MESSAGE_SEND: SendMessage,
    CustomerEvent.TYPING: Typing,
    CustomerEvent.READ: Read,
    CustomerEvent.PAGE_VIEW: PageView,
    CustomerEvent.CALL_START: StartCall,
    CustomerEvent.CALL_RESPOND: RespondCall,
    CustomerEvent.CALL_OFFER: CallSdp,
    CustomerEvent.CALL_ANSWER: CallSdp,
    CustomerEvent.CALL_CANDIDATE: CallCandidate,
    CustomerEvent.CALL_END: EndCall,
    CustomerEvent.CONVERSATION_RATE: RateConversation,
}

STAFF_PAYLOADS: dict[StaffEvent, type[Payload]] = {
    StaffEvent.SYNC: Sync,
    StaffEvent.PRESENCE_SET: SetPresence,
    StaffEvent.RING_ACCEPT: ConversationRef,
    StaffEvent.RING_DECLINE: ConversationRef,
    StaffEvent.CONVERSATION_RESUME: ResumeConversation,
    StaffEvent.CONVERSATION_END: ConversationRef,
    StaffEvent.MESSAGE_SEND: SendMessage,
    StaffEvent.TYPING: Typing,
    StaffEvent.READ: Read,
    StaffEvent.CALL_PROPOSE: ProposeCall,
    StaffEvent.CALL_OFFER: CallSdp,
    StaffEvent.CALL_ANSWER: CallSdp,
    StaffEvent.CALL_CANDIDATE: CallCandidate,
    StaffEvent.CALL_END: EndCall,
    StaffEvent.WRAPUP_END: Payload,
    StaffEvent.WRAPUP_EXTEND: ExtendWrapUp,
    StaffEvent.CONVERSATION_TAG: TagConversation,
}

P = TypeVar("P", bound=Payload)


def decode(model: type[P], payload: Any) -> P:
    """Validate ``payload`` (a dict from the wire) into ``model`` or raise ``ProtocolError``.

    Size is checked before anything else, so an oversized payload costs no parsing.
    """
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise ProtocolError(ErrorCode.PAYLOAD_INVALID, "The payload must be an object.")
    try:
        size = len(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode())
    except (TypeError, ValueError):
        raise ProtocolError(ErrorCode.PAYLOAD_INVALID, "The payload is not plain JSON.") from None
    if size > model.max_bytes:
        raise ProtocolError(
            ErrorCode.PAYLOAD_TOO_LARGE,
            f"The payload is {size} bytes; at most {model.max_bytes}.",
        )
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise ProtocolError(ErrorCode.PAYLOAD_INVALID, describe(exc)) from None


def describe(exc: ValidationError) -> str:
    """One short sentence naming the first bad field, safe to show a developer."""
    first = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in first["loc"]) or "payload"
    # A validator's own sentence comes as "Value error, <sentence>".
    return f"{where}: {first['msg'].removeprefix('Value error, ')}"


# -- views: what the server sends -------------------------------------------------------


class View(BaseModel):
    """Base of every server→client object."""

    model_config = ConfigDict(frozen=True)

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class StaffRef(View):
    """The staff member handling a conversation. ``handle`` is a stable public name for the
    person (the same person, the same handle; see ``signaling.views.StaffHandles``), so a
    customer can tell one person from the next without learning account ids. ``id`` is the
    internal account id, in staff views only (null in the customer's)."""

    handle: str
    name: str
    id: str | None = None


class VisitorView(View):
    """What the staff sees of the customer."""

    visitor_id: str
    name: str | None
    page_url: str | None
    page_title: str | None


class RatingView(View):
    """The customer's rating of an ended conversation."""

    score: int
    comment: str | None


class ConversationView(View):
    """A conversation's current state. ``queue_position`` and ``estimated_wait_s`` are set
    while it waits (``queued`` or ``ringing``); ``estimated_wait_s`` is null when nobody is
    available to give an honest estimate.

    ``version`` orders the views of one conversation: every change of its state makes it
    grow. A client ignores a view older than the one it holds (a late hint); views of the
    same version have the same state and may differ in queue position and estimate (which
    move without the row changing) and in ``last_seq`` and the read markers (ordered by their
    own seqs)."""

    id: str
    site_key: str
    status: Status
    channel: Channel
    language: str | None
    assignee: StaffRef | None
    queue_position: int | None
    estimated_wait_s: int | None
    last_seq: int
    customer_read_seq: int
    staff_read_seq: int
    created_at: int
    ended_at: int | None
    ended_by: Literal["customer", "staff", "system"] | None
    version: int
    visitor: VisitorView | None = None
    rating: RatingView | None = None
    # The outcome tag its staff member picked (staff views only).
    outcome: str | None = None


class QueueChange(View):
    """One change of the queue as staff see it: ``upsert`` (a conversation joined the queue
    or changed while waiting) or ``remove`` (it stopped waiting: taken, ended; ``conversation``
    is then its state after the change). A console applies it only if ``conversation`` is not
    older than the version it holds for that conversation."""

    op: Literal["upsert", "remove"]
    conversation: ConversationView


class MessageView(View):
    """One committed message. ``kind`` is ``text`` (typed by a person) or ``system`` (the
    conversation's own events; ``body`` then names the event: ``joined``, ``ended``,
    ``requeued``, ``call_started``, ``call_ended``; ``detail`` then holds the call's channel,
    duration and who ended it). ``created_at`` is epoch milliseconds."""

    conversation_id: str
    seq: int
    client_msg_id: str | None
    sender: Literal["customer", "staff", "system"]
    author_name: str | None
    kind: Literal["text", "system"]
    body: str
    created_at: int
    detail: dict[str, Any] | None = None


class IceServer(View):
    """One STUN or TURN server, as ``RTCIceServer``."""

    urls: list[str]
    username: str | None = None
    credential: str | None = None


class IceConfig(View):
    """What a participant's peer connection is configured with. ``relay`` hides both sides'
    addresses from each other (the site forces it)."""

    ice_servers: list[IceServer]
    ice_transport_policy: Literal["all", "relay"]


class CallView(View):
    """A call: its channel, who started and who ended it, and when (epoch milliseconds)."""

    id: str
    conversation_id: str
    channel: CallChannel
    started_by: Literal["customer", "staff"]
    started_at: int
    ended_at: int | None
    ended_by: Literal["customer", "staff", "system"] | None
    end_reason: str | None
    duration_s: int | None


class WrapUpView(View):
    """A staff member's running wrap-up: no ring for ``remaining_ms``; ``pause`` when it
    holds the pause after calls in a row; ``tags`` is the site's outcome catalogue and
    ``outcome`` the tag picked so far for ``conversation_id``."""

    conversation_id: str
    remaining_ms: int
    pause: bool
    tags: list[str]
    outcome: str | None


def ok(**fields: Any) -> dict[str, Any]:
    """The acknowledgement of an accepted event."""
    return {"ok": True, **fields}


_SAFE_LINK = re.compile(r"^https?://", re.IGNORECASE)


def is_safe_link(url: str) -> bool:
    """Only http(s) links are ever rendered as links."""
    return bool(_SAFE_LINK.match(url))
