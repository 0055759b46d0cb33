"""The schema, as SQLAlchemy Core tables. Times are epoch seconds (double precision); lists
are JSON text. The migrations in ``server/migrations`` create exactly these tables."""

from __future__ import annotations

import sqlalchemy as sa

# Named constraints, so that Alembic can alter them later on both databases.
metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

sites = sa.Table(
    "sites",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("key", sa.String(64), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("allowed_origins", sa.Text, nullable=False, server_default="[]"),
    sa.Column("greeting", sa.Text, nullable=False),
    # For the host site's identity verification (HMAC/JWT); never sent to a browser.
    sa.Column("secret", sa.String(128), nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    # Calls on this site use TURN relays only, so neither side learns the other's address.
    sa.Column("relay_only", sa.Boolean, nullable=False, server_default=sa.false()),
    # Ended conversations older than this many days are purged (server.retention); NULL keeps.
    sa.Column("retention_days", sa.Integer, nullable=True),
    # The widget: channels offered (JSON list), brand colour, launcher side and text, and
    # whether the answering staff member's name and initials are shown.
    sa.Column(
        "channels", sa.Text, nullable=False, server_default='["chat","voice","video","oneway"]'
    ),
    sa.Column("brand_color", sa.String(7), nullable=False, server_default="#1f3a5f"),
    sa.Column("launcher_position", sa.String(8), nullable=False, server_default="right"),
    sa.Column("launcher_text", sa.String(80), nullable=False, server_default="Talk to a person"),
    sa.Column("show_staff", sa.Boolean, nullable=False, server_default=sa.true()),
    # The install check: the allowed origin the snippet last ran on, and when.
    sa.Column("seen_origin", sa.String(300), nullable=True),
    sa.Column("seen_at", sa.Double, nullable=True),
    # A deleted site answers nothing; its key is never reused.
    sa.Column("deleted_at", sa.Double, nullable=True),
    # JSON object of the shift rules (signaling.ports.ShiftPolicy); NULL: the defaults.
    sa.Column("shift", sa.Text, nullable=True),
)

# A site's business hours and what a customer gets when nobody can answer. No row: always
# open, leave a message.
site_hours = sa.Table(
    "site_hours",
    metadata,
    sa.Column("site_id", sa.Integer, sa.ForeignKey("sites.id"), primary_key=True),
    # JSON (signaling.hours.Hours.to_wire), NULL when hours do not apply.
    sa.Column("hours", sa.Text, nullable=True),
    sa.Column("offline", sa.String(16), nullable=False, server_default="message"),  # | hide
    # Seconds in the queue after which the customer is offered the offline path.
    sa.Column("queue_timeout", sa.Integer, nullable=True),
    sa.Column("updated_at", sa.Double, nullable=False),
)

staff = sa.Table(
    "staff",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("email", sa.String(320), nullable=False, unique=True),  # stored lowercased
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),  # 'admin' | 'supervisor' | 'agent'
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("languages", sa.Text, nullable=False, server_default="[]"),
    sa.Column("max_chats", sa.Integer, nullable=False, server_default="3"),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", sa.Double, nullable=False),
    # 0 or 1: calls at once are at most one (uq_calls_running_staff); 0 takes chats only.
    sa.Column("max_calls", sa.Integer, nullable=False, server_default="1"),
    sa.Column("console_language", sa.String(35), nullable=False, server_default="en"),
)

# Invitations and password resets: single use, expiring, stored as the SHA-256 of the token
# so that a leaked database hands out no accounts.
staff_links = sa.Table(
    "staff_links",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("staff_id", sa.Integer, sa.ForeignKey("staff.id"), nullable=False, index=True),
    sa.Column("purpose", sa.String(16), nullable=False),  # 'invite' | 'reset'
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("expires_at", sa.Double, nullable=False),
    sa.Column("used_at", sa.Double, nullable=True),
)

# A staff member's photo, as uploaded (a small square, resized by the browser); served with
# its sniffed type only.
staff_photos = sa.Table(
    "staff_photos",
    metadata,
    sa.Column("staff_id", sa.Integer, sa.ForeignKey("staff.id"), primary_key=True),
    sa.Column("content_type", sa.String(32), nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False),
)

# The email outbox (server.mail): every email is a row first, rendered and with its
# Message-ID, then sent by whichever node claims it. status: pending → sending → sent, or
# failed after the last attempt or a permanent refusal.
emails = sa.Table(
    "emails",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("message_id", sa.String(200), nullable=False, unique=True),
    sa.Column("recipient", sa.String(320), nullable=False),
    sa.Column("template", sa.String(64), nullable=False),
    sa.Column("language", sa.String(35), nullable=False),
    sa.Column("subject", sa.String(300), nullable=False),
    sa.Column("text_body", sa.Text, nullable=False),
    sa.Column("html_body", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", sa.Double, nullable=False),
    # While sending: a node that dies mid-send leaves the row to be claimed again after it.
    sa.Column("lease_until", sa.Double, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("sent_at", sa.Double, nullable=True),
    sa.Index(None, "status", "next_attempt_at"),
)

staff_sessions = sa.Table(
    "staff_sessions",
    metadata,
    # sha256 hex of the cookie token: a leaked database does not hand out sessions.
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("staff_id", sa.Integer, sa.ForeignKey("staff.id"), nullable=False, index=True),
    sa.Column("csrf_token", sa.String(128), nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("expires_at", sa.Double, nullable=False),
)

conversations = sa.Table(
    "conversations",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),  # 32 hex characters
    sa.Column("site_id", sa.Integer, sa.ForeignKey("sites.id"), nullable=False),
    sa.Column("visitor_id", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("language", sa.String(35), nullable=True),
    sa.Column("assignee_id", sa.Integer, sa.ForeignKey("staff.id"), nullable=True),
    sa.Column("ringing_staff_id", sa.Integer, nullable=True),
    # The last seq handed out; bumped in the transaction that stores a message.
    sa.Column("last_seq", sa.Integer, nullable=False, server_default="0"),
    sa.Column("customer_read_seq", sa.Integer, nullable=False, server_default="0"),
    sa.Column("staff_read_seq", sa.Integer, nullable=False, server_default="0"),
    sa.Column("visitor_name", sa.String(200), nullable=True),
    sa.Column("page_url", sa.Text, nullable=True),
    sa.Column("page_title", sa.Text, nullable=True),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("queued_at", sa.Double, nullable=False),
    sa.Column("accepted_at", sa.Double, nullable=True),
    sa.Column("ended_at", sa.Double, nullable=True),
    sa.Column("ended_by", sa.String(16), nullable=True),
    # While ringing: when the ring times out. Any node's sweeper acts on it.
    sa.Column("ring_deadline", sa.Double, nullable=True),
    # JSON list of staff ids rung in this round, so a ring goes round before repeating.
    sa.Column("tried", sa.Text, nullable=False, server_default="[]"),
    # A message left for later (nobody could answer): when, and the email to reply to.
    sa.Column("offline_at", sa.Double, nullable=True),
    sa.Column("customer_email", sa.String(254), nullable=True),
    # Set when the customer's last frame went; cleared when one comes back. Routing never
    # rings for it, and the sweeper abandons a waiting one after the customer grace.
    sa.Column("customer_left_at", sa.Double, nullable=True),
    # Bumped by every UPDATE of the row's state, in that UPDATE: clients order the views they
    # receive by it. Messages and read markers have their own counters (the seqs).
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    # The customer's rating once it has ended: 1 to 5, and what they wrote (personal data).
    sa.Column("rating", sa.Integer, nullable=True),
    sa.Column("rating_comment", sa.Text, nullable=True),
    # The outcome tag its staff member picked from the site's catalogue.
    sa.Column("outcome", sa.String(40), nullable=True),
    sa.Index(None, "status", "queued_at"),
    sa.Index(None, "status", "ring_deadline"),
    sa.Index(None, "site_id", "visitor_id"),
    # A staff member's active conversations: counted on every dispatch, accept and staffing.
    sa.Index(None, "assignee_id", "status"),
    # recent_handling_seconds reads the newest ended conversations.
    sa.Index(None, "ended_at"),
    # The retention purge: a site's ended conversations, oldest first.
    sa.Index(None, "site_id", "status", "ended_at"),
)

messages = sa.Table(
    "messages",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("conversation_id", sa.String(32), sa.ForeignKey("conversations.id"), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("client_msg_id", sa.String(64), nullable=True),
    sa.Column("sender", sa.String(16), nullable=False),
    # No foreign key: the transcript keeps its author name whatever happens to the account.
    sa.Column("author_id", sa.Integer, nullable=True),
    sa.Column("author_name", sa.String(200), nullable=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    # JSON object for system messages (a call's channel, duration, who ended it); else NULL.
    sa.Column("detail", sa.Text, nullable=True),
    # Also the index for replay (conversation_id, seq > n).
    sa.UniqueConstraint("conversation_id", "seq"),
    # NULLs are distinct on both databases, so system messages (no client id) never collide.
    sa.UniqueConstraint("conversation_id", "client_msg_id"),
)

# The domain's append-only event log (signaling.domain_events): what happened, to which
# conversation, by whom, when. Analytics and audit are computed from it.
events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column(
        "conversation_id",
        sa.String(32),
        sa.ForeignKey("conversations.id"),
        nullable=True,
        index=True,
    ),
    sa.Column("actor", sa.String(16), nullable=False),
    sa.Column("staff_id", sa.Integer, nullable=True),
    sa.Column("detail", sa.Text, nullable=True),  # JSON object
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Index(None, "created_at"),
)

# -- routing state shared by every node ---------------------------------------------------

nodes = sa.Table(
    "nodes",
    metadata,
    # A random id per server process; a node whose heartbeat stops is dead, and any other
    # node forgets its sockets.
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("started_at", sa.Double, nullable=False),
    sa.Column("heartbeat_at", sa.Double, nullable=False),
)

staff_presence = sa.Table(
    "staff_presence",
    metadata,
    sa.Column("staff_id", sa.Integer, sa.ForeignKey("staff.id"), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False, server_default="away"),
    # JSON list of the devices that work: "camera", "microphone".
    sa.Column("media", sa.Text, nullable=False, server_default="[]"),
    sa.Column("idle_since", sa.Double, nullable=False),
    # Set when the last console socket went while conversations were assigned; the sweeper
    # returns them to the queue once it has passed.
    sa.Column("grace_until", sa.Double, nullable=True),
    # While away: why (break, lunch, training, other) and since when.
    sa.Column("away_reason", sa.String(16), nullable=True),
    sa.Column("away_since", sa.Double, nullable=True),
    # A running wrap-up: not rung until wrapup_until; any node's sweeper ends it.
    sa.Column("wrapup_until", sa.Double, nullable=True),
    sa.Column("wrapup_began", sa.Double, nullable=True),
    sa.Column("wrapup_conversation_id", sa.String(32), nullable=True),
    sa.Column("wrapup_pause", sa.Boolean, nullable=False, server_default=sa.false()),
    # Calls since the last pause or away spell, for the site's cap of calls in a row.
    sa.Column("calls_in_row", sa.Integer, nullable=False, server_default="0"),
    sa.Index(None, "grace_until"),
    sa.Index(None, "wrapup_until"),
)

staff_sockets = sa.Table(
    "staff_sockets",
    metadata,
    sa.Column("node_id", sa.String(32), primary_key=True),
    sa.Column("sid", sa.String(64), primary_key=True),
    sa.Column("staff_id", sa.Integer, sa.ForeignKey("staff.id"), nullable=False, index=True),
    sa.Column("connected_at", sa.Double, nullable=False),
)

# A call is running while ended_at is NULL. The two partial unique indexes are the
# database's own guarantee, whichever node asks: one running call per conversation, one per
# staff member (calls are their own capacity).
_RUNNING = sa.text("ended_at IS NULL")
calls = sa.Table(
    "calls",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),  # 32 hex characters
    sa.Column("conversation_id", sa.String(32), sa.ForeignKey("conversations.id"), nullable=False),
    sa.Column("staff_id", sa.Integer, sa.ForeignKey("staff.id"), nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),  # voice | video | oneway
    sa.Column("started_by", sa.String(16), nullable=False),  # customer | staff
    sa.Column("started_at", sa.Double, nullable=False),
    sa.Column("ended_at", sa.Double, nullable=True),
    sa.Column("ended_by", sa.String(16), nullable=True),  # customer | staff | system
    sa.Column("end_reason", sa.String(32), nullable=True),
    sa.Index(None, "conversation_id", "started_at"),
    sa.Index(
        "uq_calls_running_conversation",
        "conversation_id",
        unique=True,
        sqlite_where=_RUNNING,
        postgresql_where=_RUNNING,
    ),
    sa.Index(
        "uq_calls_running_staff",
        "staff_id",
        unique=True,
        sqlite_where=_RUNNING,
        postgresql_where=_RUNNING,
    ),
)

# The staff member's call.propose and the customer's answer. Open while answer is NULL; at
# most one open per conversation, so a customer on any node answers the proposal made on any
# other.
call_proposals = sa.Table(
    "call_proposals",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("conversation_id", sa.String(32), sa.ForeignKey("conversations.id"), nullable=False),
    sa.Column("staff_id", sa.Integer, sa.ForeignKey("staff.id"), nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),  # chat | voice | video | oneway
    sa.Column("proposed_at", sa.Double, nullable=False),
    sa.Column("answered_at", sa.Double, nullable=True),
    # accepted | declined | superseded (a newer proposal) | withdrawn (the conversation left
    # active)
    sa.Column("answer", sa.String(16), nullable=True),
    sa.Index(None, "conversation_id", "proposed_at"),
    sa.Index(
        "uq_call_proposals_open",
        "conversation_id",
        unique=True,
        sqlite_where=sa.text("answer IS NULL"),
        postgresql_where=sa.text("answer IS NULL"),
    ),
)

# Tokens for server-to-server REST (server.api_tokens). Only the SHA-256 of a token is kept;
# ``prefix`` (its first characters) lets a person tell their tokens apart.
api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(80), nullable=False),
    sa.Column("scope", sa.String(16), nullable=False),  # 'read' | 'admin'
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("prefix", sa.String(16), nullable=False),
    sa.Column("created_by", sa.Integer, sa.ForeignKey("staff.id"), nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("last_used_at", sa.Double, nullable=True),
    sa.Column("revoked_at", sa.Double, nullable=True),
)

# -- webhooks (server.store_webhooks) -------------------------------------------------------

# A site's receivers. ``kinds`` is a JSON list from server.webhook_kinds; ``secret`` signs
# (it must be readable to sign, so it is not hashed); after a rotation the previous secret
# signs too until ``previous_until``.
webhook_endpoints = sa.Table(
    "webhook_endpoints",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("site_id", sa.Integer, sa.ForeignKey("sites.id"), nullable=False, index=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("description", sa.String(200), nullable=False, server_default=""),
    sa.Column("kinds", sa.Text, nullable=False, server_default="[]"),
    sa.Column("secret", sa.String(64), nullable=False),
    sa.Column("previous_secret", sa.String(64), nullable=True),
    sa.Column("previous_until", sa.Double, nullable=True),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", sa.Double, nullable=False),
)

# The outbox: one row per (endpoint, stored event), written by the relay from the event log,
# so a node that dies loses nothing. ``message_id`` is the stable ``webhook-id``. A row is
# due while ``status`` is pending and ``next_attempt_at`` has passed; a node that claims it
# pushes ``next_attempt_at`` out by a lease, so a node that dies mid-delivery only delays it.
# No foreign key to ``events``: erasing a conversation's events must not need the outbox.
webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "endpoint_id",
        sa.Integer,
        sa.ForeignKey("webhook_endpoints.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("event_id", sa.Integer, nullable=False),
    sa.Column("message_id", sa.String(40), nullable=False, unique=True),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # pending | delivered | failed
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", sa.Double, nullable=False),
    # Retries go on until 24 h after this (the first attempt, or the last "send again").
    sa.Column("retry_from", sa.Double, nullable=False),
    sa.Column("next_attempt_at", sa.Double, nullable=True),
    sa.Column("last_attempt_at", sa.Double, nullable=True),
    sa.Column("response_status", sa.Integer, nullable=True),
    sa.Column("last_error", sa.String(300), nullable=True),
    sa.Column("delivered_at", sa.Double, nullable=True),
    sa.UniqueConstraint("endpoint_id", "event_id"),
    sa.Index(None, "status", "next_attempt_at"),
    sa.Index(None, "endpoint_id", "id"),
)

# The relay's place in the event log: one row. Events after ``last_event_id`` are read again
# on every pass until they are old enough that no transaction still writing one can be behind
# them (ids are handed out before commit), then the cursor moves past them.
webhook_cursor = sa.Table(
    "webhook_cursor",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("last_event_id", sa.Integer, nullable=False),
)

# Who did what to accounts, settings and personal data. Append-only: the migration adds
# triggers that refuse UPDATE and DELETE. ``actor`` is a label (an email, "cli", "system");
# ``target`` names what was acted on ("staff:4", "site:KEY", "subject:<digest>").
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Double, nullable=False),
    sa.Column("actor_id", sa.Integer, nullable=True),
    sa.Column("actor", sa.String(320), nullable=False),
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("target", sa.String(200), nullable=True),
    sa.Column("details", sa.Text, nullable=True),  # JSON object
    sa.Column("address", sa.String(64), nullable=True),
    sa.Index(None, "at"),
    sa.Index(None, "action", "at"),
    sa.Index(None, "actor_id", "at"),
    sa.Index(None, "target"),
)

# Scheduled jobs of a fleet (the retention purge): the node that holds a claim runs the job
# until ``claimed_until``; a crashed node's claim simply lapses.
job_claims = sa.Table(
    "job_claims",
    metadata,
    sa.Column("name", sa.String(40), primary_key=True),
    sa.Column("node_id", sa.String(32), nullable=True),
    sa.Column("claimed_until", sa.Double, nullable=False, server_default="0"),
    sa.Column("last_run_at", sa.Double, nullable=True),
)

# -- analytics ------------------------------------------------------------------------------

# One row per conversation, kept in step with the event log in the transaction that appends
# each event (server.analytics_facts), and rebuildable from the log. The analytics pages
# aggregate these rows by their queued_at instead of re-reading several events per
# conversation.
REPORT_COLUMNS = (
    "queued_at",
    "site_id",
    "agent_id",
    "channel",
    "wait_s",
    "handle_s",
    "abandoned",
    "transfers",
    "rating",
    "answered_at",
)
conversation_stats = sa.Table(
    "conversation_stats",
    metadata,
    sa.Column("conversation_id", sa.String(32), primary_key=True),
    sa.Column("site_id", sa.Integer, nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),  # as the customer asked
    sa.Column("queued_at", sa.Double, nullable=False),
    # The first accept: who answered, and how long the customer had waited for it.
    sa.Column("answered_at", sa.Double, nullable=True),
    sa.Column("agent_id", sa.Integer, nullable=True),
    sa.Column("wait_s", sa.Double, nullable=True),
    sa.Column("ended_at", sa.Double, nullable=True),
    # From the first accept to the end, for answered conversations that ended.
    sa.Column("handle_s", sa.Double, nullable=True),
    sa.Column("abandoned", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("missed", sa.Integer, nullable=False, server_default="0"),
    sa.Column("declined", sa.Integer, nullable=False, server_default="0"),
    sa.Column("requeued", sa.Integer, nullable=False, server_default="0"),
    sa.Column("transfers", sa.Integer, nullable=False, server_default="0"),
    sa.Column("rating", sa.Integer, nullable=True),  # 1..5
    # Covers every column the reports read, so that a date range is read from the index
    # alone, in time order (SQLite otherwise fetches each row from the table at random).
    sa.Index("ix_conversation_stats_report", *REPORT_COLUMNS),
)

# A conversation's outcome tags (the last ``conversation.tagged`` event's set).
conversation_tags = sa.Table(
    "conversation_tags",
    metadata,
    sa.Column("conversation_id", sa.String(32), primary_key=True),
    sa.Column("tag", sa.String(64), primary_key=True),
    sa.Column("site_id", sa.Integer, nullable=False),
    sa.Column("queued_at", sa.Double, nullable=False),
    sa.Index(None, "queued_at"),
)

# Each missed ring (``conversation.missed``), with the conversation's site: the reports count
# them for the staff member rung, when they rang, without joining the log to the figures.
missed_rings = sa.Table(
    "missed_rings",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("conversation_id", sa.String(32), nullable=False, index=True),
    sa.Column("staff_id", sa.Integer, nullable=True),
    sa.Column("site_id", sa.Integer, nullable=False),
    sa.Column("rang_at", sa.Double, nullable=False),
    sa.Index(None, "rang_at", "site_id", "staff_id"),
)
