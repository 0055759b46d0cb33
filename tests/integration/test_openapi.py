"""The OpenAPI document: valid OpenAPI 3.1, every route of the app in it, and every
documented operation answering with a body its schema accepts (called for real, on SQLite)."""

from __future__ import annotations

import base64
import copy
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema
import pytest
from aiortc import AudioStreamTrack, RTCPeerConnection
from openapi_spec_validator import validate

from server.auth import SESSION_COOKIE
from server.keys import AUTH, STORE, WEBHOOKS
from signaling.domain_events import DomainEvent, EventKind
from signaling.errors import ErrorCode
from signaling.ports import Changes, NewConversation, NewMessage
from tests.images import png
from tests.support import Server, free_port, login, settings_for

# Routes that are not part of the REST API: pages, files and the socket transport. The
# health endpoints belong to operators' probes, not to API clients.
NOT_API = {
    "/",
    "/console",
    "/console/{slug}",
    "/w/frame",
    "/widget.js",
    "/static",
    "/socket.io/",
    "/healthz",
    "/readyz",
    "/metrics",
    "/api/v1/analytics.csv",
    "/api/docs",
    "/api/docs/style.css",
    "/account/password",
    "/account/forgot",
    "/staff-photos/{id}",
    # A caught email's HTML, as a mail client shows it (a page, not JSON).
    "/api/v1/caught-mail/{number}/html",
}


@pytest.fixture
async def server(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Server]:
    marker = request.node.get_closest_marker("settings")
    extra = dict(marker.kwargs) if marker else {}
    if extra.get("smtp_port") == 0:  # a free port, chosen now
        extra["smtp_port"] = free_port()
    running = Server(settings_for(f"sqlite+aiosqlite:///{tmp_path / 'api.db'}", **extra))
    await running.start()
    await running.add_site()
    yield running
    await running.stop()


async def fetch_document(server: Server) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{server.url}/api/v1/openapi.json") as response:
            assert response.status == 200
            document: dict[str, Any] = await response.json()
            return document


def operations(document: dict[str, Any]) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """operationId → (METHOD, path, operation)."""
    return {
        op["operationId"]: (method.upper(), path, op)
        for path, item in document["paths"].items()
        for method, op in item.items()
    }


async def test_the_document_is_valid_openapi_3_1(server: Server) -> None:
    document = await fetch_document(server)
    assert document["openapi"].startswith("3.1")
    validate(document)
    ids = [op["operationId"] for _, _, op in operations(document).values()]
    assert len(ids) == len(set(ids))


async def test_every_route_of_the_app_is_documented(server: Server) -> None:
    document = await fetch_document(server)
    documented = {(method, path) for method, path, _ in operations(document).values()}
    missing = []
    for route in server.app.router.routes():
        canonical = route.resource.canonical if route.resource else ""
        if route.method == "HEAD" or canonical in NOT_API:
            continue
        path = canonical  # aiohttp's canonical form drops {name:regex} to {name}
        if (route.method, path) not in documented:
            missing.append(f"{route.method} {canonical}")
    assert not missing, f"routes missing from the OpenAPI document: {missing}"
    # and everything under /api is really there
    assert all(p.startswith("/api/v1/") for _, p in documented)


def strict(node: Any) -> Any:
    """Object schemas refuse fields they do not name: a body may not carry undocumented
    fields (the document itself, whose extensions are open, excepted)."""
    if isinstance(node, dict):
        if node.get("properties") and "additionalProperties" not in node:
            if node.get("title") != "OpenApiDocument":
                node["additionalProperties"] = False
        for value in node.values():
            strict(value)
    elif isinstance(node, list):
        for value in node:
            strict(value)
    return node


def check(document: dict[str, Any], op: dict[str, Any], status: int, body: Any) -> None:
    """``body`` is what ``op`` documents for ``status``."""
    responses = op["responses"]
    assert str(status) in responses, f"{op['operationId']}: {status} is not documented"
    content = responses[str(status)].get("content")
    if content is None:
        assert body is None, f"{op['operationId']}: {status} should have no body"
        return
    components = strict(copy.deepcopy(document["components"]))
    schema = {**content["application/json"]["schema"], "components": components}
    jsonschema.Draft202012Validator(schema).validate(body)
    if "error" in body and status >= 400:
        code = body["error"]["code"]
        assert f"`{code}`" in responses[str(status)]["description"], (op["operationId"], code)


Call = Callable[[aiohttp.ClientSession], Awaitable[tuple[int, Any]]]


# A webhook receiver on loopback is allowed here, as a site's private network would be; the
# development mail catcher runs, so that the caught-mail operation answers too.
@pytest.mark.settings(
    webhook_allowed_networks=("127.0.0.2/32",),
    mail_catcher=True,
    smtp_host="127.0.0.1",
    smtp_port=0,
    smtp_security="none",
)
async def test_every_documented_operation_answers_as_documented(server: Server) -> None:
    document = await fetch_document(server)
    ops = operations(document)
    admin = await server.add_staff("Ada", role="admin")
    store = server.app[STORE]
    site = await store.get_site("shop-site")
    assert site is not None
    conversation = await store.create_conversation(NewConversation(site, "v" * 16), 1.0)
    # Another visitor's ended conversation, to erase.
    gone = await store.create_conversation(NewConversation(site, "w" * 16), 1.0)
    await store.update_conversation(
        gone.id, Changes(status="ended", ended_at=2.0, ended_by="customer")
    )
    await store.append_message(NewMessage(conversation.id, "customer", "text", "hello"), 2.0)
    cookie, csrf = await login(server, admin.email)
    write = {"X-CSRF-Token": csrf}
    state: dict[str, Any] = {}
    pc = RTCPeerConnection()
    pc.addTrack(AudioStreamTrack())
    await pc.setLocalDescription(await pc.createOffer())

    async def send(
        http: aiohttp.ClientSession, op_id: str, json: Any = None, **values: str
    ) -> tuple[int, Any]:
        method, path, _ = ops[op_id]
        query = {k: v for k, v in values.items() if "{" + k + "}" not in path}
        for name, value in values.items():
            path = path.replace("{" + name + "}", value)
        headers = write if method != "GET" else {}
        async with http.request(
            method, server.url + path, json=json, params=query, headers=headers
        ) as response:
            if response.status == 204:
                return 204, None
            return response.status, await response.json()

    async def start_check(http: aiohttp.ClientSession) -> tuple[int, Any]:
        status, body = await send(
            http, "start_precheck", {"sdp": pc.localDescription.sdp, "policy": "all"}
        )
        state["check_id"] = body.get("check_id")
        return status, body

    async def make_site(http: aiohttp.ClientSession) -> tuple[int, Any]:
        new = {"name": "Blog", "allowed_origins": ["https://blog.test"]}
        status, body = await send(http, "create_site", new)
        state["site_key"] = body["site"]["key"]
        return status, body

    async def make_hook(http: aiohttp.ClientSession) -> tuple[int, Any]:
        new = {"url": "http://127.0.0.2:9/hook", "kinds": ["conversation.ended"]}
        status, body = await send(http, "create_endpoint", new, key="shop-site")
        assert status == 201, body
        state["hook"] = str(body["id"])
        return status, body

    async def hook_log(http: aiohttp.ClientSession) -> tuple[int, Any]:
        # A real delivery to resend: the conversation's end, relayed from the event log.
        await store.append_event(
            DomainEvent(EventKind.CONVERSATION_ENDED, time.time(), "staff", conversation.id)
        )
        await server.app[WEBHOOKS].store.relay(time.time(), 0.0)
        status, body = await send(http, "list_deliveries", id=state["hook"])
        state["delivery"] = str(body["deliveries"][0]["id"])
        return status, body

    async def make_token(http: aiohttp.ClientSession) -> tuple[int, Any]:
        status, body = await send(http, "create_token", {"name": "CRM", "scope": "read"})
        state["token_id"] = str(body["token"]["id"])
        return status, body

    async def leave_message(http: aiohttp.ClientSession) -> tuple[int, Any]:
        # The customer frame, by visitor token (a visitor with no conversation yet).
        _, path, _ = ops["leave_message"]
        token = server.app[AUTH].tokens.mint("shop-site", "o" * 16)
        note = {"email": "ana@example.com", "message": "Call me back", "client_msg_id": "m" * 8}
        async with aiohttp.ClientSession() as visitor:
            async with visitor.post(
                server.url + path.replace("{key}", "shop-site"),
                json=note,
                headers={"Authorization": f"Bearer {token}"},
            ) as response:
                return response.status, await response.json()

    week = {"mon": [["09:00", "17:00"]]}
    hours = {"hours": {"timezone": "Europe/London", "week": week}, "queue_timeout_s": 120}

    async def invite(http: aiohttp.ClientSession) -> tuple[int, Any]:
        status, body = await send(http, "invite", {"email": "cy@staff.test", "name": "Cy"})
        state["invited"] = str(body["staff"]["id"])
        return status, body

    photo = "data:image/png;base64," + base64.b64encode(png()).decode()
    same = {"current_password": "correct horse battery", "new_password": "correct horse battery"}

    # A browser of its own for signing in again after "sign out everywhere".
    fresh = aiohttp.ClientSession(
        cookie_jar=aiohttp.CookieJar(unsafe=True), headers={"Origin": server.url}
    )

    async def sign_in_again(http: aiohttp.ClientSession) -> tuple[int, Any]:
        status, body = await send(
            fresh, "login", {"email": admin.email, "password": "correct horse battery"}
        )
        write["X-CSRF-Token"] = body["csrf_token"]
        return status, body

    calls: list[tuple[str, Call]] = [
        ("openapi_json", lambda http: send(http, "openapi_json")),
        ("availability", lambda http: send(http, "availability", key="shop-site")),
        ("me", lambda http: send(http, "me")),
        ("list_sites", lambda http: send(http, "list_sites", limit="1")),
        ("create_site", make_site),
        ("get_site", lambda http: send(http, "get_site", key="shop-site")),
        (
            "change_site",
            lambda http: send(http, "change_site", {"brand_color": "#ffd400"}, key="shop-site"),
        ),
        ("delete_site", lambda http: send(http, "delete_site", key=state["site_key"])),
        ("get_shift", lambda http: send(http, "get_shift", key="shop-site")),
        ("put_hours", lambda http: send(http, "put_hours", hours, key="shop-site")),
        ("get_hours", lambda http: send(http, "get_hours", key="shop-site")),
        ("leave_message", leave_message),
        ("offline_messages", lambda http: send(http, "offline_messages")),
        ("audit_log", lambda http: send(http, "audit_log", action="auth.")),
        ("audit_actions", lambda http: send(http, "audit_actions")),
        ("analytics", lambda http: send(http, "analytics", tz="Europe/Paris", group="week")),
        (
            "export",
            lambda http: send(http, "export", {"site": "shop-site", "visitor_id": "v" * 16}),
        ),
        ("erase", lambda http: send(http, "erase", {"conversation_id": gone.id})),
        ("set_retention", lambda http: send(http, "set_retention", {"days": 30}, key="shop-site")),
        ("purge", lambda http: send(http, "purge")),
        ("list_kinds", lambda http: send(http, "list_kinds")),
        ("create_endpoint", make_hook),
        ("list_endpoints", lambda http: send(http, "list_endpoints", key="shop-site")),
        ("get_endpoint", lambda http: send(http, "get_endpoint", id=state["hook"])),
        (
            "update_endpoint",
            lambda http: send(http, "update_endpoint", {"description": "CRM"}, id=state["hook"]),
        ),
        ("rotate_secret", lambda http: send(http, "rotate_secret", id=state["hook"])),
        ("list_deliveries", hook_log),
        (
            "resend",
            lambda http: send(http, "resend", id=state["hook"], delivery=state["delivery"]),
        ),
        ("delete_endpoint", lambda http: send(http, "delete_endpoint", id=state["hook"])),
        (
            "put_shift",
            lambda http: send(http, "put_shift", {"outcome_tags": ["sold"]}, key="shop-site"),
        ),
        ("list_staff", lambda http: send(http, "list_staff")),
        (
            "create_staff",
            lambda http: send(
                http,
                "create_staff",
                {"email": "bo@staff.test", "name": "Bo", "password": "p" * 12},
            ),
        ),
        ("invite", invite),
        ("get_staff", lambda http: send(http, "get_staff", id=state["invited"])),
        (
            "edit_staff",
            lambda http: send(http, "edit_staff", {"max_chats": 4}, id=state["invited"]),
        ),
        ("password_link", lambda http: send(http, "password_link", id=state["invited"])),
        ("my_profile", lambda http: send(http, "my_profile")),
        ("edit_my_profile", lambda http: send(http, "edit_my_profile", {"name": "Ada L"})),
        ("change_my_password", lambda http: send(http, "change_my_password", same)),
        ("upload_photo", lambda http: send(http, "upload_photo", {"data": photo})),
        ("remove_photo", lambda http: send(http, "remove_photo")),
        ("caught_mail", lambda http: send(http, "caught_mail")),
        ("transcript", lambda http: send(http, "transcript", id=conversation.id)),
        ("precheck_ice", lambda http: send(http, "precheck_ice", policy="all")),
        ("start_precheck", start_check),
        ("precheck_result", lambda http: send(http, "precheck_result", check_id=state["check_id"])),
        ("end_precheck", lambda http: send(http, "end_precheck", check_id=state["check_id"])),
        ("create_token", make_token),
        ("list_tokens", lambda http: send(http, "list_tokens")),
        ("revoke_token", lambda http: send(http, "revoke_token", token_id=state["token_id"])),
        ("logout_everywhere", lambda http: send(http, "logout_everywhere")),
        ("login", sign_in_again),
        ("logout", lambda http: send(fresh, "logout")),
    ]
    assert sorted(name for name, _ in calls) == sorted(ops), "call every operation"
    try:
        async with aiohttp.ClientSession(cookies={SESSION_COOKIE: cookie}) as http:
            for name, call in calls:
                status, body = await call(http)
                assert status < 300, (name, status, body)
                check(document, ops[name][2], status, body)
    finally:
        await pc.close()
        await fresh.close()


async def test_refusals_answer_as_documented(server: Server) -> None:
    """The codes an operation refuses with are the ones its document lists."""
    document = await fetch_document(server)
    ops = operations(document)
    async with aiohttp.ClientSession() as http:
        for op_id, path in [("list_sites", "/api/v1/sites"), ("me", "/api/v1/me")]:
            async with http.get(server.url + path) as response:
                assert response.status == 401, op_id
                check(document, ops[op_id][2], response.status, await response.json())
        async with http.get(server.url + "/api/v1/sites/nope/availability") as response:
            assert response.status == 404
            check(document, ops["availability"][2], response.status, await response.json())
        async with http.get(server.url + "/api/v1/sites?limit=1000") as response:
            assert response.status == 401  # who you are is checked before what you asked


async def test_the_docs_page_lists_every_operation_without_scripts(server: Server) -> None:
    document = await fetch_document(server)
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{server.url}/api/docs") as response:
            assert response.status == 200
            page = await response.text()
            policy = response.headers["Content-Security-Policy"]
        async with http.get(f"{server.url}/api/docs/style.css") as response:
            assert response.status == 200 and response.content_type == "text/css"
    assert "default-src 'none'" in policy and "script-src" not in policy
    assert "<script" not in page and "http://" not in page.replace(server.url, "")
    for op_id, (_, path, _) in operations(document).items():
        assert f'id="{op_id}"' in page and path in page
    for name in document["components"]["schemas"]:
        assert f'id="schema-{name}"' in page
    for code in ErrorCode:
        assert f"<td><code>{code.value}</code></td>" in page
