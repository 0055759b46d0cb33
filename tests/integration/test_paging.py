"""Cursor pagination on both databases: pages that neither repeat nor skip a row, even when
rows are added between two requests, and coded refusals for a bad cursor or limit."""

from __future__ import annotations

import aiohttp

from server.paging import decode, encode
from tests.support import Server, login


async def test_staff_pages_walk_every_member_once(server: Server) -> None:
    admin = await server.add_staff("Ada", role="admin")
    for n in range(4):
        await server.add_staff(f"Member{n}")
    cookie, _ = await login(server, admin.email)
    seen: list[str] = []
    pages = 0
    cursor: str | None = None
    async with aiohttp.ClientSession(cookies={"porchlight_session": cookie}) as http:
        while True:
            query = {"limit": "2", **({"cursor": cursor} if cursor else {})}
            async with http.get(f"{server.url}/api/v1/staff", params=query) as response:
                assert response.status == 200
                body = await response.json()
            assert len(body["staff"]) <= 2
            seen += [member["name"] for member in body["staff"]]
            pages += 1
            if pages == 1:  # a member added meanwhile lands on a later page, nothing shifts
                await server.add_staff("Late")
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert seen == ["Ada", "Member0", "Member1", "Member2", "Member3", "Late"]
        assert pages == 3

        for query, field in [
            ({"cursor": "not-a-cursor"}, "cursor"),
            ({"cursor": encode(1)[:-1] + "!"}, "cursor"),
            ({"limit": "0"}, "limit"),
            ({"limit": "201"}, "limit"),
            ({"limit": "many"}, "limit"),
        ]:
            async with http.get(f"{server.url}/api/v1/staff", params=query) as response:
                assert response.status == 400, query
                error = (await response.json())["error"]
                assert error["code"] == "payload.invalid"
                assert error["message"].startswith(field), error


def test_a_cursor_is_opaque_and_round_trips() -> None:
    assert decode(encode(12345)) == 12345
    assert "12345" not in encode(12345)
