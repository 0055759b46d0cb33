"""The closed catalogue of error codes a client can receive.

Every refused event is acknowledged with ``{"ok": false, "error": {"code", "message"}}``,
every refused connection carries the same shape in its ``connect_error`` data, and every
refused REST request answers ``{"error": {"code", "message"}}`` (``server.rest``). Codes are
declared once here; ``tests/unit/test_catalogues.py`` freezes the set.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    """Error codes, each with the situation it reports."""

    PAYLOAD_INVALID = "payload.invalid"
    """A field is missing, of the wrong type, too long or out of range."""
    PAYLOAD_TOO_LARGE = "payload.too_large"
    """The event's payload, or a REST request's body, is larger than allowed."""
    EVENT_UNKNOWN = "event.unknown"
    """The event name is not in the catalogue for this namespace."""
    AUTH_REQUIRED = "auth.required"
    """A staff connection without a valid session, or a customer without a valid token."""
    AUTH_FORBIDDEN = "auth.forbidden"
    """The signed-in staff member's role, or the API token's scope, does not allow this."""
    AUTH_INVALID = "auth.invalid"
    """Wrong email or password at sign-in, or an API token that is unknown or revoked."""
    AUTH_CSRF = "auth.csrf"
    """A state-changing request without the session's CSRF token, or from a foreign origin."""
    AUTH_THROTTLED = "auth.throttled"
    """Too many failed sign-ins for this account or address; retry after ``retry_after_ms``."""
    ROUTE_NOT_FOUND = "route.not_found"
    """No REST endpoint has this path."""
    METHOD_NOT_ALLOWED = "method.not_allowed"
    """The REST endpoint exists but not with this method (``Allow`` lists those it takes)."""
    STAFF_EXISTS = "staff.exists"
    """A staff member with this email exists already."""
    API_TOKEN_NOT_FOUND = "api_token.not_found"  # noqa: S105 - an error code
    """No API token with this id."""
    PRECHECK_BUSY = "precheck.busy"
    """Too many connection checks run now (in all, or from this address); retry shortly."""
    PRECHECK_NOT_FOUND = "precheck.not_found"
    """No such connection check, or it belongs to someone else."""
    SITE_UNKNOWN = "site.unknown"
    """The site key does not name a site."""
    ORIGIN_NOT_ALLOWED = "origin.not_allowed"
    """The connection comes from, or is embedded in, an origin the site does not allow."""
    TOKEN_INVALID = "token.invalid"  # noqa: S105 - an error code
    """The customer token is malformed, forged, or belongs to another site."""
    CONVERSATION_NOT_FOUND = "conversation.not_found"
    """No such conversation, or it is not one the caller may see."""
    CONVERSATION_ENDED = "conversation.ended"
    """The conversation has ended; it can be read but not written to."""
    CONVERSATION_NOT_ENDED = "conversation.not_ended"
    """The conversation (or one of the person's) has not ended, and the action needs it to
    have: rating it, or erasing the person's data."""
    CONVERSATION_NOT_ASSIGNED = "conversation.not_assigned"
    """The staff member is not the one handling this conversation."""
    RING_EXPIRED = "ring.expired"
    """The ring was answered elsewhere, timed out or was withdrawn before this reply."""
    CAPACITY_FULL = "capacity.full"
    """The staff member already handles as many conversations as their capacity allows."""
    CALL_NOT_FOUND = "call.not_found"
    """No call with that id is running in this conversation."""
    CALL_BUSY = "call.busy"
    """A call is already running here, or the staff member is in another call."""
    CALL_NOT_ALLOWED = "call.not_allowed"
    """Calls need an active conversation with a staff member in it."""
    CHANNEL_NOT_OFFERED = "channel.not_offered"
    """The site does not offer this channel (chat, voice, video or see-them-only)."""
    TAG_UNKNOWN = "tag.unknown"
    """The outcome tag is not in the site's catalogue."""
    WEBHOOK_NOT_FOUND = "webhook.not_found"
    """No such webhook endpoint, or no such delivery of that endpoint."""
    WEBHOOK_URL_REFUSED = "webhook.url_refused"
    """A webhook URL that may not be called: not https (http only in development), or a
    host that is or resolves to a loopback, private, link-local or metadata address."""
    RATE_LIMITED = "rate.limited"
    """Too many events or connections in a short time; retry after ``retry_after_ms``."""
    HOURS_INVALID = "hours.invalid"
    """Business hours that cannot be used (a range ending before it starts, an overlap, a
    date that does not exist); the message names the field."""
    TIMEZONE_UNKNOWN = "hours.timezone_unknown"
    """The time zone is not an IANA zone name (``Europe/London``)."""
    EMAIL_INVALID = "email.invalid"
    """The email address cannot receive a reply."""
    OFFLINE_DISABLED = "offline.disabled"
    """This site does not take messages when nobody can answer."""
    STAFF_NOT_FOUND = "staff.not_found"
    """No staff member with that id."""
    STAFF_LAST_ADMIN = "staff.last_admin"
    """The change would leave the team without an admin who can sign in."""
    LINK_INVALID = "link.invalid"
    """An invitation or password-reset link that is unknown, used already or expired."""
    PASSWORD_WRONG = "password.wrong"  # noqa: S105 - an error code
    """The current password given to change one's own password is not the right one."""
    MAIL_CATCHER_OFF = "mail.catcher_off"
    """The development mail catcher is not running (it runs with ``make demo``)."""
    DATABASE_UNAVAILABLE = "database.unavailable"
    """The database does not answer in time (``/readyz``); retry after ``Retry-After``."""
    REDIS_UNAVAILABLE = "redis.unavailable"
    """A fleet node's Redis does not answer (``/readyz``); retry after ``Retry-After``."""
    SERVER_ERROR = "server.error"
    """Something failed on the server; nothing was changed and the event can be retried."""


class ProtocolError(Exception):
    """Raised anywhere in the domain to refuse an event with a coded, user-safe message.

    :param retry_after: seconds after which the same event may succeed (``rate.limited``);
        it travels as ``retry_after_ms``.
    """

    def __init__(self, code: ErrorCode, message: str, retry_after: float | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.retry_after = retry_after

    def to_wire(self) -> dict[str, Any]:
        """The error as it travels in an acknowledgement or a connect refusal."""
        wire: dict[str, Any] = {"code": str(self.code), "message": self.message}
        if self.retry_after is not None:
            wire["retry_after_ms"] = max(1, math.ceil(self.retry_after * 1000))
        return wire


def not_found() -> ProtocolError:
    """The one answer for a conversation that is missing or not the caller's."""
    return ProtocolError(ErrorCode.CONVERSATION_NOT_FOUND, "No such conversation.")


def not_assigned() -> ProtocolError:
    return ProtocolError(
        ErrorCode.CONVERSATION_NOT_ASSIGNED, "You are not handling this conversation."
    )


def refusal(error: ProtocolError) -> dict[str, Any]:
    """The acknowledgement that refuses an event."""
    return {"ok": False, "error": error.to_wire()}
