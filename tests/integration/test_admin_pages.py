"""The console's pages beside the desk: only a signed-in staff member whose role may open a
page gets it; everyone else is sent to sign in, or refused."""

import aiohttp

from server.admin_nav import PAGES
from server.auth import SESSION_COOKIE
from tests.support import Server, login


async def test_a_page_opens_only_for_the_roles_it_lists(server: Server) -> None:
    admin = await server.add_staff("Root", role="admin")
    agent = await server.add_staff("Ana")
    async with aiohttp.ClientSession() as http:
        signed_out = await http.get(f"{server.url}/console/sites", allow_redirects=False)
        assert signed_out.status == 302
        assert signed_out.headers["Location"] == "/console"
        assert (await http.get(f"{server.url}/console/nowhere")).status == 404

    for member, allowed in [(admin, True), (agent, False)]:
        cookie, _ = await login(server, member.email)
        async with aiohttp.ClientSession(cookies={SESSION_COOKIE: cookie}) as http:
            for page in PAGES:
                response = await http.get(f"{server.url}/console/{page.slug}")
                expected = 200 if member.role in page.roles else 403
                if not page.offered(server.app):  # the mail catcher's page, without it
                    expected = 404
                assert response.status == expected, (member.role, page.slug)
                if expected == 200:
                    html = await response.text()
                    assert f"admin-{page.slug}-" in html
                    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
            sites = await http.get(f"{server.url}/console/sites")
            assert (sites.status == 200) is allowed
