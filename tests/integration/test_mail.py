"""The email outbox against a real SMTP server (aiosmtpd) and real aiosmtplib, on SQLite and
PostgreSQL, with a clock the test moves: a server that is down loses nothing, and each email
arrives exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from server.mail import MailTemplates, Outbox, Sender
from server.mail_sender import MailWorker, RetryPolicy, SmtpTransport
from server.settings import Settings
from server.store import SqlStore
from tests.smtp import SmtpServer, self_signed

INVITE = {
    "name": "Ana",
    "inviter": "Sam",
    "team": "Lamp & Co.",
    "role": "agent",
    "url": "http://127.0.0.1:8080/account/password?token=abc",
    "hours": 72,
    "product": "Porchlight",
}


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def smtp() -> AsyncIterator[SmtpServer]:
    server = SmtpServer()  # not started: the test starts it when it wants the server up
    yield server
    await server.stop()


def worker_for(store: SqlStore, smtp: SmtpServer, clock: Clock) -> MailWorker:
    settings = Settings(smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_security="none")
    return MailWorker(
        store,
        SmtpTransport(settings),
        "Porchlight <team@porchlight.test>",
        now=clock,
        policy=RetryPolicy(base=5.0, ceiling=60.0, attempts=4),
    )


def outbox_for(store: SqlStore, clock: Clock) -> Outbox:
    return Outbox(store, MailTemplates(), Sender("team@porchlight.test"), now=clock)


async def test_an_smtp_server_that_is_down_then_back_gets_each_email_exactly_once(
    store: SqlStore, smtp: SmtpServer
) -> None:
    clock = Clock()
    outbox = outbox_for(store, clock)
    worker = worker_for(store, smtp, clock)
    ids = [
        await outbox.enqueue(f"person{n}@example.com", "staff_invite", INVITE, "en")
        for n in range(3)
    ]
    assert await outbox.depth() == 3

    assert await worker.deliver_due() == 3  # tried: connection refused
    assert await worker.deliver_due() == 0  # not due again before the back-off
    assert await outbox.depth() == 3
    clock.now += 5
    assert await worker.deliver_due() == 3  # second attempt, still down
    assert smtp.received == []

    await smtp.start()
    clock.now += 9  # before the second back-off (10 s) ends: nothing is due yet
    assert await worker.deliver_due() == 0
    clock.now += 1
    assert await worker.deliver_due() == 3
    clock.now += 3600
    assert await worker.deliver_due() == 0
    assert await outbox.depth() == 0

    assert sorted(smtp.message_ids()) == sorted(ids)
    first = smtp.received[0]
    assert first["Subject"] == "Sam invited you to Lamp & Co. on Porchlight"
    assert first["From"] == "Porchlight <team@porchlight.test>"
    text = first.get_body(("plain",))
    html = first.get_body(("html",))
    assert text is not None and html is not None
    assert INVITE["url"] in text.get_content()
    assert "Lamp &amp; Co." in html.get_content()
    assert await store.email_statuses() == {"sent": 3}


async def test_an_email_refused_for_good_is_not_retried_and_the_others_go(
    store: SqlStore, smtp: SmtpServer
) -> None:
    clock = Clock()
    outbox = outbox_for(store, clock)
    worker = worker_for(store, smtp, clock)
    smtp.refuse.add("nobody@example.com")
    await smtp.start()
    await outbox.enqueue("nobody@example.com", "staff_invite", INVITE)
    kept = await outbox.enqueue("ana@example.com", "staff_invite", INVITE)
    assert await worker.deliver_due() == 2
    clock.now += 3600
    assert await worker.deliver_due() == 0
    assert smtp.message_ids() == [kept]
    assert await store.email_statuses() == {"failed": 1, "sent": 1}


async def test_after_the_last_attempt_an_email_is_given_up_on(
    store: SqlStore, smtp: SmtpServer
) -> None:
    clock = Clock()
    outbox = outbox_for(store, clock)
    worker = worker_for(store, smtp, clock)  # 4 attempts
    await outbox.enqueue("ana@example.com", "staff_invite", INVITE)
    for _ in range(4):
        assert await worker.deliver_due() == 1
        clock.now += 60
    assert await worker.deliver_due() == 0
    assert await store.email_statuses() == {"failed": 1}
    assert await outbox.depth() == 0


async def test_a_sender_that_died_mid_send_leaves_its_email_to_the_next_after_the_lease(
    store: SqlStore, smtp: SmtpServer
) -> None:
    clock = Clock()
    outbox = outbox_for(store, clock)
    worker = worker_for(store, smtp, clock)
    message_id = await outbox.enqueue("ana@example.com", "staff_invite", INVITE)
    # A node claims it and dies before sending: nobody else takes it while its lease runs.
    dead = await store.claim_emails(clock.now, lease=120.0)
    assert len(dead) == 1
    await smtp.start()
    assert await worker.deliver_due() == 0
    clock.now += 121
    assert await worker.deliver_due() == 1
    # The dead node's late report does not undo the real sender's.
    await store.email_failed(dead[0], "late", clock.now + 5)
    assert smtp.message_ids() == [message_id]
    assert await store.email_statuses() == {"sent": 1}


async def test_two_senders_at_once_send_every_email_exactly_once(
    store: SqlStore, smtp: SmtpServer
) -> None:
    clock = Clock()
    outbox = outbox_for(store, clock)
    ids = [
        await outbox.enqueue(f"p{n}@example.com", "password_reset", {**INVITE, "email": "x@y.z"})
        for n in range(40)
    ]
    await smtp.start()
    workers = [worker_for(store, smtp, clock) for _ in range(2)]

    async def drain(worker: MailWorker) -> None:
        while await worker.deliver_due():
            pass

    await asyncio.gather(*(drain(w) for w in workers))
    assert sorted(smtp.message_ids()) == sorted(ids)
    assert await outbox.depth() == 0


# aiosmtpd warns that AUTH over implicit TLS does not "require TLS": its check knows STARTTLS.
@pytest.mark.filterwarnings("ignore:Requiring AUTH:UserWarning")
@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_mail_goes_over_tls_with_authentication_and_a_wrong_password_only_waits(
    store: SqlStore, tmp_path: Path, security: str
) -> None:
    context, ca_file = self_signed(tmp_path)
    smtp = SmtpServer(tls=context, security=security, credentials=("porchlight", "s3cret"))
    await smtp.start()
    clock = Clock()
    outbox = outbox_for(store, clock)
    try:

        def worker(password: str) -> MailWorker:
            settings = Settings.model_validate(
                {
                    "smtp_host": "127.0.0.1",
                    "smtp_port": smtp.port,
                    "smtp_security": security,
                    "smtp_username": "porchlight",
                    "smtp_password": password,
                    "smtp_ca_file": str(ca_file),
                    "smtp_timeout": 5,
                }
            )
            return MailWorker(store, SmtpTransport(settings), "team@porchlight.test", now=clock)

        message_id = await outbox.enqueue("ana@example.com", "staff_invite", INVITE)
        assert await worker("wrong").deliver_due() == 1
        assert smtp.received == [] and await outbox.depth() == 1
        clock.now += 5
        assert await worker("s3cret").deliver_due() == 1
        assert smtp.message_ids() == [message_id]
        assert await outbox.depth() == 0
    finally:
        await smtp.stop()


async def test_a_certificate_the_sender_does_not_trust_is_refused(
    store: SqlStore, tmp_path: Path
) -> None:
    context, _ = self_signed(tmp_path)
    smtp = SmtpServer(tls=context, security="tls")
    await smtp.start()
    clock = Clock()
    try:
        await outbox_for(store, clock).enqueue("ana@example.com", "staff_invite", INVITE)
        settings = Settings(smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_security="tls")
        sender = MailWorker(store, SmtpTransport(settings), "team@porchlight.test", now=clock)
        assert await sender.deliver_due() == 1
        assert smtp.received == []
        assert await store.email_statuses() == {"pending": 1}
    finally:
        await smtp.stop()
