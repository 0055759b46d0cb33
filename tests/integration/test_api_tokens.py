"""API tokens over real HTTP on both databases: shown once and kept only as a hash, scoped,
revocable, their last use recorded and announced; never confused with a visitor token."""

from __future__ import annotations

from typing import Any

import aiohttp
import sqlalchemy as sa

from server.api_tokens import TOKEN_LISTENERS, TokenEvent
from server.keys import STORE
from server.tables import api_tokens, staff
from signaling.ports import NewConversation
from tests.support import Server, customer, login


async def call(
    server: Server, method: str, path: str, headers: dict[str, str], body: Any = None
) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http:
        async with http.request(method, server.url + path, json=body, headers=headers) as r:
            return r.status, (await r.json() if r.content_type == "application/json" else None)


async def admin_session(server: Server) -> dict[str, str]:
    admin = await server.add_staff("Ada", role="admin")
    cookie, csrf = await login(server, admin.email)
    return {"Cookie": f"porchlight_session={cookie}", "X-CSRF-Token": csrf}


async def make_token(server: Server, session: dict[str, str], scope: str) -> tuple[int, str]:
    status, body = await call(
        server, "POST", "/api/v1/tokens", session, {"name": f"{scope} sync", "scope": scope}
    )
    assert status == 201, body
    assert body["secret"].startswith("pl_") and body["token"]["scope"] == scope
    assert body["secret"].startswith(body["token"]["prefix"])
    return body["token"]["id"], body["secret"]


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def test_scopes_reach_what_they_say_and_nothing_more(server: Server) -> None:
    session = await admin_session(server)
    heard: list[TokenEvent] = []

    async def listener(event: TokenEvent) -> None:
        heard.append(event)

    async def broken(event: TokenEvent) -> None:
        raise RuntimeError("an audit log that is down")

    # a listener that fails is logged; the request and the next listener go on
    server.app[TOKEN_LISTENERS].extend([broken, listener])
    read_id, read = await make_token(server, session, "read")
    _, admin = await make_token(server, session, "admin")
    store = server.app[STORE]
    site = await store.get_site("shop-site")
    assert site is not None
    conversation = await store.create_conversation(NewConversation(site, "v" * 16), 1.0)
    transcript = f"/api/v1/conversations/{conversation.id}/messages"
    new_site = {"name": "Blog", "allowed_origins": ["https://blog.test"]}

    # read: what a supervisor may read, and only read
    assert (await call(server, "GET", transcript, bearer(read)))[0] == 200
    for method, path, body in [
        ("GET", "/api/v1/sites", None),  # admins only
        ("POST", "/api/v1/sites", new_site),  # a write
        ("GET", "/api/v1/me", None),  # a browser's session only
        ("GET", "/api/v1/tokens", None),  # tokens never manage tokens
    ]:
        status, refused = await call(server, method, path, bearer(read), body)
        assert (status, refused["error"]["code"]) == (403, "auth.forbidden"), path

    # admin: writes without a CSRF token, even with no Origin; still not sign-in or tokens
    status, created = await call(server, "POST", "/api/v1/sites", bearer(admin), new_site)
    assert status == 201, created
    assert (await call(server, "GET", "/api/v1/sites", bearer(admin)))[0] == 200
    for method, path in [("POST", "/api/v1/tokens"), ("POST", "/api/v1/auth/logout")]:
        status, refused = await call(server, method, path, bearer(admin), {})
        assert (status, refused["error"]["code"]) == (403, "auth.forbidden"), path

    # a browser's session still needs its CSRF token
    no_csrf = {"Cookie": session["Cookie"]}
    status, refused = await call(server, "POST", "/api/v1/sites", no_csrf, new_site)
    assert refused["error"]["code"] == "auth.csrf"

    # uses are recorded and announced, with who, what and how it ended
    status, listed = await call(server, "GET", "/api/v1/tokens", session)
    by_id = {t["id"]: t for t in listed["tokens"]}
    assert by_id[read_id]["last_used_at"] is not None
    assert "secret" not in by_id[read_id] and read not in str(listed)
    uses = [(e.token.id, e.method, e.path, e.status) for e in heard if e.kind == "used"]
    assert (read_id, "GET", transcript, 200) in uses
    assert (read_id, "GET", "/api/v1/sites", 403) in uses
    assert [e.kind for e in heard][:2] == ["created", "created"]


async def test_revoked_unknown_and_orphaned_tokens_are_refused(server: Server) -> None:
    session = await admin_session(server)
    token_id, secret = await make_token(server, session, "admin")
    assert (await call(server, "GET", "/api/v1/staff", bearer(secret)))[0] == 200

    status, revoked = await call(server, "DELETE", f"/api/v1/tokens/{token_id}", session)
    assert status == 200 and revoked["token"]["revoked_at"] is not None
    again = await call(server, "DELETE", f"/api/v1/tokens/{token_id}", session)
    assert again == (200, revoked)  # revoking twice changes nothing
    for headers in (bearer(secret), bearer("pl_" + "x" * 43)):
        status, refused = await call(server, "GET", "/api/v1/staff", headers)
        assert (status, refused["error"]["code"]) == (401, "auth.invalid")
    status, missing = await call(server, "DELETE", "/api/v1/tokens/999999", session)
    assert (status, missing["error"]["code"]) == (404, "api_token.not_found")

    # a token stops when its creator is no longer an active admin
    _, other = await make_token(server, session, "read")
    store = server.app[STORE]
    demote = sa.update(staff).where(staff.c.email == "ada@staff.test").values(role="agent")
    await store._run(lambda conn: (conn.execute(demote), conn.commit()))
    status, refused = await call(server, "GET", "/api/v1/staff", bearer(other))
    assert (status, refused["error"]["code"]) == (401, "auth.invalid")

    # only the hash is stored
    rows = await store._run(lambda conn: conn.execute(sa.select(api_tokens)).all())
    assert rows and all(secret not in str(tuple(row)) for row in rows)


async def test_a_visitor_token_is_never_an_api_token_nor_the_reverse(server: Server) -> None:
    session = await admin_session(server)
    _, secret = await make_token(server, session, "admin")
    visitor = customer(server)
    await visitor.connect()
    try:
        token = (await visitor.wait_for("session"))["token"]
    finally:
        await visitor.close()
    as_visitor = {"Authorization": f"Bearer {token}", "X-Porchlight-Site": "shop-site"}
    status, refused = await call(server, "GET", "/api/v1/staff", as_visitor)
    assert (status, refused["error"]["code"]) == (401, "auth.required")
    # the frame's own routes take the visitor token, and refuse an API token
    assert (await call(server, "GET", "/api/v1/precheck/ice?policy=all", as_visitor))[0] == 200
    with_token = {**bearer(secret), "X-Porchlight-Site": "shop-site"}
    status, refused = await call(server, "GET", "/api/v1/precheck/ice?policy=all", with_token)
    assert (status, refused["error"]["code"]) == (403, "auth.forbidden")
