"""Which console pages exist beside the desk, and which roles may open each: the nav shows a
staff member only the pages their role may open."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AdminPage:
    slug: str
    title: str
    roles: frozenset[str]


ADMINS = frozenset({"admin"})
OVERSEERS = frozenset({"admin", "supervisor"})
ROLES = ("admin", "supervisor", "agent")
EVERYONE = frozenset(ROLES)

# In nav order. Adding a page: an entry here and widget/src/admin/pages/<slug>.ts.
PAGES: list[AdminPage] = [
    AdminPage("sites", "Sites", ADMINS),
]


def page_for(slug: str) -> AdminPage | None:
    return next((p for p in PAGES if p.slug == slug), None)


def first_page(role: str) -> AdminPage | None:
    """Where the desk's "Settings" link leads this role, or None to show no link."""
    return next((p for p in PAGES if role in p.roles), None)
