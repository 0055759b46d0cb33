"""JSON logs: every line of a real conversation's log (sign-ins, a failed one, messages, the
access log) is one JSON object, and no email, name, message text, token or address is in
it."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import aiohttp
import pytest

from server.logs import configure
from tests.support import Peer, Server, customer, login, staff_peer

NAME = "Zebulon Quartz"
SECRET_TEXT = "my order 88817 is a blue lamp"
STRANGER = "someone.else@example.org"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    configure("DEBUG", "json", "t" * 40, stream)
    yield stream
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved[0]:
        root.addHandler(handler)
    root.setLevel(saved[1])


@pytest.mark.settings(log_format="json", log_level="DEBUG")
async def test_json_logs_keep_personal_data_out(
    server: Server, clients: list[Peer], captured: io.StringIO
) -> None:
    member = await server.add_staff("Zebulon")
    async with aiohttp.ClientSession() as http:
        refused = await http.post(
            f"{server.url}/api/v1/auth/login",
            json={"email": STRANGER, "password": "wrong password"},
            headers={"Origin": server.url, "X-Forwarded-For": "203.0.113.9"},
        )
        assert refused.status == 401
    cookie, csrf = await login(server, member.email)
    staff = await staff_peer(server, member)
    clients.append(staff)
    visitor = customer(server)
    clients.append(visitor)
    await visitor.connect()
    token = visitor.auth["token"] if visitor.auth else ""
    cid = (await visitor.ok("conversation.start", {"name": NAME}))["conversation"]["id"]
    await staff.wait_for("ring")
    await staff.ok("ring.accept", {"conversation_id": cid})
    await visitor.ok(
        "message.send", {"conversation_id": cid, "client_msg_id": "log-0001", "body": SECRET_TEXT}
    )
    await staff.wait_for("message.new", lambda d: d["message"]["body"] == SECRET_TEXT)
    await staff.ok("conversation.end", {"conversation_id": cid})

    lines = [line for line in captured.getvalue().splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]
    messages = [entry["message"] for entry in entries]
    assert any("accepted conversation" in m for m in messages), messages
    assert any(
        e["logger"] == "aiohttp.access" and e["path"] == "/api/v1/auth/login" for e in entries
    )
    text = captured.getvalue()
    for personal in (
        member.email,
        STRANGER,
        NAME,
        "Zebulon",
        SECRET_TEXT,
        "88817",
        cookie,
        csrf,
        token,
        "203.0.113.9",
        "127.0.0.1",
    ):
        assert personal and personal not in text, personal
