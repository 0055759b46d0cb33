"""Webhook delivery: every node runs an ``Outbox`` that relays stored events into the outbox
table and sends what is due, signed per Standard Webhooks (``server.webhook_signing``),
through the SSRF-safe fetcher (``server.safe_fetch``).

A delivery is attempted as soon as it is relayed; a failure (no answer, a timeout, a refused
address, any status but 2xx) is retried after an exponential back-off with jitter, for at
least ``retry_for`` seconds (24 h) from its first attempt, then marked ``failed`` (an admin
may send it again). Every attempt carries the same ``webhook-id``, so a receiver that dedupes
on it sees each event once. The clock and the randomness are injectable: tests drive a day
of retries in simulated time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from server.net import Network
from server.safe_fetch import Fetched, FetchFailed, FetchPolicy, UnsafeTarget, fetch
from server.store_webhooks import Due, Outcome, WebhookStore
from server.webhook_kinds import KINDS
from server.webhook_signing import headers
from signaling.domain_events import DomainEvent
from signaling.ports import Clock

log = logging.getLogger(__name__)

Send = Callable[..., Awaitable[Fetched]]

BACKOFF_BASE = 10.0
BACKOFF_CAP = 3600.0
RETRY_FOR = 24 * 3600.0
# A claimed delivery is another node's again after this (its sender died): well past the
# fetch's own timeout.
LEASE = 60.0
# Event ids younger than this are read again by the relay (see WebhookStore.relay).
SETTLE = 30.0
FULL_RELAY_EVERY = 5.0
# Claimed together and all sent at once (so none waits past its lease), their outcomes
# recorded in one transaction.
BATCH = 32
USER_AGENT = "Porchlight-Webhooks/1"
# The delivery log keeps what ended for this long, and is pruned about once an hour.
KEEP_LOG = 30 * 24 * 3600.0
PRUNE_EVERY = 3600.0


@dataclass(frozen=True, slots=True)
class OutboxDepth:
    pending: int = 0
    failed: int = 0


class Outbox:
    """Relays and delivers; ``tick`` is one pass, ``start`` runs passes every second and at
    once after an event that may concern a webhook (``on_event``, an ``EventLog``
    subscriber)."""

    def __init__(
        self,
        store: WebhookStore,
        clock: Clock,
        policy: FetchPolicy,
        *,
        rng: random.Random | None = None,
        retry_for: float = RETRY_FOR,
        send: Send = fetch,
    ) -> None:
        self.store = store
        self.clock = clock
        self.policy = policy
        self.rng = rng or random.SystemRandom()
        self.retry_for = retry_for
        self.send = send
        self._seen: int | None = None
        self._last_full = float("-inf")
        self._last_prune = float("-inf")
        self._depth = OutboxDepth()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    def backoff(self, attempts: int) -> float:
        """Seconds before the next attempt after ``attempts`` failed ones: doubling from
        ``BACKOFF_BASE`` up to ``BACKOFF_CAP``, each drawn from its upper half ("equal
        jitter"), so receivers that come back are not hit by every sender at once."""
        delay = min(BACKOFF_BASE * 2.0 ** max(attempts - 1, 0), BACKOFF_CAP)
        return delay / 2 + self.rng.uniform(0, delay / 2)

    def depth(self) -> OutboxDepth:
        """The outbox's depth as of the last pass: for metrics (a plain function)."""
        return self._depth

    async def on_event(self, event: DomainEvent) -> None:
        """``EventLog`` subscriber: a pass now rather than on the next beat."""
        if event.kind in KINDS:
            self._wake.set()

    def wake(self) -> None:
        """Run a pass now (a delivery was queued to be sent again)."""
        self._wake.set()

    async def tick(self) -> int:
        """Relay new events, send what is due; returns how many attempts were made."""
        now = self.clock.now()
        full = now - self._last_full >= FULL_RELAY_EVERY
        _, seen = await self.store.relay(now, SETTLE, after=None if full else self._seen)
        # A full pass may stop short (a page's worth); the quick ones go on from the furthest.
        self._seen = max(seen, self._seen or 0)
        if full:
            self._last_full = now
        attempts = 0
        while True:
            due = await self.store.claim(self.clock.now(), LEASE, BATCH)
            if not due:
                break
            await self.store.record(await asyncio.gather(*(self._attempt(d) for d in due)))
            attempts += len(due)
            if len(due) < BATCH:
                break
        if now - self._last_prune >= PRUNE_EVERY:
            self._last_prune = now
            await self.store.prune(now - KEEP_LOG)
        counts = await self.store.depth()
        self._depth = OutboxDepth(counts["pending"], counts["failed"])
        return attempts

    async def _attempt(self, due: Due) -> Outcome:
        sent_at = self.clock.now()
        signed = headers(due.secrets, due.message_id, int(sent_at), due.body)
        signed["User-Agent"] = USER_AGENT
        status: int | None = None
        error: str | None = None
        try:
            answer = await self.send(
                due.url,
                self.policy,
                method="POST",
                headers=signed,
                body=due.body.encode(),
            )
            status = answer.status
            if not 200 <= status < 300:
                error = f"answered {status}"
        except UnsafeTarget as exc:
            error = f"refused: {exc}"
        except FetchFailed as exc:
            error = str(exc)
        except Exception as exc:
            # Whatever else went wrong is this attempt's failure, not the whole pass's.
            log.exception("webhook delivery %s raised", due.message_id)
            error = f"failed: {type(exc).__name__}"
        now = self.clock.now()
        if error is None:
            return Outcome(due.id, now, "delivered", status, None, None)
        attempts = due.attempts + 1
        if now - due.retry_from >= self.retry_for:
            log.warning("webhook delivery %s failed for good: %s", due.message_id, error)
            return Outcome(due.id, now, "failed", status, error, None)
        log.info("webhook delivery %s failed (attempt %d): %s", due.message_id, attempts, error)
        return Outcome(due.id, now, "pending", status, error, now + self.backoff(attempts))

    # -- the loop every node runs ----------------------------------------------------------

    def start(self, every: float = 1.0) -> None:
        self._task = asyncio.create_task(self._loop(every), name="porchlight-webhooks")

    async def _loop(self, every: float) -> None:
        while True:
            self._wake.clear()
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                if not self._failing:
                    log.warning("webhook pass failed; retrying", exc_info=True)
                self._failing = True
            else:
                self._failing = False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), every)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


def policy_for(mode: str, allowed_networks: tuple[Network, ...]) -> FetchPolicy:
    """What webhook deliveries may reach: https only in production, http too in development;
    private networks only those the operator allowed."""
    return FetchPolicy(allow_http=mode == "development", allowed_networks=allowed_networks)
