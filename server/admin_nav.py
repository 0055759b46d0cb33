"""Which console pages exist beside the desk, and which roles may open each: the nav shows a
staff member only the pages their role may open."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


def _catching(app: Any) -> bool:
    from server.keys import CATCHER  # the keys import the app's parts; the nav is imported first

    return CATCHER in app


@dataclass(frozen=True, slots=True)
class AdminPage:
    """``shown``: whether this app has the page at all (None: always)."""

    slug: str
    title: str
    roles: frozenset[str]
    shown: Callable[[Any], bool] | None = None

    def offered(self, app: Any) -> bool:
        return self.shown is None or self.shown(app)


ADMINS = frozenset({"admin"})
OVERSEERS = frozenset({"admin", "supervisor"})
ROLES = ("admin", "supervisor", "agent")
EVERYONE = frozenset(ROLES)

# In nav order. Adding a page: an entry here and widget/src/admin/pages/<slug>.ts.
PAGES: list[AdminPage] = [
    AdminPage("sites", "Sites", ADMINS),
    AdminPage("staff", "Staff", ADMINS),
    AdminPage("hours", "Hours", ADMINS),
    AdminPage("messages", "Messages", EVERYONE),
    AdminPage("analytics", "Analytics", OVERSEERS),
    AdminPage("webhooks", "Webhooks", ADMINS),
    AdminPage("privacy", "Personal data", ADMINS),
    AdminPage("audit", "Audit log", ADMINS),
    # Only while the development mail catcher runs (make demo).
    AdminPage("mail", "Caught email", ADMINS, shown=_catching),
    AdminPage("profile", "Profile", EVERYONE),
]


def page_for(slug: str) -> AdminPage | None:
    return next((p for p in PAGES if p.slug == slug), None)


def first_page(role: str) -> AdminPage | None:
    """Where the desk's "Settings" link leads this role, or None to show no link."""
    return next((p for p in PAGES if role in p.roles), None)
